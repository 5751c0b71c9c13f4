import { describeError, FerryError, type Logger } from '@ferry/core';
import type { StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import type { StompBroker } from './broker.js';
import type { InboundSend } from './session-options.js';

/** A SEND the session must answer with an ERROR: why, and the limit it went over if that was it. */
export class SendRefused {
  constructor(
    readonly message: string,
    readonly limit?: FerryError,
  ) {}
}

/** What the intake needs of the server's owner (see SessionHooks). */
export interface SendOwner {
  acceptingSends(): boolean;
  onSend(send: InboundSend): Promise<void> | undefined;
}

/**
 * The SENDs of one session on their way in: each handed to the broker (which queues or fans it
 * out) and to the owner (which routes it), confirmed once both settled. A client that pipelines
 * faster than its messages settle is not read while it holds `maxPending` unsettled SENDs, and
 * read again once half have settled: it waits in TCP, not in Ferry's memory.
 */
export class SendIntake {
  readonly #broker: StompBroker;
  readonly #owner: SendOwner;
  readonly #log: Logger;
  /** SENDs taken and not settled yet */
  #pending = 0;
  /** resolved when #pending comes down to 0 (DISCONNECT waits for it) */
  #idleWaiters: (() => void)[] = [];
  readonly #maxPending: number;
  readonly #readChanged: () => void;
  #paused = false;

  /** `readChanged`: {@link paused} changed, the session pauses or resumes its socket */
  constructor(broker: StompBroker, owner: SendOwner, log: Logger, maxPending: number, readChanged: () => void) {
    this.#broker = broker;
    this.#owner = owner;
    this.#log = log;
    this.#maxPending = maxPending;
    this.#readChanged = readChanged;
  }

  /** SENDs waiting for their settlement */
  get size(): number {
    return this.#pending;
  }

  /** whether the session must stop reading for its pending SENDs */
  get paused(): boolean {
    return this.#paused;
  }

  /** resolves once no SEND is pending (at once when none is) */
  idle(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Hand one SEND to the broker and to the owner: undefined when there is nothing to wait for,
   * the settlement to wait for, or why it was refused.
   */
  take(msg: BrokerMessage, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion): Promise<void> | SendRefused | undefined {
    if (!this.#owner.acceptingSends()) return new SendRefused('shutting down');
    let stored: Promise<void> | undefined;
    try {
      stored = this.#broker.publish(msg).stored;
    } catch (err) {
      if (!FerryError.is(err)) return new SendRefused(describeError(err));
      return new SendRefused(err.message, err.code === 'LIMIT_EXCEEDED' ? err : undefined);
    }
    const { destination, headers, body } = msg;
    let p: Promise<void> | undefined;
    try {
      p = this.#owner.onSend({ destination, headers, body, confirmed, sessionId, login, version });
    } catch (err) {
      p = Promise.reject(err instanceof Error ? err : new Error(describeError(err)));
    }
    // a /queue message kept in the listener store is confirmed once it is on disk as well
    if (stored !== undefined) p = p === undefined ? stored : Promise.all([p, stored]).then(() => undefined);
    if (p === undefined) return undefined;
    const tracked = this.#track(p);
    if (!confirmed) {
      // At-most-once: the client asked for no receipt, so a refusal can only be counted.
      tracked.catch((err: unknown) => this.#log.warn('stomp SEND without receipt was not accepted', { destination, error: describeError(err) }));
    }
    return tracked;
  }

  /**
   * Counts the SEND until it settled: one reaction on the settlement, whose result (or reason)
   * passes through to the caller. Every caller handles a rejection (the session's RECEIPT or
   * ERROR, the warning of a SEND without receipt, COMMIT's Promise.all).
   */
  #track(settled: Promise<void>): Promise<void> {
    this.#pending++;
    if (this.#pending >= this.#maxPending && !this.#paused) {
      this.#paused = true;
      this.#readChanged();
    }
    return settled.then(
      () => this.#settled(),
      (err: unknown) => {
        this.#settled();
        throw err;
      },
    );
  }

  #settled(): void {
    this.#pending--;
    if (this.#paused && this.#pending <= this.#maxPending / 2) {
      this.#paused = false;
      this.#readChanged();
    }
    if (this.#pending === 0 && this.#idleWaiters.length > 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
