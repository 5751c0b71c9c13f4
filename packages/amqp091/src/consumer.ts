import type { Channel, ConsumeMessage, Message } from 'amqplib';
import { FerryError, LastSource, type ConnectorCounters, type DeliveryHandler, type Logger, type Outcome } from '@ferry/core';
import { AckBatch } from './ack-batch.js';
import { DeliverySettlement } from './delivery-settlement.js';
import { fromDelivery, type IngressContext } from './mapping.js';

export interface ConsumerOptions {
  readonly connector: string;
  readonly queue: string;
  /** every route whose source is this queue */
  readonly routes: readonly string[];
  readonly prefetch: number;
  /** the connector's `replyToTopicHeader` */
  readonly replyToTopicHeader: boolean;
  readonly deliver: DeliveryHandler;
  readonly logger: Logger;
  /** the connector's per-message counters */
  readonly counters: ConnectorCounters;
  /** the channel closed or the broker cancelled the consumer without Ferry asking */
  readonly onLost: (reason: string) => void;
}

/**
 * One queue consumer on its own channel, so a failure on one queue (deleted, locked) does not
 * take the others' unacknowledged deliveries with it. Manual acknowledgement (no-ack false)
 * with a per-consumer prefetch window (basic.qos, global false: per consumer since
 * RabbitMQ 3.3): that window is the source's backpressure.
 *
 * Settlement: accept → basic.ack; reject → basic.nack requeue=false (dead-lettered when the
 * queue has a DLX); release → basic.nack requeue=true. Acks wait for the end of the microtasks
 * of the current turn and leave together (AckBatch: one multiple ack for a run of settled tags),
 * nacks leave at once; closing the channel sends the waiting acks first. A delivery tag is only valid on the
 * channel it came from (AMQP 0-9-1 basic.deliver: the delivery tag is scoped to the channel): once
 * that channel is gone, settling is a no-op and the broker redelivers the message with
 * redelivered=true.
 */
export class QueueConsumer {
  readonly #ch: Channel;
  readonly #opts: ConsumerOptions;
  #open = true;
  #closing = false;
  #consumerTag: string | undefined;
  #cancelled = false;
  readonly #acks = new AckBatch();
  readonly #flush = (): void => this.#sendAcks();
  /** what every delivery's settlement calls: one function per consumer, not a closure per delivery */
  readonly #settleDelivery = (deliveryTag: number, outcome: Outcome): void => this.#settle(deliveryTag, outcome);
  /** fromDelivery's context, the same for every delivery of this consumer (the clock is read
   * only for a delivery with an expiration) */
  readonly #ingress: IngressContext;
  /** the source of the last delivery: the next one of the same routing key shares it */
  readonly #source: LastSource;

