import type { ConfirmChannel, Message } from 'amqplib';
import { FerryError, toFerryError, writeBySend, type ConnectorCounters, type GatewayMessage, type Logger, type WriteDone } from '@ferry/core';
import { confirmedPublish, type ConfirmedPublish } from './amqplib-publish.js';
import { PUBLISH_ID_HEADER, toPublish, type PublishOptions, type PublishPlan } from './mapping.js';
import type { Amqp091To } from './options.js';

export interface PublisherOptions {
  readonly connector: string;
  /** unique per channel, so a publish id never repeats across reconnects */
  readonly idPrefix: string;
  readonly username: string;
  /** the connector's `replyToTopicHeader` */
  readonly replyToTopicHeader: boolean;
  readonly logger: Logger;
  /** the connector's per-message counters */
  readonly counters: ConnectorCounters;
  /** passive check that an exchange exists, on a throw-away channel (a 404 closes the channel it happens on) */
  readonly checkExchange: (name: string) => Promise<void>;
  /** the channel closed without Ferry asking: the session is broken */
  readonly onLost: (reason: string) => void;
}

interface Pending {
  /** set by a basic.return that arrived before this publish's basic.ack */
  returned?: FerryError;
}

/**
 * The sink side of a session: one confirm channel (RabbitMQ publisher confirms, an extension
 * of AMQP 0-9-1: confirm.select). A write resolves only on the broker's basic.ack for it.
 *
 * - basic.nack → SINK_REJECTED, transient: RabbitMQ nacks on an internal error or when a queue
 *   with `x-overflow: reject-publish` is full; both may pass.
 * - basic.return (mandatory, unroutable) → SINK_UNROUTABLE, permanent. RabbitMQ sends the
 *   return BEFORE the ack of the same publish, and the ack still comes, so the return is matched
 *   to its publish by the PUBLISH_ID_HEADER it carries back and fails that write when its ack
 *   arrives. Matching by order alone is unsafe: the ack of an earlier routed publish can arrive
 *   after a later publish's return.
 * - the channel or connection closes → amqplib fails every unconfirmed callback at once
 *   (lib/channel.js 'close'), which rejects those writes with a transient SINK_CLOSED.
 * - `publish` returning false (the channel's write buffer is full) → later writes wait for
 *   'drain'.
 */
export class Publisher {
  readonly #ch: ConfirmChannel;
  readonly #send: ConfirmedPublish;
  readonly #opts: PublisherOptions;
  readonly #pending = new Map<string, Pending>();
  readonly #exchanges = new Map<string, Promise<void>>();
  /** exchanges whose check passed: a write to one needs no wait */
  readonly #checked = new Set<string>();
  #seq = 0;
  #open = true;
  #closing = false;
  #writable = true;
  #drainWaiters: { resolve: () => void; reject: (e: FerryError) => void }[] = [];

