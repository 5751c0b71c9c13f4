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
 * How the session answers a SEND outside a transaction once it settled (STOMP 1.2 §RECEIPT,
 * §ERROR): called by the intake from its one reaction on the settlement.
 */
export interface SendAnswers {
  /** the SEND with this `receipt` was accepted: RECEIPT */
  accepted(receipt: string): void;
  /** the SEND with this `receipt` was refused: ERROR */
  refused(receipt: string, err: unknown): void;
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
  readonly #answers: SendAnswers;
  #paused = false;

  /** `readChanged`: {@link paused} changed, the session pauses or resumes its socket */
  constructor(broker: StompBroker, owner: SendOwner, log: Logger, maxPending: number, readChanged: () => void, answers: SendAnswers) {
    this.#broker = broker;
    this.#owner = owner;
    this.#log = log;
    this.#maxPending = maxPending;
    this.#readChanged = readChanged;
    this.#answers = answers;
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
   * A SEND outside a transaction, answered through {@link SendAnswers} once it settled (at once
   * when there is nothing to wait for); with `receipt` undefined it is at-most-once, and a
   * refusal can only be logged. Returns why it was refused before anything was handed on.
   */
  send(msg: BrokerMessage, receipt: string | undefined, sessionId: string, login: string | undefined, version: StompVersion): SendRefused | undefined {
    const p = this.#hand(msg, receipt !== undefined, sessionId, login, version);
    if (p instanceof SendRefused) return p;
    if (p === undefined) {
      if (receipt !== undefined) this.#answers.accepted(receipt);
      return undefined;
    }
    this.#count();
    // one reaction per SEND: the count, then the answer
    p.then(
      () => {
        this.#settled();
        if (receipt !== undefined) this.#answers.accepted(receipt);
      },
      (err: unknown) => {
        this.#settled();
        if (receipt !== undefined) this.#answers.refused(receipt, err);
        else this.#log.warn('stomp SEND without receipt was not accepted', { destination: msg.destination, error: describeError(err) });
      },
    );
    return undefined;
  }

  /**
   * Hand one SEND of a COMMIT to the broker and to the owner: undefined when there is nothing to
   * wait for, the settlement to wait for, or why it was refused.
   */
  take(msg: BrokerMessage, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion): Promise<void> | SendRefused | undefined {
    const p = this.#hand(msg, confirmed, sessionId, login, version);
    if (p === undefined || p instanceof SendRefused) return p;
    const tracked = this.#track(p);
    if (!confirmed) {
      // At-most-once: the client asked for no receipt, so a refusal can only be counted.
      tracked.catch((err: unknown) => this.#log.warn('stomp SEND without receipt was not accepted', { destination: msg.destination, error: describeError(err) }));
    }
    return tracked;
  }

  /** the broker's and the owner's settlement of one SEND together, or why it was refused */
  #hand(msg: BrokerMessage, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion): Promise<void> | SendRefused | undefined {
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
    return p;
  }

  /**
   * Counts the SEND until it settled: one reaction on the settlement, whose result (or reason)
   * passes through to the caller. Every caller handles a rejection (the session's RECEIPT or
   * ERROR, the warning of a SEND without receipt, COMMIT's Promise.all).
   */
  #track(settled: Promise<void>): Promise<void> {
    this.#count();
    return settled.then(
      () => this.#settled(),
      (err: unknown) => {
        this.#settled();
        throw err;
      },
    );
  }

  #count(): void {
    this.#pending++;
    if (this.#pending >= this.#maxPending && !this.#paused) {
      this.#paused = true;
      this.#readChanged();
    }
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
