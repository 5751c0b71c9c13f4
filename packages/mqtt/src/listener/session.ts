import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { ProtocolVersion, PublishProperties } from '../mapping.js';
import type { OutboundItem, Subscription } from './types.js';
import { IdTable } from './id-table.js';
import { SparseMap } from './sparse.js';
import { OneEntryMap } from './one-entry-map.js';
import { WaitingRoom, type RoomTicket, type Waiter } from './room-wait.js';

/** The connection a session is attached to, as the session sees it. */
export interface Outlet {
  readonly version: ProtocolVersion;
  /** the client's Receive Maximum (MQTT 5 §3.1.2.11.3); 65535 for 3.1.1 */
  readonly receiveMaximum: number;
  /** bytes queued in the socket, not yet written */
  readonly backlog: number;
  /** 'too-large': over the client's Maximum Packet Size; 'invalid': could not be encoded */
  send(packet: Packet): 'sent' | 'too-large' | 'invalid' | 'closed';
  /**
   * A PUBLISH of `item` without MQTT 5 properties, encoded from the item itself (no packet
   * object): every delivery to a 3.1.1 client, and to an MQTT 5 one when nothing travels in
   * properties. Answers as {@link send}.
   */
  sendPlainPublish(item: OutboundItem, messageId: number | undefined, dup: boolean): 'sent' | 'too-large' | 'invalid' | 'closed';
}

/** How an acknowledgement from the client matched what is in flight. */
export type AckResult = 'ok' | 'unknown' | 'mismatched';

/** Why a message meant for a session was not sent. */
export type DropReason = 'expired' | 'queue-full' | 'qos0-offline' | 'qos0-slow-subscriber' | 'too-large-for-client' | 'unencodable';

/** QoS 0 messages are dropped for a subscriber whose socket already holds this much unsent data. */
const QOS0_BACKLOG_LIMIT = 8 * 1024 * 1024;

/**
 * QoS 1/2 messages are not written while the subscriber's socket holds this much unsent data;
 * they wait in the session's queue and go out when the socket drains.
 */
export const WRITE_HIGH_WATER = 1024 * 1024;

/** What one session may hold for its subscriber (see the listener options of the same names). */
export interface SessionLimits {
  /** QoS 1/2 messages queued, and their bytes */
  readonly queueMessages: number;
  readonly queueBytes: number;
  /** QoS 1/2 messages written and not yet acknowledged, and their bytes */
  readonly inflightMessages: number;
  readonly inflightBytes: number;
  /**
   * how long a client publish may wait for room in this session's full queue while the session
   * admits nothing (see room-wait.ts); 0: never wait, drop at once
   */
  readonly queueWaitMs: number;
}

/** what a message costs a session: its payload and topic, the bulk of what is kept */
function itemBytes(item: OutboundItem): number {
  return item.message.payload.length + item.message.topic.length;
}

/** A QoS 1/2 message held by a session, queued or in flight: the copy itself (types.ts), no object around it. */
export type SessionEntry = OutboundItem;

/**
 * Where a persistent session mirrors its messages (listener-state.ts writes them to the
 * listener store): every change of what it holds, so a restart finds the same queue and the
 * same packet ids in flight (MQTT 5 §4.4 resends them with DUP).
 */
export interface SessionJournal {
  /** a message entered the session, or its state changed (sent with a packet id, PUBREC'd) */
  save(session: Session, entry: SessionEntry): void;
  /** it left the session (acknowledged, expired, handed to another member, cleared) */
  remove(session: Session, entry: SessionEntry): void;
}

/**
 * Session state (MQTT 5 §4.1): subscriptions, QoS 1/2 messages sent but not acknowledged,
 * messages queued while the client is away or its Receive Maximum is used up, and the packet
 * ids of QoS 2 publishes received but not yet released. Lives in memory; a persistent session
 * with a listener store mirrors its messages into a {@link SessionJournal}.
 */
