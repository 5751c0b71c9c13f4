import { FerryError } from '@ferry/core';
import { destinationKind, messageBytes, type BrokerMessage } from './broker-message.js';
import type { StompQueueStore } from './queue-store.js';

export type AckMode = 'auto' | 'client' | 'client-individual';

/** What the broker needs from a session to deliver to one of its subscriptions. */
export interface SubscriberSession {
  readonly id: string;
  /** false while the socket is backpressured (write returned false) or the session is ending */
  readonly writable: boolean;
  /** write a MESSAGE frame for `sub` */
  sendMessage(sub: Subscription, msg: BrokerMessage, messageId: string): void;
}

/** the session's encoding of what a subscription's MESSAGE frames share (message-head.ts) */
export interface SubscriptionHead {
  text(msg: BrokerMessage, messageId: string): string;
}

export class Subscription {
  /** delivered, not yet acknowledged (client / client-individual), in delivery order */
  readonly unacked = new Map<string, BrokerMessage>();
  /** bytes of `unacked` (messageBytes) */
  unackedBytes = 0;
  /** topic messages waiting while the subscriber is slow (queues keep theirs in the queue) */
  readonly pending: BrokerMessage[] = [];
  /** bytes of `pending` */
  pendingBytes = 0;
  closed = false;
  /**
   * what the session writes in every MESSAGE of this subscription, encoded at the first
   * (session.ts, message-head.ts); the broker does not read it
   */
  head: SubscriptionHead | undefined;

  constructor(
    readonly session: SubscriberSession,
    readonly id: string,
    readonly destination: string,
    readonly kind: 'topic' | 'queue',
    readonly ackMode: AckMode,
  ) {}
}

type DropReason = 'expired' | 'slow-consumer' | 'nack-topic' | 'unsubscribed-topic';

export interface BrokerOptions {
  /** messages a queue holds while no subscriber can take them; over it, publish fails */
  readonly queueBufferMessages: number;
  /** client / client-individual: deliveries outstanding per subscription before pausing it */
  readonly maxUnackedPerSubscription?: number | undefined;
  /** bytes one queue (or one slow topic subscriber) holds; over it, publish fails (topic: dropped) */
  readonly queueBufferBytes?: number | undefined;
  /** bytes the whole broker holds: queues, slow topic subscribers and unacked deliveries */
  readonly maxBufferedBytes?: number | undefined;
  /** client / client-individual: unacked bytes per subscription before pausing it */
  readonly maxUnackedBytesPerSubscription?: number | undefined;
  /** called for every message the broker discards (for metrics and logs) */
  readonly onDrop?: (reason: DropReason, msg: BrokerMessage) => void;
  readonly now?: () => number;
  /** keeps /queue messages across restarts; absent: they live in memory */
  readonly store?: StompQueueStore | undefined;
}

/** a publish to a topic nobody subscribes to (path D's every SEND): one result for all */
const NOTHING_DONE: PublishResult = Object.freeze({ delivered: 0, held: 0 });

interface QueueState {
  readonly buffer: BrokerMessage[];
  /** bytes of `buffer` */
  bytes: number;
  readonly subs: Subscription[];
  rr: number;
}

export interface PublishResult {
  /** subscriptions the message was written to now */
  readonly delivered: number;
  /** held in a queue buffer (or a slow topic subscriber's pending list) */
  readonly held: number;
  /**
   * With a store, a /queue message: resolves once it is on disk. Whoever confirms the message
   * (a RECEIPT, a sink write) waits for it first.
   */
  readonly stored?: Promise<void> | undefined;
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
  /** bytes held: queue buffers, topic pending lists, unacked deliveries */
  #heldBytes = 0;
  /** the next key of a stored /queue message */
  #storeKey = 0;
  #restored = false;

  constructor(opts: BrokerOptions) {
    this.#opts = opts;
  }

