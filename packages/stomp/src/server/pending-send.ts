import type { HeaderEntry, StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import type { InboundSend } from './session-options.js';

/** Where a SEND goes once it settled (send-intake.ts): told once per SEND. */
export interface SendFinish {
  /**
   * `send` settled: accepted, or refused for `reason`; `counted` when it was counted as pending
   * (it did not settle before the intake was done handing it on).
   */
  finished(send: PendingSend, accepted: boolean, reason: unknown, counted: boolean): void;
}

/** What a COMMIT waits for on one of its SENDs. */
export interface CommitWait {
  resolve(): void;
  reject(reason: unknown): void;
}

/**
 * One SEND on its way in: what the owner of the server is handed (InboundSend) and what it
 * settles, in one object per SEND. It settles once both parts did, the owner's (its routes) and,
 * for a /queue message kept in the listener store, the write to disk; the first refusal settles
 * it and what comes after is ignored, as is a second answer from the owner.
 */
export class PendingSend implements InboundSend {
  readonly destination: string;
  readonly headers: readonly HeaderEntry[];
  readonly body: Buffer;
  readonly confirmed: boolean;
  readonly sessionId: string;
  readonly login: string | undefined;
  readonly version: StompVersion;
  /** the SEND's `receipt` (outside a transaction) */
  readonly receipt: string | undefined;
  /** the COMMIT waiting for it (a SEND of a transaction) */
  readonly commit: CommitWait | undefined;
  readonly #finish: SendFinish;
  /** parts not settled yet: the owner's, and the store's when it writes the message */
  #parts: number;
  #counted = false;

  constructor(finish: SendFinish, msg: BrokerMessage, parts: number, receipt: string | undefined, confirmed: boolean, sessionId: string, login: string | undefined, version: StompVersion, commit: CommitWait | undefined) {
    this.#finish = finish;
    this.destination = msg.destination;
    this.headers = msg.headers;
    this.body = msg.body;
    this.#parts = parts;
    this.receipt = receipt;
    this.confirmed = confirmed;
    this.sessionId = sessionId;
    this.login = login;
    this.version = version;
    this.commit = commit;
  }

  /** whether both parts settled (or one refused) */
  get settled(): boolean {
    return this.#parts === 0;
  }

  /** Counted as pending from now on: its settlement comes later. */
  count(): void {
    this.#counted = true;
  }

  /** one part accepted */
  accepted(): void {
    if (this.#parts === 0) return;
    if (--this.#parts === 0) this.#finish.finished(this, true, undefined, this.#counted);
  }

  /** one part refused: the SEND is refused */
  refused(reason: unknown): void {
    if (this.#parts === 0) return;
    this.#parts = 0;
    this.#finish.finished(this, false, reason, this.#counted);
  }
}