  constructor(ch: Channel, opts: ConsumerOptions) {
    this.#ch = ch;
    this.#opts = opts;
    this.#ingress = { connector: opts.connector, queue: opts.queue, replyToTopicHeader: opts.replyToTopicHeader };
    this.#source = new LastSource(opts.connector, 'amqp091');
    ch.on('error', (err: Error) => opts.logger.debug('consumer channel error', { queue: opts.queue, error: err.message }));
    // amqplib re-throws a listener's exception unless 'handler-error' is listened to (lib/safe_emit.js)
    ch.on('handler-error', (err: Error, event: string) => opts.logger.error('error in a consumer event handler', { event, error: err.message }));
    ch.on('close', () => {
      this.#open = false;
      if (!this.#closing) opts.onLost(`consumer channel of queue '${opts.queue}' closed by the broker`);
    });
  }

  get queue(): string {
    return this.#opts.queue;
  }

  async start(): Promise<void> {
    await this.#ch.prefetch(this.#opts.prefetch, false);
    const ok = await this.#ch.consume(this.#opts.queue, (msg) => this.#onMessage(msg), { noAck: false });
    this.#consumerTag = ok.consumerTag;
    // closeSources came while basic.consume was on its way
    if (this.#cancelled) await this.cancel();
  }

  /** Stop taking deliveries (basic.cancel); unsettled ones can still be settled on the open channel. */
  async cancel(): Promise<void> {
    this.#cancelled = true;
    const tag = this.#consumerTag;
    this.#consumerTag = undefined;
    if (tag === undefined || !this.#open) return;
    try {
      await this.#ch.cancel(tag);
    } catch (err) {
      this.#opts.logger.debug('basic.cancel failed', { queue: this.#opts.queue, error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Close the channel: the broker requeues every unacknowledged delivery (AMQP 0-9-1: unacked
   * messages of a closed channel are returned to their queues). */
  async close(): Promise<void> {
    if (!this.#open) return;
    // settled before the close: acked, not redelivered
    this.#sendAcks();
    this.#closing = true;
    this.#consumerTag = undefined;
    try {
      await this.#ch.close();
    } catch {
      // closed with the connection already
    }
  }

  #onMessage(msg: ConsumeMessage | null): void {
    const opts = this.#opts;
    if (msg === null) {
      // basic.cancel from the broker: the queue was deleted or failed over (RabbitMQ consumer
      // cancel notification). Resume through the reconnect path, which re-declares and re-consumes.
      this.#consumerTag = undefined;
      opts.onLost(`consumer of queue '${opts.queue}' was cancelled by the broker`);
      return;
    }
    opts.counters.received();
    const tag = msg.fields.deliveryTag;
    this.#acks.delivered(tag);
    const message = fromDelivery(msg, this.#ingress, this.#source.of(msg.fields.routingKey));
    const settlement = new DeliverySettlement(this.#settleDelivery, tag);
    try {
      opts.deliver({ message, settlement, routes: opts.routes });
    } catch (err) {
      opts.logger.error('delivery handler threw; releasing the message', { queue: opts.queue, error: err instanceof Error ? err.message : String(err) });
      settlement.release(new FerryError('INTERNAL', 'delivery handler threw', { cause: err }));
    }
  }

  #settle(tag: number, outcome: Outcome): void {
    const { counters, logger } = this.#opts;
    if (!this.#open) {
      // The tag died with its channel; the broker has requeued the message already.
      logger.debug('settlement after the channel closed; the broker redelivers', { deliveryTag: tag, outcome: outcome.kind });
      return;
    }
    if (outcome.kind === 'accept') {
      // the flush is queued behind the microtasks already queued: those of the other deliveries
      // of the same socket read, whose writes finish in step with this one
      if (this.#acks.accept(tag)) queueMicrotask(this.#flush);
      return;
    }
    try {
      // basic.nack (RabbitMQ's extension of AMQP 0-9-1): requeue false refuses, true gives it back
      this.#ch.nack(byTag(tag), false, outcome.kind === 'release');
      this.#acks.sent(tag);
      counters.outcome(outcome);
    } catch (err) {
      // The channel is closing: the same as above, the broker redelivers.
      logger.debug('settlement failed; the broker redelivers', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  #sendAcks(): void {
    if (!this.#open) return;
    const ch = this.#ch;
    try {
      const acked = this.#acks.flush((tag, multiple) => ch.ack(byTag(tag), multiple));
      for (let i = 0; i < acked; i++) this.#opts.counters.outcome(ACCEPTED);
    } catch (err) {
      // The channel is closing: the broker redelivers what was not acked.
      this.#opts.logger.debug('settlement failed; the broker redelivers', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

const ACCEPTED: Outcome = { kind: 'accept' };

/**
 * What amqplib's `ack` and `nack` are given for delivery `tag`: they read the delivery's
 * `fields.deliveryTag` and nothing else (lib/channel_model.js `ack`, `nack`: the method carries
 * the tag alone), so the delivery itself need not be kept until it is settled.
 */
function byTag(tag: number): Message {
  return { fields: { deliveryTag: tag } } as Message;
}