  /**
   * Put back the /queue messages a previous run stored and did not see acknowledged (at the
   * back of their queues, in the order they were taken); once, before clients connect. A
   * record that cannot be read is returned as an error naming it, and skipped.
   */
  async restore(): Promise<{ messages: number; corrupt: FerryError[] }> {
    const store = this.#opts.store;
    if (store === undefined || this.#restored) return { messages: 0, corrupt: [] };
    this.#restored = true;
    const { messages, corrupt } = await store.load();
    for (const m of messages) {
      this.#storeKey = Math.max(this.#storeKey, (m.storeKey ?? 0) + 1);
      let q = this.#queues.get(m.destination);
      if (q === undefined) this.#queues.set(m.destination, (q = { buffer: [], bytes: 0, subs: [], rr: 0 }));
      this.#enqueue(q, [m], false);
    }
    return { messages: messages.length, corrupt };
  }

  /** resolves once the stored queue changes made so far are on disk (at once without a store) */
  written(): Promise<void> {
    return this.#opts.store?.written().catch(() => undefined) ?? Promise.resolve();
  }

  /** a /queue message leaves the listener for good: no longer kept */
  #forget(msg: BrokerMessage): void {
    if (msg.storeKey !== undefined) this.#opts.store?.remove(msg);
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

  /** Bytes the broker holds (queues, slow topic subscribers, unacked deliveries). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Destinations with any state; bounded by live subscriptions and non-empty queues. */
  get destinationCount(): number {
    return this.#topics.size + this.#queues.size;
  }

  /**
   * Why `count` more messages of `bytes` in all cannot be held by `destination` (a queue over
   * its messages or bytes, the broker over its total bytes), or undefined when they fit.
   */
  refusal(destination: string, count: number, bytes: number): FerryError | undefined {
    if (destinationKind(destination) !== 'queue') return undefined;
    return this.#refusal(destination, this.#queues.get(destination), count, bytes);
  }

  #refusal(destination: string, q: QueueState | undefined, count: number, bytes: number): FerryError | undefined {
    const limit = (name: string, max: number, what: string): FerryError =>
      new FerryError('LIMIT_EXCEEDED', `${what} (${name} ${max})`, { details: { destination, limit: name, max } });
    if ((q?.buffer.length ?? 0) + count > this.#opts.queueBufferMessages) return limit('queueBufferMessages', this.#opts.queueBufferMessages, `queue ${destination} is full`);
    const perQueue = this.#opts.queueBufferBytes;
    if (perQueue !== undefined && (q?.bytes ?? 0) + bytes > perQueue) return limit('queueBufferBytes', perQueue, `queue ${destination} holds too many bytes`);
    const total = this.#opts.maxBufferedBytes;
    if (total !== undefined && this.#heldBytes + bytes > total) return limit('maxBufferedBytes', total, 'the listener holds too many bytes');
    return undefined;
  }

  /**
   * Publish to a destination. Throws a FerryError `LIMIT_EXCEEDED` when a queue's buffer is
   * full (nothing is held then: the caller tells its client), `PROTOCOL_ERROR` for a
   * destination the broker does not know.
   */
  publish(msg: BrokerMessage): PublishResult {
    const kind = destinationKind(msg.destination);
    if (kind === undefined) throw new FerryError('PROTOCOL_ERROR', `unknown destination ${JSON.stringify(msg.destination)}`, { permanent: true });
    if (kind === 'topic') return this.#publishTopic(msg);
    const name = msg.destination;
    let q = this.#queues.get(name);
    const bytes = messageBytes(msg);
    const refused = this.#refusal(name, q, 1, bytes);
    if (refused !== undefined) throw refused;
    if (q === undefined) {
      q = { buffer: [], bytes: 0, subs: [], rr: 0 };
      this.#queues.set(name, q);
    }
    const store = this.#opts.store;
    const kept = store === undefined ? msg : { ...msg, storeKey: this.#storeKey++ };
    store?.save(kept);
    // taken now; its delivery (an auto-ack send removes it again) goes to disk in the same batch
    const stored = store?.written();
    if (q.buffer.length === 0 && !this.#expired(kept)) {
      // nothing waits before it: straight to the next subscriber that can take it, as #pump
      // would after putting it in the buffer and taking it out again
      const sub = this.#nextSubscriber(q);
      if (sub !== undefined) {
        this.#send(sub, kept, bytes);
        return { delivered: 1, held: 0, stored };
      }
    }
    this.#enqueue(q, [kept], false);
    const before = q.buffer.length;
    this.#pump(q);
    const delivered = before - q.buffer.length;
    return { delivered, held: q.buffer.length > 0 ? 1 : 0, stored };
  }

  subscribe(session: SubscriberSession, id: string, destination: string, ackMode: AckMode): Subscription {
    const kind = destinationKind(destination);
    if (kind === undefined) throw new FerryError('PROTOCOL_ERROR', `unknown destination ${JSON.stringify(destination)}`, { permanent: true });
    const sub = new Subscription(session, id, destination, kind, ackMode);
    if (kind === 'topic') {
      let set = this.#topics.get(destination);
      if (set === undefined) this.#topics.set(destination, (set = new Set()));
      set.add(sub);
    } else {
      let q = this.#queues.get(destination);
      if (q === undefined) this.#queues.set(destination, (q = { buffer: [], bytes: 0, subs: [], rr: 0 }));
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
      this.#heldBytes -= sub.unackedBytes + sub.pendingBytes;
      sub.unacked.clear();
      sub.pending.length = 0;
      sub.unackedBytes = 0;
      sub.pendingBytes = 0;
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
    this.#heldBytes -= sub.unackedBytes;
    sub.unacked.clear();
    sub.unackedBytes = 0;
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
    if (!cumulative) {
      // one delivery (client-individual, or the only one outstanding): no lists
      const m = sub.unacked.get(messageId);
      if (m === undefined) return false;
      sub.unacked.delete(messageId);
      const n = messageBytes(m);
      sub.unackedBytes -= n;
      this.#heldBytes -= n;
      this.#forget(m);
    } else {
      const done = this.#take(sub, messageId, cumulative);
      if (done === undefined) return false;
      for (const m of done) this.#forget(m);
    }
    this.#resumeOne(sub);
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

  /** {@link resume} for one subscription */
  #resumeOne(sub: Subscription): void {
    if (sub.closed) return;
    if (sub.kind === 'topic') {
      this.resume([sub]);
      return;
    }
    const q = this.#queues.get(sub.destination);
    if (q !== undefined) this.#pump(q);
  }

  /** Deliver what waits for these subscriptions (after a drain, an ack, a new subscription). */
  resume(subs: Iterable<Subscription>): void {
    const queues = new Set<QueueState>();
    for (const sub of subs) {
      if (sub.closed) continue;
      if (sub.kind === 'topic') {
        while (sub.pending.length > 0 && this.#canTake(sub)) {
          const m = sub.pending.shift() as BrokerMessage;
          const n = messageBytes(m);
          sub.pendingBytes -= n;
          this.#heldBytes -= n;
          this.#send(sub, m);
        }
      } else {
        const q = this.#queues.get(sub.destination);
        if (q !== undefined) queues.add(q);
      }
    }
    for (const q of queues) this.#pump(q);
  }

  #take(sub: Subscription, messageId: string, cumulative: boolean): BrokerMessage[] | undefined {
    if (!sub.unacked.has(messageId)) return undefined;
    // cumulative (ack mode client): this message and every one delivered before it (STOMP 1.2 §SUBSCRIBE ack Header)
    const ids: string[] = [];
    if (!cumulative) ids.push(messageId);
    else for (const id of sub.unacked.keys()) {
      ids.push(id);
      if (id === messageId) break;
    }
    const out = ids.map((id) => sub.unacked.get(id)!);
    let bytes = 0;
    for (const m of out) bytes += messageBytes(m);
    for (const id of ids) sub.unacked.delete(id);
    sub.unackedBytes -= bytes;
    this.#heldBytes -= bytes;
    return out;
  }

  #requeue(q: QueueState, msgs: BrokerMessage[]): void {
    // Given-back messages go in front, in their original order, and may exceed the bounds:
    // they were accepted once and must not be lost.
    const back = msgs.map((m) => {
      if (m.redelivered) return m;
      const again = { ...m, redelivered: true };
      if (again.storeKey !== undefined) this.#opts.store?.save(again);
      return again;
    });
    this.#enqueue(q, back, true);
  }

  #enqueue(q: QueueState, msgs: BrokerMessage[], front: boolean): void {
    let bytes = 0;
    for (const m of msgs) bytes += messageBytes(m);
    if (front) q.buffer.unshift(...msgs);
    else q.buffer.push(...msgs);
    q.bytes += bytes;
    this.#heldBytes += bytes;
  }

  #dequeue(q: QueueState): BrokerMessage {
    const m = q.buffer.shift() as BrokerMessage;
    const n = messageBytes(m);
    q.bytes -= n;
    this.#heldBytes -= n;
    return m;
  }

