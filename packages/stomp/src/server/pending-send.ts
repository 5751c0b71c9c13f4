import { Settlement, type Outcome } from '@ferry/core';

/** Where a SEND goes once it settled (send-intake.ts): told once per SEND. */
export interface SendFinish {
  /** the owner settled its part of `send` with `outcome` (the owner counts it) */
  settledByOwner(outcome: Outcome): void;
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

/** #flags: counted as pending (its settlement came after the intake handed it on) */
const COUNTED = 1;
/** #flags: the owner had nothing to wait for; its part settled without an outcome to count */
const UNWATCHED = 2;

/**
 * One SEND on its way in, from the broker's publish to its RECEIPT or ERROR: the Settlement the
 * owner of the server settles (its routes), in one object per SEND that holds only what the
 * answer needs (the receipt, or the COMMIT waiting for it), not the frame: that was handed to the
 * owner once and is not kept. It settles once both parts did, the owner's and, for a /queue
 * message kept in the listener store, the write to disk; the first refusal settles it and what
 * comes after is ignored. Settle-once for the owner's part is Settlement's own.
 */
export class PendingSend extends Settlement {
  /** the SEND's destination, for the log of a refusal nobody is told of */
  readonly destination: string;
  /** the SEND's `receipt` (outside a transaction) */
  readonly receipt: string | undefined;
  /** the COMMIT waiting for it (a SEND of a transaction) */
  readonly commit: CommitWait | undefined;
  readonly #finish: SendFinish;
  /** parts not settled yet: the owner's, and the store's when it writes the message */
  #parts: number;
  #flags = 0;

  constructor(finish: SendFinish, destination: string, parts: number, receipt: string | undefined, commit: CommitWait | undefined) {
    super();
    this.#finish = finish;
    this.destination = destination;
    this.#parts = parts;
    this.receipt = receipt;
    this.commit = commit;
  }

  /** whether every part settled (or one refused) */
  get done(): boolean {
    return this.#parts === 0;
  }

  /** Counted as pending from now on: its settlement comes later. */
  count(): void {
    this.#flags |= COUNTED;
  }

  /** The owner had nothing to wait for: its part is accepted, with no outcome for it to count. */
  unwatched(): void {
    this.#flags |= UNWATCHED;
    this.accept();
  }

  protected override onSettled(outcome: Outcome): void {
    if ((this.#flags & UNWATCHED) === 0) this.#finish.settledByOwner(outcome);
    if (outcome.kind === 'accept') this.partAccepted();
    else this.partRefused(outcome.reason);
  }

  /** one part accepted (the owner's through {@link Settlement.accept}, the store's here) */
  partAccepted(): void {
    if (this.#parts === 0) return;
    if (--this.#parts === 0) this.#finish.finished(this, true, undefined, (this.#flags & COUNTED) !== 0);
  }

  /** one part refused: the SEND is refused */
  partRefused(reason: unknown): void {
    if (this.#parts === 0) return;
    this.#parts = 0;
    this.#finish.finished(this, false, reason, (this.#flags & COUNTED) !== 0);
  }
}
