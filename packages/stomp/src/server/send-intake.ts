import { describeError, FerryError, type Logger, type Outcome } from '@ferry/core';
import type { StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import type { StompBroker } from './broker.js';
import { PendingSend, type CommitWait, type SendFinish } from './pending-send.js';
import type { SessionHooksOf } from './session-options.js';

/** A SEND the session must answer with an ERROR: why, and the limit it went over if that was it. */
export class SendRefused {
  constructor(
    readonly message: string,
    readonly limit?: FerryError,
  ) {}
}

/** What the intake needs of the server's owner (see SessionHooks). */
export type SendOwner = Pick<SessionHooksOf<unknown>, 'acceptingSends' | 'onSend' | 'onSendSettled'>;

/**
 * How the session answers a SEND outside a transaction once it settled (STOMP 1.2 §RECEIPT,
 * §ERROR): called by the intake when the SEND's last part settled.
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
export class SendIntake implements SendFinish {
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
    return this.#hand(msg, receipt, receipt !== undefined, sessionId, login, version, undefined);
  }

  /**
   * Hand one SEND of a COMMIT to the broker and to the owner: its settlement to wait for, or why
   * it was refused.
   */
  take(msg: BrokerMessage, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion): Promise<void> | SendRefused {
    let commit: CommitWait | undefined;
    const settled = new Promise<void>((resolve, reject) => {
      commit = { resolve, reject };
    });
    const refused = this.#hand(msg, undefined, confirmed, sessionId, login, version, commit);
    if (refused !== undefined) return refused;
    // At-most-once: the client asked for no receipt, so a refusal can only be logged.
    if (!confirmed) settled.catch((err: unknown) => this.#notAccepted(msg.destination, err));
    return settled;
  }

  /**
   * Publish to the broker and hand to the owner: one PendingSend, settled by the owner (its
   * routes) and by the store when it writes the message; counted as pending only when it did not
   * settle at once. The SEND's content goes to the owner in this call only: the PendingSend
   * keeps what its answer needs. Returns why it was refused before anything was handed on.
   */
  #hand(msg: BrokerMessage, receipt: string | undefined, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion, commit: CommitWait | undefined): SendRefused | undefined {
    if (!this.#owner.acceptingSends()) return new SendRefused('shutting down');
    let stored: Promise<void> | undefined;
    try {
      stored = this.#broker.publish(msg).stored;
    } catch (err) {
      if (!FerryError.is(err)) return new SendRefused(describeError(err));
      return new SendRefused(err.message, err.code === 'LIMIT_EXCEEDED' ? err : undefined);
    }
    const send = new PendingSend(this, msg.destination, stored === undefined ? 1 : 2, receipt, commit);
    let waits = true;
    try {
      waits = this.#owner.onSend({ destination: msg.destination, headers: msg.headers, body: msg.body, confirmed, sessionId, login, version }, send);
    } catch (err) {
      send.release(FerryError.is(err) ? err : new FerryError('INTERNAL', describeError(err), { cause: err }));
    }
    // the owner has nothing to wait for: its part is settled
    if (!waits) send.unwatched();
    // a /queue message kept in the listener store is confirmed once it is on disk as well
    if (stored !== undefined) {
      stored.then(
        () => send.partAccepted(),
        (err: unknown) => send.partRefused(err),
      );
    }
    if (!send.done) {
      send.count();
      this.#count();
    }
    return undefined;
  }

  /** SendFinish: the owner settled its part (it counts the outcome) */
  settledByOwner(outcome: Outcome): void {
    this.#owner.onSendSettled?.(outcome);
  }

  /** SendFinish: the SEND settled; its answer first, then the count (DISCONNECT waits for it) */
  finished(send: PendingSend, accepted: boolean, reason: unknown, counted: boolean): void {
    const commit = send.commit;
    if (commit !== undefined) {
      if (accepted) commit.resolve();
      else commit.reject(reason);
    } else if (send.receipt === undefined) {
      if (!accepted) this.#notAccepted(send.destination, reason);
    } else if (accepted) this.#answers.accepted(send.receipt);
    else this.#answers.refused(send.receipt, reason);
    if (counted) this.#settled();
  }

  #notAccepted(destination: string, err: unknown): void {
    this.#log.warn('stomp SEND without receipt was not accepted', { destination, error: describeError(err) });
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