  #publishTopic(msg: BrokerMessage): PublishResult {
    const set = this.#topics.get(msg.destination);
    if (set === undefined) return NOTHING_DONE;
    if (this.#expired(msg)) {
      this.#opts.onDrop?.('expired', msg);
      return NOTHING_DONE;
    }
    let delivered = 0;
    let held = 0;
    for (const sub of set) {
      if (sub.pending.length === 0 && this.#canTake(sub)) {
        this.#send(sub, msg);
        delivered++;
      } else if (sub.pending.length < this.#opts.queueBufferMessages && this.#fitsPending(sub, msg)) {
        const n = messageBytes(msg);
        sub.pending.push(msg);
        sub.pendingBytes += n;
        this.#heldBytes += n;
        held++;
      } else {
        // A subscriber that does not keep up loses topic messages (topic semantics), counted.
        this.#opts.onDrop?.('slow-consumer', msg);
      }
    }
    return { delivered, held };
  }

  /** a slow topic subscriber's backlog is bounded like a queue, in bytes as well */
  #fitsPending(sub: Subscription, msg: BrokerMessage): boolean {
    const n = messageBytes(msg);
    const per = this.#opts.queueBufferBytes;
    const total = this.#opts.maxBufferedBytes;
    return (per === undefined || sub.pendingBytes + n <= per) && (total === undefined || this.#heldBytes + n <= total);
  }

  #pump(q: QueueState): void {
    while (q.buffer.length > 0) {
      const sub = this.#nextSubscriber(q);
      if (sub === undefined) return;
      const msg = this.#dequeue(q);
      if (this.#expired(msg)) {
        this.#opts.onDrop?.('expired', msg);
        this.#forget(msg);
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
    if (sub.ackMode === 'auto') return true;
    const max = this.#opts.maxUnackedPerSubscription;
    const maxBytes = this.#opts.maxUnackedBytesPerSubscription;
    // one delivery always fits, so a message larger than the byte bound still goes out alone
    return (max === undefined || sub.unacked.size < max) && (maxBytes === undefined || sub.unacked.size === 0 || sub.unackedBytes < maxBytes);
  }

  /** `bytes`: messageBytes(msg), when the caller has it */
  #send(sub: Subscription, msg: BrokerMessage, bytes?: number): void {
    const messageId = `${this.#prefix}-${++this.#seq}`;
    if (sub.ackMode !== 'auto') {
      const n = bytes ?? messageBytes(msg);
      sub.unacked.set(messageId, msg);
      sub.unackedBytes += n;
      this.#heldBytes += n;
    } else this.#forget(msg);
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
