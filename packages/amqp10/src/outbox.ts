/**
 * The sink side of `amqp10-listener`: one in-memory queue per address and the client receiving
 * links attached to it (Ferry is their sender). The listener is a small broker here, with the
 * semantics of a queue (RabbitMQ's, or the stomp-listener's `/queue`):
 *
 * - A write is confirmed once the listener has TAKEN the message. With a receiver attached, that
 *   is when the receiver accepted it (§3.4.2): the write waits for the outcome; `rejected`
 *   fails it permanently; `released` (§3.4.4) puts it back at the front of the queue for the
 *   next receiver. With no receiver attached, it is when the message is in the queue (bounded
 *   by `queueBufferMessages`; full → LIMIT_EXCEEDED, transient, so the source keeps it).
 * - Queued messages go out in order, round robin over the receivers with credit (§2.6.7:
 *   competing consumers). A taken message that a receiver rejects cannot fail its write any
 *   more (it was confirmed): it is dropped, counted and logged. Released, or on a link that
 *   detaches or a connection that is lost before the outcome, it goes back to the front of
 *   the queue (the broker's requeue); when the last receiver of an address goes away, the
 *   writes still waiting there are confirmed (the queue took them).
 * - A receiver that attached with snd-settle-mode `settled` (§2.7.3) gets pre-settled
 *   transfers: a message sent to it is done (at-most-once by the client's choice).
 */
import { ConnectorCounters, FerryError, hasExpired, type Logger, type Metrics } from '@ferry/core';
import type rhea from 'rhea';
import { stampTtl, type Outgoing } from './mapping.js';
import { outcomeError } from './outcomes.js';
import type { Amqp10QueueStore } from './queue-store.js';

/** rhea keeps a link's credit in `credit` (lib/link.js); its typings do not declare it. */
type WithCredit = rhea.Sender & { readonly credit: number };

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (e: FerryError) => void;
}

interface Entry {
  readonly out: Outgoing;
  /** the order of writes to the address: requeued entries go back to their place */
  readonly seq: number;
  readonly messageId: string | undefined;
  /** the write still waiting for this message's outcome; undefined once the listener took it */
  waiter: Waiter | undefined;
  /** the link that released it last: the next receiver is preferred (when another can take it) */
  avoid: OutLink | undefined;
}

/** A client's receiving link: Ferry's sender. */
export interface OutLink {
  readonly address: string;
  readonly sender: rhea.Sender;
  /** false once the client's connection is gone */
  readonly alive: () => boolean;
  /** the client asked for pre-settled deliveries */
  readonly presettled: boolean;
  readonly pending: Map<rhea.Delivery, Entry>;
  /** bytes of `pending`: sent, not yet settled */
  pendingBytes: number;
  /** sends handed to rhea this turn (rhea lowers `credit` only when it writes the transfer) */
  burst: number;
  /** false until rhea wrote this side's attach (see attach()) */
  attached: boolean;
}

interface AddressState {
  readonly links: OutLink[];
  readonly queue: Entry[];
  /** bytes of `queue` */
  bytes: number;
  /** the last write was refused for a limit (one warning per run of refusals) */
  refusing: boolean;
  next: number;
  seq: number;
}

export interface OutboxOptions {
  readonly connector: string;
  readonly queueBufferMessages: number;
  /** bytes one address's queue holds */
  readonly queueBufferBytes: number;
  /** bytes the whole outbox holds: every queue and every receiver's unsettled messages */
  readonly maxBufferedBytes: number;
  /** bytes sent to one receiving link and not yet settled before it gets no more (one always goes) */
  readonly maxUnsettledBytesPerReceiver: number;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /**
   * Addresses that behave like topics: with no receiver attached, a message is confirmed and
   * dropped (nobody is there to get it, as with an MQTT topic nobody subscribes to), and when
   * the last receiver goes away its queue is dropped; never kept for a later receiver.
   */
  readonly isTopic?: (address: string) => boolean;
  /** keeps what the queues took across restarts; absent: they live in memory */
  readonly store?: Amqp10QueueStore | undefined;
}

type Kind = 'accepted' | 'rejected' | 'released' | 'modified' | 'none';

/** The outcome (§3.4) rhea recorded on a delivery from the client's disposition, if any. */
function remoteOutcome(d: rhea.Delivery): Kind | undefined {
  const state: unknown = d.remote_state;
  if (typeof state !== 'object' || state === null) return undefined;
  // rhea's outcome classes carry their name as `composite_type` (lib/message.js unwrap_outcome)
  const type = (state.constructor as { composite_type?: unknown }).composite_type;
  return type === 'accepted' || type === 'rejected' || type === 'released' || type === 'modified' ? type : undefined;
}

