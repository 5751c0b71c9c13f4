import type { ConsumeMessage } from 'amqplib';
import { Settlement, type Outcome } from '@ferry/core';

/** A consumer's settlement of one delivery: the delivery and the consumer's function. */
export type SettleDelivery = (msg: ConsumeMessage, outcome: Outcome) => void;

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
    super();
    this.#settle = settle;
    this.#msg = msg;
  }

  protected override onSettled(outcome: Outcome): void {
    this.#settle(this.#msg, outcome);
  }
}