export class Session {
  readonly clientId: string;
  /** the user that created the session (undefined: anonymous); only it may resume the session */
  readonly owner: string | undefined;
  readonly subscriptions = new OneEntryMap<string, Subscription>();
  /** QoS 2 publishes from the client: 'held' while its settlement is pending, 'received' once PUBREC was sent */
  readonly incomingQos2 = new SparseMap<number, 'held' | 'received'>();
  /** seconds the session outlives its connection; Infinity for 3.1.1 persistent sessions */
  expiryInterval = 0;
  expiryTimer: NodeJS.Timeout | undefined;
  readonly #queue: SessionEntry[] = [];
  /** by packet id; see id-table.ts for why not a Map */
  readonly #inflight = new IdTable<SessionEntry>();
  #journal: SessionJournal | undefined;
  #nextKey = 0;
  readonly #limits: SessionLimits;
  readonly #onDrop: (reason: DropReason) => void;
  #outlet: Outlet | undefined;
  #nextId = 1;
  #queuedBytes = 0;
  #inflightBytes = 0;
  /** copies of client publishes waiting for room in the full queue; made when first needed */
  #room: WaitingRoom | undefined;

  constructor(clientId: string, limits: SessionLimits, onDrop: (reason: DropReason) => void, owner?: string) {
    this.clientId = clientId;
    this.owner = owner;
    this.#limits = limits;
    this.#onDrop = onDrop;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get inflightBytes(): number {
    return this.#inflightBytes;
  }

  get journal(): SessionJournal | undefined {
    return this.#journal;
  }

  /**
   * Mirror this session into `journal` from now on (it became persistent: everything it holds
   * is saved), or stop (undefined: everything it held there is removed).
   */
  setJournal(journal: SessionJournal | undefined): void {
    const before = this.#journal;
    if (before === journal) return;
    this.#journal = journal;
    for (const e of this.#entries()) {
      before?.remove(this, e);
      journal?.save(this, e);
    }
  }

  /**
   * Put back what a persistent session held before a restart: in flight with their packet ids
   * (resent with DUP on attach, MQTT 5 §4.4), then queued, in their old order.
   */
  restore(entries: readonly SessionEntry[], journal: SessionJournal | undefined): void {
    // what is restored is in the journal already: mirrored from now on, not written again
    this.#journal = journal;
    for (const e of [...entries].sort((a, b) => a.key - b.key)) {
      this.#nextKey = Math.max(this.#nextKey, e.key + 1);
      const size = itemBytes(e);
      if (e.state !== 'queued' && e.id !== undefined && !this.#inflight.has(e.id)) {
        this.#inflight.set(e.id, e);
        this.#inflightBytes += size;
      } else {
        e.state = 'queued';
        e.id = undefined;
        this.#queue.push(e);
        this.#queuedBytes += size;
      }
    }
  }

  #entries(): SessionEntry[] {
    return [...this.#inflightInOrder().map(([, e]) => e), ...this.#queue];
  }

