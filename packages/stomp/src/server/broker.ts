import { FerryError } from '@ferry/core';
import { parseDestination, type BrokerMessage } from './broker-message.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/** What the broker needs from a session to deliver to one of its subscriptions. */
export interface SubscriberSession {
  readonly id: string;
  /** false while the socket is backpressured (write returned false) or the session is ending */
  readonly writable: boolean;
  /** write a MESSAGE frame for `sub` */
  sendMessage(sub: Subscription, msg: BrokerMessage, messageId: string): void;
}

export class Subscription {
  /** delivered, not yet acknowledged (client / client-individual), in delivery order */
  readonly unacked = new Map<string, BrokerMessage>();
  /** topic messages waiting while the subscriber is slow (queues keep theirs in the queue) */
  readonly pending: BrokerMessage[] = [];
  closed = false;

  constructor(
    readonly session: SubscriberSession,
    readonly id: string,
    readonly destination: string,
    readonly kind: 'topic' | 'queue',
    readonly ackMode: AckMode,
  ) {}
}

export type DropReason = 'expired' | 'slow-consumer' | 'nack-topic' | 'unsubscribed-topic';

export interface BrokerOptions {
  /** messages a queue holds while no subscriber can take them; over it, publish fails */
  readonly queueBufferMessages: number;
  /** client / client-individual: deliveries outstanding per subscription before pausing it */
  readonly maxUnackedPerSubscription?: number | undefined;
  /** called for every message the broker discards (for metrics and logs) */
  readonly onDrop?: (reason: DropReason, msg: BrokerMessage) => void;
  readonly now?: () => number;
}

interface QueueState {
  readonly buffer: BrokerMessage[];
  readonly subs: Subscription[];
  rr: number;
}

export interface PublishResult {
  /** subscriptions the message was written to now */
  readonly delivered: number;
  /** held in a queue buffer (or a slow topic subscriber's pending list) */
  readonly held: number;
}

/**
 * The listener's in-memory broker. Topics copy each message to every current subscriber;
 * queues give each message to one subscriber, round robin among those that can take one
 * (socket not backpressured, below `maxUnackedPerSubscription`), and hold it in a bounded
 * buffer while none can. Unacknowledged queue messages go back to the FRONT of their queue,
 * marked redelivered, on NACK, UNSUBSCRIBE and session end, so they are not lost and keep
 * their order relative to newer messages.
 *
 * Synchronous by design: a publish returns once the message is written to a socket or held,
 * which is what the sink's `write` promises.
 */