export class Outbox {
  readonly #opts: OutboxOptions;
  readonly #counters: ConnectorCounters;
  readonly #addresses = new Map<string, AddressState>();
  /** bytes held: queued and sent-unsettled, over all addresses */
  #heldBytes = 0;

  constructor(opts: OutboxOptions) {
    this.#opts = opts;
    this.#counters = new ConnectorCounters(opts.metrics, opts.connector);
  }

  /** bytes held: every queue and every receiver's unsettled messages */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Put back the messages a previous run took and no receiver accepted (at the back of their
   * queues, in write order); at every start, since `close` empties the queues in memory and
   * keeps them in the store. A record that cannot be read comes back as an error naming it.
   */
  async restore(): Promise<{ messages: number; corrupt: FerryError[] }> {
    const store = this.#opts.store;
    if (store === undefined) return { messages: 0, corrupt: [] };
    const { messages, corrupt } = await store.load();
    for (const m of messages) {
      // a topic-like address keeps nothing for a receiver not yet there
      if (this.#opts.isTopic?.(m.address) === true) {
        store.remove(m.address, m.seq);
        continue;
      }
      const a = this.#address(m.address);
      a.seq = Math.max(a.seq, m.seq + 1);
      this.#enqueue(a, { out: m.out, seq: m.seq, messageId: m.messageId, waiter: undefined, avoid: undefined }, a.queue.length);
    }
    return { messages: messages.length, corrupt };
  }