  constructor(ch: ConfirmChannel, opts: PublisherOptions) {
    this.#ch = ch;
    this.#send = confirmedPublish(ch);
    this.#opts = opts;
    ch.on('return', (msg: Message) => this.#onReturn(msg));
    ch.on('drain', () => this.#onDrain());
    ch.on('error', (err: Error) => opts.logger.debug('publish channel error', { error: err.message }));
    // amqplib re-throws a listener's exception unless 'handler-error' is listened to (lib/safe_emit.js)
    ch.on('handler-error', (err: Error, event: string) => opts.logger.error('error in a publisher event handler', { event, error: err.message }));
    ch.on('close', () => this.#onClose());
  }

  get open(): boolean {
    return this.#open;
  }

  write(message: GatewayMessage, to: Amqp091To): Promise<void> {
    return writeBySend((m: GatewayMessage, t: Amqp091To, done: WriteDone) => this.send(m, t, done), message, to);
  }

  /** {@link write} with its outcome given to `done` (core Sink.send): no promise on the common path. */
  send(message: GatewayMessage, to: Amqp091To, done: WriteDone): void {
    let plan: PublishPlan;
    try {
      this.#assertOpen();
      plan = toPublish(message, {
        now: Date.now(),
        username: this.#opts.username,
        persistent: to.persistent,
        mandatory: to.mandatory,
        replyToTopicHeader: this.#opts.replyToTopicHeader,
      });
    } catch (err) {
      done(toFerryError(err));
      return;
    }
    if (plan.kind === 'expired') {
      // An expired message is done with: RabbitMQ would drop it too (per-message TTL).
      this.#opts.counters.dropped('expired');
      this.#opts.logger.debug('message expired before publish; dropped', { messageId: message.messageId });
      done(undefined);
      return;
    }
    // Nearly every write finds its exchange checked and the channel writable: it publishes at
    // once, without a promise hop for waits that would find nothing to wait for.
    if (this.#writable && (to.exchange === '' || this.#checked.has(to.exchange))) {
      this.#publish(message, to, plan.options, done);
      return;
    }
    const options = plan.options;
    this.#waits(to).then(
      () => this.#publish(message, to, options, done),
      (err: unknown) => done(toFerryError(err)),
    );
  }

  async #waits(to: Amqp091To): Promise<void> {
    if (to.exchange !== '') await this.#ensureExchange(to.exchange);
    while (!this.#writable) await this.#waitDrain();
    // the channel can close during either wait above
    this.#assertOpen();
  }

  #publish(message: GatewayMessage, to: Amqp091To, options: PublishOptions, done: WriteDone): void {
    const { connector, counters } = this.#opts;
    // only a mandatory publish can come back (basic.return), so only it carries an id
    const id = to.mandatory ? `${this.#opts.idPrefix}.${++this.#seq}` : undefined;
    if (id !== undefined) options.headers[PUBLISH_ID_HEADER] = id;
    const entry: Pending = {};
    if (id !== undefined) this.#pending.set(id, entry);
    const onConfirm = (err: unknown): void => {
      if (id !== undefined) this.#pending.delete(id);
      if (err === null || err === undefined) {
        if (entry.returned !== undefined) {
          done(entry.returned);
          return;
        }
        counters.sent();
        done(undefined);
      } else if (err instanceof Error && err.message === 'message nacked') {
        done(
          new FerryError('SINK_REJECTED', `broker nacked the publish to exchange '${to.exchange}' routing key '${to.routingKey}'`, {
            cause: err,
            details: { exchange: to.exchange, routingKey: to.routingKey },
          }),
        );
      } else {
        done(new FerryError('SINK_CLOSED', `channel closed before the broker confirmed the publish`, { cause: err }));
      }
    };
    let accepted: boolean;
    try {
      accepted = this.#send(to.exchange, to.routingKey, message.body, options, onConfirm);
    } catch (err) {
      if (id !== undefined) this.#pending.delete(id);
      done(publishError(err, connector));
      return;
    }
    if (!accepted) this.#writable = false;
  }

  /** Close the channel (Ferry asked: not a loss). Unconfirmed writes fail as SINK_CLOSED. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#closing = true;
    try {
      await this.#ch.close();
    } catch {
      // already closing or closed with the connection
    }
  }

  /** A method, not an inline check: the compiler would keep an earlier check's narrowing of #open across the awaits between. */
  #assertOpen(): void {
    if (!this.#open) throw notConnected(this.#opts.connector);
  }

  #ensureExchange(name: string): Promise<void> {
    // A publish to a missing exchange is a channel exception (404) that would close this channel
    // and fail every write in flight on it; a passive check on a throw-away channel, once per
    // exchange and connection, keeps that failure to the one write.
    let p = this.#exchanges.get(name);
    if (p === undefined) {
      p = this.#opts.checkExchange(name);
      this.#exchanges.set(name, p);
      p.then(
        () => this.#checked.add(name),
        () => this.#exchanges.delete(name),
      );
    }
    return p;
  }

  #onReturn(msg: Message): void {
    const headers: Readonly<Record<string, unknown>> | undefined = msg.properties.headers;
    const id = headers?.[PUBLISH_ID_HEADER];
    const entry = typeof id === 'string' ? this.#pending.get(id) : undefined;
    const f = msg.fields as unknown as { replyCode?: unknown; replyText?: unknown; exchange?: unknown; routingKey?: unknown };
    const where = `exchange '${String(f.exchange)}' routing key '${String(f.routingKey)}'`;
    if (entry === undefined) {
      this.#opts.logger.warn('basic.return for an unknown publish', { where, replyText: f.replyText });
      return;
    }
    entry.returned = new FerryError('SINK_UNROUTABLE', `unroutable: ${where}: ${String(f.replyCode)} ${String(f.replyText)}`, {
      permanent: true,
      details: { exchange: f.exchange, routingKey: f.routingKey, replyCode: f.replyCode },
    });
  }

  #waitDrain(): Promise<void> {
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  #onDrain(): void {
    this.#writable = true;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  #onClose(): void {
    this.#open = false;
    this.#writable = true;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.reject(notConnected(this.#opts.connector));
    if (!this.#closing) this.#opts.onLost('publish channel closed by the broker');
  }
}

function notConnected(connector: string): FerryError {
  return new FerryError('NOT_CONNECTED', `amqp091 connector '${connector}' is not connected`);
}

/** A synchronous throw from amqplib's publish: a closed channel (transient) or an encoding error (permanent). */
function publishError(err: unknown, connector: string): FerryError {
  if (err instanceof FerryError) return err;
  if (err instanceof Error && err.name === 'IllegalOperationError') {
    return new FerryError('NOT_CONNECTED', `amqp091 connector '${connector}': channel closed`, { cause: err });
  }
  return new FerryError('SINK_REJECTED', `message cannot be encoded as AMQP 0-9-1: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
    permanent: true,
  });
}