export class StompBroker {
  readonly #opts: BrokerOptions;
  readonly #topics = new Map<string, Set<Subscription>>();
  readonly #queues = new Map<string, QueueState>();
  readonly #prefix = Math.random().toString(36).slice(2, 8);
  #seq = 0;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
  }

  /** Messages held by a queue (not counting unacked deliveries). */
  queueDepth(destination: string): number {
    return this.#queues.get(destination)?.buffer.length ?? 0;
  }

  /** Unacknowledged deliveries of a queue's subscriptions. */
  queueUnacked(destination: string): number {
    let n = 0;
    for (const s of this.#queues.get(destination)?.subs ?? []) n += s.unacked.size;
    return n;
  }

  /** Destinations with any state; bounded by live subscriptions and non-empty queues. */
  get destinationCount(): number {
    return this.#topics.size + this.#queues.size;
  }

  /** true when `count` more messages fit in the queue (always true for topics). */
  canAccept(destination: string, count = 1): boolean {
    const d = parseDestination(destination);
    if (d?.kind !== 'queue') return true;
    const q = this.#queues.get(destination);
    return (q?.buffer.length ?? 0) + count <= this.#opts.queueBufferMessages;
  }

  /**
   * Publish to a destination. Throws a FerryError `LIMIT_EXCEEDED` when a queue's buffer is
   * full (nothing is held then: the caller tells its client), `PROTOCOL_ERROR` for a
   * destination the broker does not know.
   */
  publish(msg: BrokerMessage): PublishResult {
    const d = parseDestination(msg.destination);
    if (d === undefined) throw new FerryError('PROTOCOL_ERROR', `unknown destination ${JSON.stringify(msg.destination)}`, { permanent: true });
    if (d.kind === 'topic') return this.#publishTopic(msg);
    let q = this.#queues.get(d.name);
    if (q !== undefined && q.buffer.length >= this.#opts.queueBufferMessages) {
      throw new FerryError('LIMIT_EXCEEDED', `queue ${d.name} is full (${this.#opts.queueBufferMessages} messages held)`, {
        details: { destination: d.name, limit: this.#opts.queueBufferMessages },
      });
    }
    if (q === undefined) {
      q = { buffer: [], subs: [], rr: 0 };
      this.#queues.set(d.name, q);
    }
    q.buffer.push(msg);
    const before = q.buffer.length;
    this.#pump(q);
    const delivered = before - q.buffer.length;
    return { delivered, held: q.buffer.length > 0 ? 1 : 0 };
  }

  subscribe(session: SubscriberSession, id: string, destination: string, ackMode: AckMode): Subscription {
    const d = parseDestination(destination);
    if (d === undefined) throw new FerryError('PROTOCOL_ERROR', `unknown destination ${JSON.stringify(destination)}`, { permanent: true });
    const sub = new Subscription(session, id, destination, d.kind, ackMode);
    if (d.kind === 'topic') {
      let set = this.#topics.get(destination);
      if (set === undefined) this.#topics.set(destination, (set = new Set()));
      set.add(sub);
    } else {
      let q = this.#queues.get(destination);
      if (q === undefined) this.#queues.set(destination, (q = { buffer: [], subs: [], rr: 0 }));
      q.subs.push(sub);
    }
    return sub;
  }

  /** Remove a subscription; its unacked queue messages go back to the queue, redelivered. */
  unsubscribe(sub: Subscription): void {
    if (sub.closed) return;
    sub.closed = true;
    if (sub.kind === 'topic') {
      const set = this.#topics.get(sub.destination);
      set?.delete(sub);
      if (set?.size === 0) this.#topics.delete(sub.destination);
      for (const m of [...sub.unacked.values(), ...sub.pending]) this.#opts.onDrop?.('unsubscribed-topic', m);
      sub.unacked.clear();
      sub.pending.length = 0;
      return;
    }
    const q = this.#queues.get(sub.destination);
    if (q === undefined) return;
    const i = q.subs.indexOf(sub);
    if (i >= 0) {
      q.subs.splice(i, 1);
      if (q.rr > i) q.rr--;
      if (q.rr >= q.subs.length) q.rr = 0;
    }
    const back = [...sub.unacked.values()];
    sub.unacked.clear();
    this.#requeue(q, back);
    this.#pump(q);
    this.#gc(sub.destination, q);
  }

  /**
   * Acknowledge `messageId` on `sub`: with `cumulative` (ack mode `client`, STOMP 1.2 §SUBSCRIBE
   * ack Header) it and every earlier unacked delivery of the subscription, else just it.
   * Returns false when the id is not outstanding (already acked, or never delivered).
   */
  ack(sub: Subscription, messageId: string, cumulative: boolean): boolean {
    const done = this.#take(sub, messageId, cumulative);
    if (done === undefined) return false;
    this.resume([sub]);
    return true;
  }

  /**
   * Refuse `messageId` (STOMP 1.2 §NACK; cumulative in `client` mode like ACK). Queue messages
   * go back to the front of the queue, marked redelivered, and are offered to the next
   * subscriber in round-robin order; topic messages have no one else to go to and are dropped.
   */
  nack(sub: Subscription, messageId: string, cumulative: boolean): boolean {
    const done = this.#take(sub, messageId, cumulative);
    if (done === undefined) return false;
    if (sub.kind === 'topic') {
      for (const m of done) this.#opts.onDrop?.('nack-topic', m);
      this.resume([sub]);
      return true;
    }
    const q = this.#queues.get(sub.destination);
    if (q !== undefined) {
      // Move the round robin past this subscriber, so another one gets the first try.
      const i = q.subs.indexOf(sub);
      if (i >= 0 && q.subs.length > 1) q.rr = (i + 1) % q.subs.length;
      this.#requeue(q, done);
      this.#pump(q);
    }
    return true;
  }

  /** Deliver what waits for these subscriptions (after a drain, an ack, a new subscription). */
  resume(subs: Iterable<Subscription>): void {
    const queues = new Set<QueueState>();
    for (const sub of subs) {
      if (sub.closed) continue;
      if (sub.kind === 'topic') {
        while (sub.pending.length > 0 && this.#canTake(sub)) this.#send(sub, sub.pending.shift() as BrokerMessage);
      } else {
        const q = this.#queues.get(sub.destination);
        if (q !== undefined) queues.add(q);
      }
    }
    for (const q of queues) this.#pump(q);
  }

  #take(sub: Subscription, messageId: string, cumulative: boolean): BrokerMessage[] | undefined {
    if (!sub.unacked.has(messageId)) return undefined;
    const out: BrokerMessage[] = [];
    if (!cumulative) {
      out.push(sub.unacked.get(messageId) as BrokerMessage);
      sub.unacked.delete(messageId);
      return out;
    }
    for (const [id, m] of sub.unacked) {
      out.push(m);
      sub.unacked.delete(id);
      if (id === messageId) break;
    }
    return out;
  }

  #requeue(q: QueueState, msgs: BrokerMessage[]): void {
    // Given-back messages go in front, in their original order, and may exceed the bound:
    // they were accepted once and must not be lost.
    q.buffer.unshift(...msgs.map((m) => (m.redelivered ? m : { ...m, redelivered: true })));
  }

  #publishTopic(msg: BrokerMessage): PublishResult {
    const set = this.#topics.get(msg.destination);
    if (set === undefined) return { delivered: 0, held: 0 };
    if (this.#expired(msg)) {
      this.#opts.onDrop?.('expired', msg);
      return { delivered: 0, held: 0 };
    }
    let delivered = 0;
    let held = 0;
    for (const sub of set) {
      if (sub.pending.length === 0 && this.#canTake(sub)) {
        this.#send(sub, msg);
        delivered++;
      } else if (sub.pending.length < this.#opts.queueBufferMessages) {
        sub.pending.push(msg);
        held++;
      } else {
        // A subscriber that does not keep up loses topic messages (topic semantics), counted.
        this.#opts.onDrop?.('slow-consumer', msg);
      }
    }
    return { delivered, held };
  }

  #pump(q: QueueState): void {
    while (q.buffer.length > 0) {
      const sub = this.#nextSubscriber(q);
      if (sub === undefined) return;
      const msg = q.buffer.shift() as BrokerMessage;
      if (this.#expired(msg)) {
        this.#opts.onDrop?.('expired', msg);
        continue;
      }
      this.#send(sub, msg);
    }
  }

  #nextSubscriber(q: QueueState): Subscription | undefined {
    const n = q.subs.length;
    for (let k = 0; k < n; k++) {
      const i = (q.rr + k) % n;
      const sub = q.subs[i] as Subscription;
      if (this.#canTake(sub)) {
        q.rr = (i + 1) % n;
        return sub;
      }
    }
    return undefined;
  }

  #canTake(sub: Subscription): boolean {
    if (sub.closed || !sub.session.writable) return false;
    const max = this.#opts.maxUnackedPerSubscription;
    return sub.ackMode === 'auto' || max === undefined || sub.unacked.size < max;
  }

  #send(sub: Subscription, msg: BrokerMessage): void {
    const messageId = `${this.#prefix}-${++this.#seq}`;
    if (sub.ackMode !== 'auto') sub.unacked.set(messageId, msg);
    sub.session.sendMessage(sub, msg, messageId);
  }

  #expired(msg: BrokerMessage): boolean {
    return msg.expiresAt !== undefined && msg.expiresAt > 0 && msg.expiresAt <= (this.#opts.now ?? Date.now)();
  }

  #gc(name: string, q: QueueState): void {
    if (q.subs.length === 0 && q.buffer.length === 0) this.#queues.delete(name);
  }

  /** Forget idle queues (no subscriber, nothing held). */
  collect(): void {
    for (const [name, q] of this.#queues) this.#gc(name, q);
  }
}
