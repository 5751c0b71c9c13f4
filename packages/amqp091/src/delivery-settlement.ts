import { Settlement, type Outcome } from '@ferry/core';

/** A consumer's settlement of one delivery: its delivery tag and the consumer's function. */
export type SettleDelivery = (deliveryTag: number, outcome: Outcome) => void;

/**
 * The settlement of one delivery of a queue consumer: a Settlement that holds its delivery tag
 * and the consumer's one settling function, so a delivery costs one object here instead of a
 * Settlement, a closure and the closure's context, and amqplib's delivery (its fields and
 * properties objects) is not kept until the ack: basic.ack and basic.nack carry the tag alone
 * (AMQP 0-9-1 §1.8.3.13, RabbitMQ basic.nack). Settle-once is Settlement's own: the consumer is
 * called only by the call that settled.
 */
export class DeliverySettlement extends Settlement {
  readonly #settle: SettleDelivery;
  readonly #tag: number;

  constructor(settle: SettleDelivery, deliveryTag: number) {
    super();
    this.#settle = settle;
    this.#tag = deliveryTag;
  }

  protected override onSettled(outcome: Outcome): void {
    this.#settle(this.#tag, outcome);
  }
}
