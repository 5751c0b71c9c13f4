/**
 * The far end of a fault test: a plain amqplib consumer on a durable queue bound to the
 * destination exchange, counting every delivery by the id in its body. It survives a RabbitMQ
 * restart by reconnecting; a delivery it counted whose ack was lost comes again and is counted
 * again (a duplicate at the counter, never a loss).
 */
import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import { rabbitUrl, type Tally } from '@ferry/testkit';

export interface CounterOptions {
  readonly vhost: string;
  readonly exchange: string;
  readonly queue: string;
  readonly bindingKey: string;
  readonly tally: Tally;
  /** how the id is read from a delivery (default: the body as UTF-8) */
  readonly idOf?: (m: ConsumeMessage) => string;
  /** delay each ack by this many ms (a slow consumer); default 0 */
  readonly ackDelayMs?: number;
  readonly prefetch?: number;
  /** keep every delivery's id in arrival order (`arrivals`), for order checks */
  readonly keepArrivals?: boolean;
}

export class QueueCounter {
  readonly #opts: CounterOptions;
  #model: ChannelModel | undefined;
  #closed = false;
  #reconnecting: Promise<void> | undefined;
  /** deliveries seen (with duplicates) */
  deliveries = 0;
  /** times the counter's own connection was lost and re-made */
  reconnects = 0;
  /** the last delivery per id, for checks on headers */
  readonly last = new Map<string, ConsumeMessage>();
  /** every delivery's id in the order it arrived (only with `keepArrivals`) */
  readonly arrivals: string[] = [];

  constructor(opts: CounterOptions) {
    this.#opts = opts;
  }

  /** Declare the durable queue and its binding, and start consuming. */
  async start(): Promise<void> {
    await this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#model?.close().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    const { vhost, exchange, queue, bindingKey, tally, prefetch } = this.#opts;
    const model = await amqp.connect(rabbitUrl(vhost), { noDelay: true });
    model.on('error', () => undefined); // a channel error is re-raised here by amqplib; 'close' follows
    model.on('close', () => this.#lost());
    const ch: Channel = await model.createChannel();
    ch.on('error', () => undefined);
    // durable exchange and queue: they and the persistent messages in them survive a broker restart
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, { durable: true });
    await ch.bindQueue(queue, exchange, bindingKey);
    await ch.prefetch(prefetch ?? 1000);
    const idOf = this.#opts.idOf ?? ((m: ConsumeMessage) => m.content.toString('utf8'));
    const delay = this.#opts.ackDelayMs ?? 0;
    const keep = this.#opts.keepArrivals === true;
    await ch.consume(queue, (m) => {
      if (m === null) return;
      const id = idOf(m);
      tally.received(id);
      this.last.set(id, m);
      if (keep) this.arrivals.push(id);
      this.deliveries++;
      if (delay > 0) setTimeout(() => ackQuietly(ch, m), delay);
      else ackQuietly(ch, m);
    });
    this.#model = model;
  }

  #lost(): void {
    if (this.#closed || this.#reconnecting) return;
    this.#reconnecting = (async () => {
      while (!this.#closed) {
        await new Promise((r) => setTimeout(r, 300));
        try {
          await this.#connect();
          this.reconnects++;
          break;
        } catch {
          // the broker is still down: try again
        }
      }
      this.#reconnecting = undefined;
    })();
  }
}

function ackQuietly(ch: Channel, m: ConsumeMessage): void {
  try {
    ch.ack(m);
  } catch {
    // the channel closed: the broker redelivers the message to the next consumer
  }
}
