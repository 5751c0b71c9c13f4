import type { ConfirmChannel, Message } from 'amqplib';
import { FerryError, toFerryError, writeBySend, type ConnectorCounters, type GatewayMessage, type Logger, type WriteDone } from '@ferry/core';
import { confirmedPublish, frameWriter, type ConfirmedPublish } from './amqplib-publish.js';
import { PUBLISH_ID_HEADER, toPublish, type EgressContext, type PublishOptions, type PublishPlan } from './mapping.js';
import type { Amqp091To } from './options.js';
import { NONE, PublishFrames } from './publish-frames.js';
import type { TurnFrames } from './turn-frames.js';
import { TagWindow } from './tag-window.js';

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

/** basic.ack and basic.nack as amqplib gives them ('ack', 'nack' events of the channel) */
interface ConfirmFields {
  readonly deliveryTag: number;
  readonly multiple: boolean;
}

/** the writes a publisher holds unconfirmed at first; the window doubles when it fills */
const INITIAL_WINDOW = 256;

/**
 * The sink side of a session: one confirm channel (RabbitMQ publisher confirms, an extension
 * of AMQP 0-9-1: confirm.select). A write resolves only on the broker's basic.ack for it.
 *
 * The publisher tracks its confirms itself, by delivery tag: on a confirm channel the broker
 * numbers the publishes 1, 2, 3, … in the order it receives them, and basic.ack and basic.nack
 * name one tag, or every tag up to one with `multiple` (RabbitMQ "Publisher Confirms"). Each
 * unconfirmed write's done and destination are kept at its tag in two {@link TagWindow}s, so a
 * publish costs no object of its own, and the confirms may arrive in any order.
 *
 * - basic.nack → SINK_REJECTED, transient: RabbitMQ nacks on an internal error or when a queue
 *   with `x-overflow: reject-publish` is full; both may pass.
 * - basic.return (mandatory, unroutable) → SINK_UNROUTABLE, permanent. RabbitMQ sends the
 *   return BEFORE the ack of the same publish, and the ack still comes, so the return is matched
 *   to its publish by the PUBLISH_ID_HEADER it carries back (the id ends in the publish's
 *   delivery tag) and fails that write when its ack arrives. Matching by order alone is unsafe:
 *   the ack of an earlier routed publish can arrive after a later publish's return.
 * - the channel or connection closes → every unconfirmed write fails with a transient
 *   SINK_CLOSED, before the session hears of the loss.
 * - `publish` returning false (the channel's write buffer is full) → later writes wait for
 *   'drain'.
 */
export class Publisher {
  readonly #ch: ConfirmChannel;
  readonly #send: ConfirmedPublish;
  /** writes the publishes encoded by {@link #frames}, a turn's together; undefined when amqplib's internals are not as expected */
  readonly #writer: TurnFrames | undefined;
  readonly #frames: PublishFrames | undefined;
  readonly #opts: PublisherOptions;
  /** `${idPrefix}.`: a publish id is this and the publish's delivery tag */
  readonly #idStart: string;
  /** the done of each unconfirmed write, at its delivery tag; undefined once settled */
  readonly #dones = new TagWindow<WriteDone>(INITIAL_WINDOW);
  /** each unconfirmed write's destination, beside its done (for a nack's error) */
  readonly #tos = new TagWindow<Amqp091To>(INITIAL_WINDOW);
  /** the lowest delivery tag not yet confirmed */
  #lwm = 1;
  /** the delivery tag of the last publish */
  #tag = 0;
  /** writes whose basic.return came, by delivery tag, until their basic.ack */
  readonly #returned = new Map<number, FerryError>();
  readonly #exchanges = new Map<string, Promise<void>>();
  /** exchanges whose check passed: a write to one needs no wait */
  readonly #checked = new Set<string>();
  #open = true;
  #closing = false;
  #writable = true;
  #drainWaiters: { resolve: () => void; reject: (e: FerryError) => void }[] = [];
  /** toPublish's context, one object filled in for each publish (toPublish keeps no reference to it) */
  readonly #ctx: { -readonly [K in keyof EgressContext]: EgressContext[K] };

