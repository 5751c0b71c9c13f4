import { FerryError } from './errors.js';

/**
 * What happens to a message at its source once Ferry is done with it.
 *
 * - accept: every destination confirmed; the source acknowledges upstream (MQTT PUBACK,
 *   AMQP 0-9-1 basic.ack, AMQP 1.0 accepted, STOMP ACK or RECEIPT).
 * - reject: the message can never be delivered (a permanent failure); the source refuses it
 *   without redelivery (basic.nack requeue=false, AMQP 1.0 rejected, STOMP NACK / ERROR,
 *   MQTT 5 PUBACK with a failure reason code).
 * - release: delivery failed for now; the source gives the message back for redelivery
 *   (basic.nack requeue=true, AMQP 1.0 released/modified, STOMP NACK, no PUBACK in MQTT 3.1.1).
 */
export type Outcome =
  | { readonly kind: 'accept' }
  | { readonly kind: 'reject'; readonly reason: FerryError }
  | { readonly kind: 'release'; readonly reason: FerryError };

export type SettleCallback = (outcome: Outcome) => void;

/** the one accept outcome: it holds nothing of its message, so every message shares it */
const ACCEPT: Outcome = Object.freeze({ kind: 'accept' });

/**
 * A message's settlement, settled exactly once: the first outcome wins and reaches the
 * source; later calls return false and change nothing. The source adapter owns the callback,
 * or, to hold what the outcome needs in the settlement itself (one object per message instead
 * of a settlement and a closure), extends this class and overrides {@link onSettled}.
 */
export class Settlement {
  #outcome: Outcome | undefined;
  readonly #onSettle: SettleCallback | undefined;

  constructor(onSettle?: SettleCallback) {
    this.#onSettle = onSettle;
  }

  get settled(): boolean {
    return this.#outcome !== undefined;
  }

  get outcome(): Outcome | undefined {
    return this.#outcome;
  }

  /** Settle with `outcome`; true if this call settled the message, false if it already was. */
  settle(outcome: Outcome): boolean {
    if (this.#outcome !== undefined) return false;
    this.#outcome = outcome;
    this.onSettled(outcome);
    return true;
  }

  /** The message was settled with `outcome`, once: the source acts on it here. */
  protected onSettled(outcome: Outcome): void {
    this.#onSettle?.(outcome);
  }

  accept(): boolean {
    return this.settle(ACCEPT);
  }

  reject(reason: FerryError): boolean {
    return this.settle({ kind: 'reject', reason });
  }

  release(reason: FerryError): boolean {
    return this.settle({ kind: 'release', reason });
  }

  /** Settle from a failure: permanent errors reject, transient ones release. */
  fail(err: FerryError): boolean {
    return err.permanent ? this.reject(err) : this.release(err);
  }

  /** A settlement whose outcome nobody waits for (at-most-once sources). */
  static none(): Settlement {
    return new Settlement();
  }
}