  /** what is in flight, in the order it was sent (its keys' order): MQTT 5 §4.6 resends in that order */
  #inflightInOrder(): [number, SessionEntry][] {
    return this.#inflight.entries().sort((a, b) => a[1].key - b[1].key);
  }

  get connected(): boolean {
    return this.#outlet !== undefined;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get inflight(): number {
    return this.#inflight.size;
  }

  /** copies of client publishes waiting for room in the queue, their acknowledgements held */
  get waiting(): number {
    return this.#room?.size ?? 0;
  }

  /** Attach a connection; resend what was in flight (§4.4), then what queued up. */
  attach(outlet: Outlet): void {
    this.#outlet = outlet;
    for (const [id, f] of this.#inflightInOrder()) {
      if (f.state === 'pubrel') outlet.send({ cmd: 'pubrel', messageId: id });
      // an expired message is not resent (MQTT 5 §3.3.2.3.3), nor kept in flight
      else if (this.#sendPublish(f, id, true) === 'dropped') this.#forget(id);
    }
    this.pump();
  }

  detach(outlet: Outlet): void {
    if (this.#outlet !== outlet) return;
    this.#outlet = undefined;
    // an absent subscriber holds no publisher (as Mosquitto's max_queued_messages): what waits
    // takes the room there is, the rest is dropped and counted, and their publishers are answered
    this.#admit();
    this.#dropWaiting(true);
  }

  /**
   * Queue (QoS 1/2) or send (QoS 0) a message for this session. `ticket`: the client publish it
   * is a copy of, when that publish's acknowledgement can wait. A full queue of a connected
   * subscriber then holds the copy, and with it the publisher's PUBACK / PUBREC, until there is
   * room (backpressure to the publisher, see room-wait.ts); without a ticket (retained messages,
   * wills), for an absent subscriber, or for the publisher's own session (its own
   * acknowledgements are what make room, and a held publish can stop its socket being read),
   * a full queue drops the message and counts it. The ticket learns what became of the copy
   * (queued, or refused by a connected subscriber), which decides whether a sink write confirms.
   */
  deliver(item: OutboundItem, ticket?: RoomTicket): void {
    const outlet = this.#outlet;
    if (item.qos === 0) {
      // QoS 0 is never queued for an absent client (§4.3.1: at most once)
      if (outlet === undefined) return this.#onDrop('qos0-offline');
      if (outlet.backlog > QOS0_BACKLOG_LIMIT) return this.#onDrop('qos0-slow-subscriber');
      this.#sendPublish(item, undefined, false);
      return;
    }
    const size = itemBytes(item);
    // bounded in messages and in bytes; what waits for room goes first, in order
    if (this.waiting > 0 || !this.#fits(size)) {
      const wait = ticket !== undefined && outlet !== undefined && item.message.origin !== this.clientId && size <= this.#limits.queueBytes;
      if (wait && (this.#room?.open ?? this.#limits.queueWaitMs > 0)) {
        this.#room ??= new WaitingRoom(this.#limits.queueWaitMs, () => this.#onDrop('queue-full'));
        this.#room.add(item, ticket);
        return;
      }
      if (ticket !== undefined && outlet !== undefined && item.message.origin !== this.clientId) ticket.refuse(size > this.#limits.queueBytes);
      return this.#onDrop('queue-full');
    }
    ticket?.queued();
    this.#enqueue(item);
    this.pump();
  }

  #fits(size: number): boolean {
    return this.#queue.length < this.#limits.queueMessages && this.#queuedBytes + size <= this.#limits.queueBytes;
  }

  #enqueue(item: OutboundItem): void {
    item.key = this.#nextKey++;
    item.id = undefined;
    item.state = 'queued';
    this.#queue.push(item);
    this.#queuedBytes += itemBytes(item);
    this.#journal?.save(this, item);
  }

  /** move waiting copies into the queue while it has room; true if any moved */
  #admit(): boolean {
    const room = this.#room;
    if (room === undefined) return false;
    let moved = false;
    for (let w = room.peek(); w !== undefined && this.#fits(itemBytes(w.item)); w = room.peek()) {
      this.#enqueue(w.item);
      // the publisher's acknowledgement may go now (when this was its last waiting copy)
      room.admitFirst();
      moved = true;
    }
    return moved;
  }

  /** drop what waits (counted when `count`) and answer its publishers */
  #dropWaiting(count: boolean): void {
    for (const w of this.#room?.take(() => true) ?? []) {
      if (count) this.#onDrop('queue-full');
      w.ticket.release();
    }
  }

  /**
   * Send queued messages while the window allows: the client's Receive Maximum (§4.9) and the
   * listener's in-flight bounds in messages and bytes (one message always, however large), and
   * only while the socket's unsent data is below {@link WRITE_HIGH_WATER}; the connection calls
   * this again when an acknowledgement frees the window and when the socket drains.
   */
  pump(): void {
    const outlet = this.#outlet;
    if (outlet === undefined) return;
    // what leaves the queue makes room for what waits, which may then be sent in turn
    while (this.#send(outlet) && this.#admit());
  }

  /** send queued messages while the window allows; false once the connection is closed */
  #send(outlet: Outlet): boolean {
    const before = this.#queue.length;
    const more = this.#sendQueued(outlet);
    if (this.#queue.length < before) this.#room?.progressed();
    return more;
  }

  #sendQueued(outlet: Outlet): boolean {
    const window = Math.min(outlet.receiveMaximum, this.#limits.inflightMessages);
    while (this.#queue.length > 0 && this.#inflight.size < window && outlet.backlog <= WRITE_HIGH_WATER) {
      const entry = this.#queue[0] as SessionEntry;
      const size = itemBytes(entry);
      if (this.#inflight.size > 0 && this.#inflightBytes + size > this.#limits.inflightBytes) return true;
      const id = this.#allocateId();
      if (id === undefined) return true;
      this.#queue.shift();
      this.#queuedBytes -= size;
      entry.id = id;
      entry.state = 'publish';
      this.#inflight.set(id, entry);
      this.#inflightBytes += size;
      // saved before it is written: a restart resends it under the same packet id (§4.4)
      this.#journal?.save(this, entry);
      const r = this.#sendPublish(entry, id, false);
      if (r !== 'sent' && r !== 'closed') this.#forget(id);
      if (r === 'closed') return false;
    }
    return true;
  }

  /** a message leaves the in-flight window */
  #forget(id: number): void {
    const f = this.#inflight.get(id);
    if (f === undefined) return;
    this.#inflight.delete(id);
    this.#inflightBytes -= itemBytes(f);
    this.#journal?.remove(this, f);
  }

  /**
   * PUBACK (QoS 1) or PUBCOMP (QoS 2, after PUBREL) from the client completes a message
   * (§4.3.2, §4.3.3). 'unknown': no message in flight has that id; 'mismatched': the ack is of
   * the wrong kind for it.
   */
  complete(id: number, cmd: 'puback' | 'pubcomp'): AckResult {
    const f = this.#inflight.get(id);
    if (f === undefined) return 'unknown';
    if (cmd === 'puback' ? f.qos !== 1 : f.state !== 'pubrel') return 'mismatched';
    this.#forget(id);
    this.pump();
    return 'ok';
  }

  /** PUBREC: answer PUBREL (§4.3.3); a PUBREC with a failure code ends the flow (MQTT 5 §4.3.3). */
  received(id: number, reasonCode: number | undefined): AckResult {
    const f = this.#inflight.get(id);
    if (f === undefined) return 'unknown';
    if (f.qos !== 2) return 'mismatched';
    if (reasonCode !== undefined && reasonCode >= 0x80) {
      this.#forget(id);
      this.pump();
      return 'ok';
    }
    // a repeated PUBREC (the client saw the PUBLISH again after a reconnect) gets PUBREL again
    if (f.state !== 'pubrel') {
      f.state = 'pubrel';
      this.#journal?.save(this, f);
    }
    this.#outlet?.send({ cmd: 'pubrel', messageId: id });
    return 'ok';
  }

  /**
   * Take out the messages a shared subscription (`share`, the whole `$share/...` string) chose
   * this session for, so another member of the group gets them: every queued one, and, with
   * `inflight`, QoS 1 messages sent but not acknowledged (MQTT 5 §4.8.2 allows sending them to
   * another subscriber when the connection breaks). QoS 2 messages in flight stay: §4.8.2
   * [MQTT-4.8.2-4, -5] has their delivery completed to this client, or to nobody. Copies waiting
   * for room come last, with the publishes they hold, for the caller to deliver and release.
   */
  takeShared(share: string, inflight: boolean): { readonly item: OutboundItem; readonly ticket?: RoomTicket }[] {
    const taken: { readonly item: OutboundItem; readonly ticket?: RoomTicket }[] = [];
    if (inflight) {
      for (const [id, f] of this.#inflightInOrder()) {
        if (f.share !== share || f.qos !== 1) continue;
        taken.push({ item: f });
        this.#forget(id);
      }
    }
    for (let i = 0; i < this.#queue.length; ) {
      const entry = this.#queue[i] as SessionEntry;
      if (entry.share !== share) {
        i++;
        continue;
      }
      this.#queue.splice(i, 1);
      this.#queuedBytes -= itemBytes(entry);
      this.#journal?.remove(this, entry);
      taken.push({ item: entry });
    }
    const waiting: readonly Waiter[] = this.#room?.take((w) => w.item.share === share) ?? [];
    return taken.concat(waiting);
  }

  /** Forget everything sent or queued (a clean start replaced the session). */
  clearMessages(): void {
    for (const e of this.#entries()) this.#journal?.remove(this, e);
    this.#queue.length = 0;
    this.#inflight.clear();
    this.#queuedBytes = 0;
    this.#inflightBytes = 0;
    this.incomingQos2.clear();
    // the session they waited for is gone: their publishers are answered
    this.#dropWaiting(false);
  }

  #allocateId(): number | undefined {
    for (let n = 0; n < 65535; n++) {
      const id = this.#nextId;
      this.#nextId = id >= 65535 ? 1 : id + 1;
      if (!this.#inflight.has(id)) return id;
    }
    return undefined;
  }

  #sendPublish(item: OutboundItem, messageId: number | undefined, dup: boolean): 'sent' | 'closed' | 'dropped' {
    const outlet = this.#outlet;
    if (outlet === undefined) return 'closed';
    const m = item.message;
    let remaining: number | undefined;
    if (m.expiresAt !== undefined) {
      // the clock is read only for a message that expires
      const ms = m.expiresAt - Date.now();
      // MQTT 5 §3.3.2.3.3: an expired message is not delivered; otherwise the interval sent is
      // what is left of it
      if (ms <= 0) {
        this.#onDrop('expired');
        return 'dropped';
      }
      remaining = Math.ceil(ms / 1000);
    }
    // MQTT 3.1.1 has no properties; MQTT 5 has none to send for most messages
    if (outlet.version !== 5 || (remaining === undefined && m.properties === undefined && item.subscriptionIds.length === 0)) return this.#sent(outlet.sendPlainPublish(item, messageId, dup));
    const packet: IPublishPacket = {
      cmd: 'publish',
      topic: m.topic,
      payload: m.payload,
      qos: item.qos,
      retain: item.retain,
      dup,
    };
    if (messageId !== undefined) packet.messageId = messageId;
    // MQTT 5 from here on
    const props: PublishProperties = { ...m.properties };
    if (remaining !== undefined) props.messageExpiryInterval = remaining;
    // §3.3.4: the identifiers of every matching subscription of this client
    if (item.subscriptionIds.length === 1) props.subscriptionIdentifier = item.subscriptionIds[0];
    else if (item.subscriptionIds.length > 1) props.subscriptionIdentifier = [...item.subscriptionIds];
    if (Object.keys(props).length > 0) packet.properties = props;
    return this.#sent(outlet.send(packet));
  }

  #sent(r: 'sent' | 'too-large' | 'invalid' | 'closed'): 'sent' | 'closed' | 'dropped' {
    if (r === 'too-large') {
      // MQTT 5 §3.1.2.11.4: discard a packet larger than the client's Maximum Packet Size and
      // behave as if it had been delivered
      this.#onDrop('too-large-for-client');
      return 'dropped';
    }
    if (r === 'invalid') {
      this.#onDrop('unencodable');
      return 'dropped';
    }
    return r;
  }
}
