import type { ConsumeMessage } from 'amqplib';
import { Settlement, type Outcome } from '@ferry/core';

/** A consumer's settlement of one delivery: the delivery and the consumer's function. */
export type SettleDelivery = (msg: ConsumeMessage, outcome: Outcome) => void;

function nothing(): void {
  // the outcome goes to the consumer from settle below
}

/**
 * The settlement of one delivery of a queue consumer: a Settlement that holds its delivery and
 * the consumer's one settling function, so a delivery costs one object here instead of a
 * Settlement, a closure and the closure's context. Settle-once is Settlement's own: the
 * consumer is called only by the call that settled.
 */
export class DeliverySettlement extends Settlement {
  readonly #settle: SettleDelivery;
  readonly #msg: ConsumeMessage;

  constructor(settle: SettleDelivery, msg: ConsumeMessage) {
    super(nothing);
    this.#settle = settle;
    this.#msg = msg;
  }

  override settle(outcome: Outcome): boolean {
    if (!super.settle(outcome)) return false;
    this.#settle(this.#msg, outcome);
    return true;
  }
}