  constructor(ch: ConfirmChannel, opts: PublisherOptions) {
    this.#ch = ch;
    this.#opts = opts;
    this.#idStart = `${opts.idPrefix}.`;
    const id = { name: PUBLISH_ID_HEADER, prefix: this.#idStart };
    this.#send = confirmedPublish(ch, id);
    // a turn's write found the channel's stream full: later writes wait for its 'drain'
    this.#writer = frameWriter(ch, () => {
      this.#writable = false;
    });
    this.#frames = this.#writer === undefined ? undefined : new PublishFrames(this.#writer.channel, { username: opts.username, replyToTopicHeader: opts.replyToTopicHeader, id });
    this.#ctx = { now: 0, username: opts.username, persistent: undefined, mandatory: true, replyToTopicHeader: opts.replyToTopicHeader };
    ch.on('ack', (f: ConfirmFields) => this.#onConfirm(f, false));
    ch.on('nack', (f: ConfirmFields) => this.#onConfirm(f, true));
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
    // Nearly every write finds the channel open and writable and its exchange checked, and a
    // message the encoder writes whole: it is published at once, without toPublish's options.
    if (this.#open && this.#writable && (to.exchange === '' || this.#checked.has(to.exchange)) && this.#publishEncoded(message, to, done)) return;
    let plan: PublishPlan;
    try {
      this.#assertOpen();
      const ctx = this.#ctx;
      ctx.now = Date.now();
      ctx.persistent = to.persistent;
      ctx.mandatory = to.mandatory;
      plan = toPublish(message, ctx);
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

  /**
   * Publish `message` encoded by {@link PublishFrames} (the bytes amqplib writes for toPublish's
   * options); false, having done nothing, when it cannot be: no encoder, a message the encoder
   * leaves to amqplib, an expiration that has passed (toPublish drops it), a closed channel.
   */
  #publishEncoded(message: GatewayMessage, to: Amqp091To, done: WriteDone): boolean {
    const frames = this.#frames;
    const writer = this.#writer;
    if (frames === undefined || writer === undefined) return false;
    let expiration = NONE;
    if (message.expiresAt !== undefined) {
      // as toPublish: the ms left, rounded up
      expiration = Math.ceil(message.expiresAt - Date.now());
      if (!(expiration > 0) || !Number.isSafeInteger(expiration)) return false;
    }
    const tag = this.#tag + 1;
    const end = frames.encode(message, to, expiration, to.mandatory ? tag : NONE, writer.buffer(), writer.at);
    if (end < 0) return false;
    let accepted: boolean | undefined;
    try {
      accepted = writer.commit(end);
    } catch (err) {
      done(publishError(err, this.#opts.connector));
      return true;
    }
    if (accepted === undefined) return false;
    this.#published(tag, to, done, accepted);
    return true;
  }

  #publish(message: GatewayMessage, to: Amqp091To, options: PublishOptions, done: WriteDone): void {
    const tag = this.#tag + 1;
    // only a mandatory publish can come back (basic.return), so only it carries an id: written
    // by the encoder after the message's headers, from the tag's digits, or set here when one of
    // the message's own headers has its name (it takes that header's place)
    let serial: number | undefined;
    if (to.mandatory) {
      if (Object.hasOwn(options.headers, PUBLISH_ID_HEADER)) options.headers[PUBLISH_ID_HEADER] = this.#idStart + String(tag);
      else serial = tag;
    }
    let accepted: boolean;
    try {
      // the publishes encoded in this turn go first: amqplib writes this one into the channel's stream
      this.#writer?.flush();
      accepted = this.#send(to.exchange, to.routingKey, message.body, options, serial);
    } catch (err) {
      // nothing was sent (amqplib encodes the whole publish before it writes): no tag is used
      done(publishError(err, this.#opts.connector));
      return;
    }
    this.#published(tag, to, done, accepted);
  }

  /** the write of delivery tag `tag` is on its way: its confirm settles it */
  #published(tag: number, to: Amqp091To, done: WriteDone, accepted: boolean): void {
    this.#tag = tag;
    this.#dones.put(tag, done, this.#lwm);
    this.#tos.put(tag, to, this.#lwm);
    if (!accepted) this.#writable = false;
  }

  /**
   * basic.ack or basic.nack of one delivery tag, or of every tag up to it (`multiple`). Each
   * write's slot is cleared, and the low-water mark moved past it, before its done runs: a done
   * may publish again.
   */
  #onConfirm(f: ConfirmFields, nacked: boolean): void {
    const tag = f.deliveryTag;
    if (tag > this.#tag) {
      this.#opts.logger.warn('confirm of a delivery tag not published', { deliveryTag: tag, lastTag: this.#tag });
      return;
    }
    if (f.multiple) {
      try {
        while (this.#lwm <= tag) this.#settle(this.#lwm++, nacked);
      } finally {
        // a done that threw leaves the rest of the range to settle: its confirm will not come again
        if (this.#lwm <= tag) this.#onConfirm(f, nacked);
      }
      return;
    }
    if (tag < this.#lwm) return;
    if (tag === this.#lwm) {
      this.#lwm++;
      // past the writes already confirmed out of order
      while (this.#lwm <= this.#tag && this.#dones.get(this.#lwm) === undefined) this.#lwm++;
    }
    this.#settle(tag, nacked);
  }

  #settle(tag: number, nacked: boolean): void {
    const done = this.#dones.take(tag);
    // confirmed before, out of order
    if (done === undefined) return;
    const to = this.#tos.take(tag);
    if (this.#returned.size !== 0) {
      const returned = this.#returned.get(tag);
      if (returned !== undefined) {
        this.#returned.delete(tag);
        done(returned);
        return;
      }
    }
    if (!nacked) {
      this.#opts.counters.sent();
      done(undefined);
      return;
    }
    const exchange = to?.exchange;
    const routingKey = to?.routingKey;
    done(
      new FerryError('SINK_REJECTED', `broker nacked the publish to exchange '${String(exchange)}' routing key '${String(routingKey)}'`, {
        details: { exchange, routingKey },
      }),
    );
  }

  /** Close the channel (Ferry asked: not a loss). Unconfirmed writes fail as SINK_CLOSED. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#closing = true;
    try {
      // the publishes encoded in this turn go before channel.close
      this.#writer?.flush();
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
    const tag = typeof id === 'string' && id.startsWith(this.#idStart) ? Number(id.slice(this.#idStart.length)) : NaN;
    const f = msg.fields as unknown as { replyCode?: unknown; replyText?: unknown; exchange?: unknown; routingKey?: unknown };
    const where = `exchange '${String(f.exchange)}' routing key '${String(f.routingKey)}'`;
    if (!Number.isInteger(tag) || tag < this.#lwm || tag > this.#tag || this.#dones.get(tag) === undefined) {
      this.#opts.logger.warn('basic.return for an unknown publish', { where, replyText: f.replyText });
      return;
    }
    this.#returned.set(
      tag,
      new FerryError('SINK_UNROUTABLE', `unroutable: ${where}: ${String(f.replyCode)} ${String(f.replyText)}`, {
        permanent: true,
        details: { exchange: f.exchange, routingKey: f.routingKey, replyCode: f.replyCode },
      }),
    );
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

  /** The channel closed: no confirm will come for a write still unconfirmed. */
  #failUnconfirmed(): void {
    const cause = new Error('channel closed');
    while (this.#lwm <= this.#tag) {
      const tag = this.#lwm++;
      const done = this.#dones.take(tag);
      this.#tos.take(tag);
      if (done !== undefined) done(new FerryError('SINK_CLOSED', `channel closed before the broker confirmed the publish`, { cause }));
    }
    this.#returned.clear();
  }

  #onClose(): void {
    this.#open = false;
    this.#failUnconfirmed();
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