  /** the entry left the listener for good (accepted, expired, refused): no longer kept */
  #forget(address: string, e: Entry): void {
    this.#opts.store?.remove(address, e.seq);
  }

  /** resolve a write the queue took once it is on disk (at once without a store) */
  #taken(w: Waiter): void {
    const store = this.#opts.store;
    if (store === undefined) return w.resolve();
    store.written().then(w.resolve, (err: unknown) => w.reject(FerryError.is(err) ? err : new FerryError('SPOOL_IO', String(err))));
  }

  /** messages waiting in the queue of `address` (taken or not), for tests and admin */
  queued(address: string): number {
    return this.#addresses.get(address)?.queue.length ?? 0;
  }

  #address(address: string): AddressState {
    let a = this.#addresses.get(address);
    if (a === undefined) {
      a = { links: [], queue: [], bytes: 0, refusing: false, next: 0, seq: 0 };
      this.#addresses.set(address, a);
    }
    return a;
  }

  write(address: string, out: Outgoing, messageId: string | undefined): Promise<void> {
    const a = this.#address(address);
    // a topic with no receiver keeps nothing: no limit to check
    if (a.links.length === 0 && this.#opts.isTopic?.(address) === true) {
      this.#counters.dropped('no-receiver');
      return Promise.resolve();
    }
    const refused = this.#refusal(a, address, out.bytes.length);
    if (refused !== undefined) {
      this.#opts.metrics.inc('limits_exceeded_total', { connector: this.#opts.connector, limit: refused.details.limit as string });
      if (!a.refusing) this.#opts.logger.warn(`amqp10-listener refuses writes to ${address}: ${refused.message}`, { ...refused.details });
      a.refusing = true;
      return Promise.reject(refused);
    }
    a.refusing = false;
    const entry: Entry = { out, seq: a.seq++, messageId, waiter: undefined, avoid: undefined };
    this.#opts.store?.save(address, entry.seq, out, messageId);
    if (a.links.length === 0) {
      // no receiver: the listener takes the message now, as a broker confirms an enqueued
      // publish (with a store: once it is on disk)
      this.#enqueue(a, entry, a.queue.length);
      return new Promise<void>((resolve, reject) => this.#taken({ resolve, reject }));
    }
    return new Promise<void>((resolve, reject) => {
      entry.waiter = { resolve, reject };
      this.#enqueue(a, entry, a.queue.length);
      this.#pump(address);
    });
  }

  /**
   * Why a message of `bytes` cannot be held for `address` now: its queue over its count or
   * bytes, or the outbox over its total, with no receiver ready to take it at once. Transient
   * (LIMIT_EXCEEDED): the source keeps the message and tries again.
   */
  #refusal(a: AddressState, address: string, bytes: number): FerryError | undefined {
    const o = this.#opts;
    const over = (limit: string, max: number, what: string): FerryError =>
      new FerryError('LIMIT_EXCEEDED', `amqp10-listener ${o.connector}: ${what} (${limit} ${max})`, { details: { address, limit, max } });
    let err: FerryError | undefined;
    if (a.queue.length >= o.queueBufferMessages) err = over('queueBufferMessages', o.queueBufferMessages, `${a.queue.length} messages already wait in the queue of ${address}`);
    else if (a.bytes + bytes > o.queueBufferBytes) err = over('queueBufferBytes', o.queueBufferBytes, `the queue of ${address} holds ${a.bytes} bytes`);
    else if (this.#heldBytes + bytes > o.maxBufferedBytes) err = over('maxBufferedBytes', o.maxBufferedBytes, `the listener holds ${this.#heldBytes} bytes`);
    // a receiver ready now takes it without queueing (the queue is then empty, or it would be first in line)
    if (err === undefined || (a.queue.length === 0 && this.#pick(a, undefined) !== undefined)) return undefined;
    return err;
  }

  #enqueue(a: AddressState, e: Entry, at: number): void {
    a.queue.splice(at, 0, e);
    a.bytes += e.out.bytes.length;
    this.#heldBytes += e.out.bytes.length;
  }

  #dequeue(a: AddressState): Entry {
    const e = a.queue.shift() as Entry;
    a.bytes -= e.out.bytes.length;
    this.#heldBytes -= e.out.bytes.length;
    return e;
  }

  /** A client attached a receiving link to `address`: wire its outcomes and start sending. */
  attach(address: string, sender: rhea.Sender, alive: () => boolean, presettled: boolean): OutLink {
    const link: OutLink = { address, sender, alive, presettled, pending: new Map(), pendingBytes: 0, burst: 0, attached: false };
    this.#address(address).links.push(link);
    // §2.6.2: a transfer is only valid on a handle the receiver saw attached. rhea answers the
    // attach on its next process tick (process.nextTick) and writes a session's transfers
    // before its links' attaches (lib/session.js _process): a message sent from this event, or
    // from the 'sendable' raised by a flow read with the attach, would go out first and the
    // client (Qpid Proton: "no such handle") closes the connection. Sends start once that tick
    // has written the attach.
    setImmediate(() => {
      link.attached = true;
      this.#pump(address);
    });
    const on = (kind: Kind) => (ctx: rhea.EventContext) => this.#outcome(link, ctx.delivery, kind);
    sender.on('sendable', () => this.#pump(address));
    sender.on('accepted', on('accepted'));
    sender.on('rejected', on('rejected'));
    sender.on('released', on('released'));
    sender.on('modified', on('modified'));
    // rhea emits 'settled' after the outcome events too; by then the entry is gone. Alone, it
    // is a settlement without an outcome (§3.4): the message's fate is unknown, so it is requeued
    sender.on('settled', on('none'));
    return link;
  }

  /** The link detached or its connection is gone: what it had unsettled goes back to the queue. */
  detach(link: OutLink): void {
    const a = this.#addresses.get(link.address);
    if (a === undefined) return;
    const i = a.links.indexOf(link);
    if (i < 0) return;
    a.links.splice(i, 1);
    if (a.next > i) a.next--;
    // outcomes that arrived before the detach count first. rhea records a disposition on the
    // delivery as it reads it (lib/session.js Outgoing.on_disposition) but raises its event on
    // the next process tick, after a detach read in the same chunk: without this, messages the
    // client accepted would be requeued and delivered twice (§2.6.12: the outcome is final).
    for (const d of [...link.pending.keys()]) {
      const kind = remoteOutcome(d);
      if (kind !== undefined) this.#outcome(link, d, kind);
    }
    const unsettled = [...link.pending.values()];
    this.#heldBytes -= link.pendingBytes;
    link.pending.clear();
    link.pendingBytes = 0;
    for (const e of unsettled) this.#requeue(a, e, undefined);
    if (unsettled.length > 0) this.#opts.logger.info(`amqp10-listener requeued ${unsettled.length} unsettled messages of a receiver of ${link.address} that went away`);
    this.#pump(link.address);
  }

  #outcome(link: OutLink, d: rhea.Delivery | undefined, kind: Kind): void {
    if (d === undefined) return;
    const e = link.pending.get(d);
    if (e === undefined) return;
    link.pending.delete(d);
    link.pendingBytes -= e.out.bytes.length;
    this.#heldBytes -= e.out.bytes.length;
    const a = this.#address(link.address);
    if (kind === 'accepted') {
      this.#counters.sent();
      this.#forget(link.address, e);
      e.waiter?.resolve();
    } else {
      const err =
        kind === 'none'
          ? new FerryError('SINK_REJECTED', `a client settled a message for ${link.address} without an outcome`, { details: { outcome: 'none' } })
          : outcomeError(kind, d.remote_state, link.address);
      // rejected, or modified with undeliverable-here (§3.4.5): permanent; the rest may be
      // delivered again (released §3.4.4, modified, no outcome)
      if (err.permanent) this.#refused(e, err, link.address);
      else this.#requeue(a, e, link);
    }
    this.#pump(link.address);
  }

  /** A receiver refused the message for good. */
  #refused(e: Entry, err: FerryError, address: string): void {
    this.#forget(address, e);
    if (e.waiter !== undefined) {
      e.waiter.reject(err);
      return;
    }
    // the write was confirmed when the listener took it: nobody upstream can be told any more
    this.#counters.dropped('rejected-by-receiver');
    this.#opts.logger.warn(`amqp10-listener dropped a queued message for ${address} that a receiver rejected`, { messageId: e.messageId, error: err.message });
  }

  /** Back into the queue at its place by write order (ahead of everything written after it). */
  #requeue(a: AddressState, e: Entry, avoid: OutLink | undefined): void {
    e.avoid = avoid;
    // given back: it may take the queue over its bounds, it was taken once and must not be lost
    let i = 0;
    while (i < a.queue.length && (a.queue[i] as Entry).seq < e.seq) i++;
    this.#enqueue(a, e, i);
  }

  #pump(address: string): void {
    const a = this.#addresses.get(address);
    if (a === undefined) return;
    while (a.queue.length > 0) {
      const e = a.queue[0] as Entry;
      const now = Date.now();
      if (hasExpired(e.out, now)) {
        // it expired while queued: a broker discards it (§3.2.1); its write, if still
        // waiting, is done (the message was taken and its life is over)
        this.#dequeue(a);
        this.#counters.dropped('expired');
        this.#forget(address, e);
        e.waiter?.resolve();
        continue;
      }
      const link = this.#pick(a, e.avoid);
      if (link === undefined) break;
      this.#dequeue(a);
      e.avoid = undefined;
      const d = link.sender.send(stampTtl(e.out, now), undefined, e.out.format);
      link.burst++;
      if (link.burst === 1) {
        setImmediate(() => {
          link.burst = 0;
          this.#pump(address);
        });
      }
      if (link.presettled) {
        // the client chose at-most-once: there will be no outcome
        this.#counters.sent();
        this.#forget(address, e);
        e.waiter?.resolve();
      } else {
        link.pending.set(d, e);
        link.pendingBytes += e.out.bytes.length;
        this.#heldBytes += e.out.bytes.length;
      }
    }
    if (a.links.length === 0) {
      // no receiver left: the queue takes the writes that were waiting for one (a topic keeps nothing)
      for (const e of a.queue) {
        const w = e.waiter;
        e.waiter = undefined;
        if (w !== undefined) this.#taken(w);
      }
      if (this.#opts.isTopic?.(address) === true && a.queue.length > 0) {
        for (const e of a.queue) this.#forget(address, e);
        this.#counters.dropped('no-receiver', a.queue.length);
        a.queue.length = 0;
        this.#heldBytes -= a.bytes;
        a.bytes = 0;
      }
    }
  }

  /** Round robin over the attached receivers that have credit (§2.6.7), `avoid` last. */
  #pick(a: AddressState, avoid: OutLink | undefined): OutLink | undefined {
    const maxUnsettled = this.#opts.maxUnsettledBytesPerReceiver;
    const usable = (l: OutLink): boolean => l.attached && (l.pending.size === 0 || l.pendingBytes < maxUnsettled) && l.alive() && l.sender.is_open() && l.sender.sendable() && (l.sender as WithCredit).credit - l.burst > 0;
    for (let k = 0; k < a.links.length; k++) {
      const i = (a.next + k) % a.links.length;
      const l = a.links[i] as OutLink;
      if (l !== avoid && usable(l)) {
        a.next = i + 1;
        return l;
      }
    }
    return avoid !== undefined && a.links.includes(avoid) && usable(avoid) ? avoid : undefined;
  }

  /**
   * On stop: writes still waiting fail with `err`; messages the listener had taken and not
   * delivered are lost with it when the queue is in memory (counted and logged), or stay in the
   * store for `restore`.
   */
  close(err: FerryError): void {
    let dropped = 0;
    for (const [address, a] of this.#addresses) {
      const all = [...a.links.flatMap((l) => [...l.pending.values()]), ...a.queue.splice(0)];
      for (const l of a.links) {
        l.pending.clear();
        l.pendingBytes = 0;
      }
      a.bytes = 0;
      a.links.length = 0;
      for (const e of all) {
        if (e.waiter !== undefined) {
          // not confirmed: its source keeps it and writes it again, so the store does not
          this.#forget(address, e);
          e.waiter.reject(err);
        } else dropped++;
      }
      if (all.length > 0) this.#opts.logger.debug(`amqp10-listener closed the queue of ${address}`, { messages: all.length });
    }
    this.#heldBytes = 0;
    if (dropped > 0 && this.#opts.store !== undefined) {
      this.#opts.logger.info(`amqp10-listener stopped with ${dropped} taken messages not yet delivered to a receiver; they are kept in ${this.#opts.store.location}`, { kept: dropped });
    } else if (dropped > 0) {
      this.#counters.dropped('shutdown', dropped);
      this.#opts.logger.warn(`amqp10-listener stopped with ${dropped} taken messages not yet delivered to a receiver; they are dropped`, { dropped });
    }
  }
}
