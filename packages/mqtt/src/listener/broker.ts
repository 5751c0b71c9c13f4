import { randomUUID } from 'node:crypto';
import { ConnectorCounters, describeError, gaugeHandle, reportRestore, type ListenerStore, type LoginAttempt, type LoginResult, type GaugeHandle, type Logger, type Metrics, type Outcome } from '@ferry/core';
import type { AcceptedConnection } from '@ferry/net';
import type { BrokerConfig, BrokerCore } from './broker-core.js';
import { Connection } from './connection.js';
import { ConnectionStreams } from './connection-streams.js';
import { NO_IDS, copyFor, merge, outbound } from './copies.js';
import { KeepAliveSweep } from './keep-alive-sweep.js';
import { RC } from './reason-codes.js';
import { MqttListenerState } from './listener-state.js';
import { RetainedStore } from './retained.js';
import { RoomTicket } from './room-wait.js';
import type { DeviceParts } from '../device-parts.js';
import type { HeldPublish } from './held-publish.js';
import { Session, type DropReason } from './session.js';
import { SharedGroups } from './shared-groups.js';
import { StormCompaction } from './storm-compaction.js';
import { FilterTrie } from './topic-trie.js';
import type { BrokerMessage, OutboundItem, PendingWill, PublishHandler, Subscription } from './types.js';

/** setTimeout's largest delay; longer session expiries are kept without a timer */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface BrokerEnv {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly connectorName: string;
  /** keeps persistent sessions and retained messages across restarts; absent: in memory only */
  readonly store?: ListenerStore | undefined;
}

/**
 * Ferry's embedded MQTT 3.1.1 / 5 broker, built on mqtt-packet's parser and generator (see
 * docs/connectors/mqtt.md for why it is not aedes). Sessions, retained messages and wills live in
 * memory; with a listener store, persistent sessions and retained messages are mirrored there
 * and read back by `restore`. The owner sees every client PUBLISH through `onPublish` and decides its
 * acknowledgement; it injects messages with `publish`.
 */
export class MqttBroker implements BrokerCore<Connection> {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly connectorName: string;
  readonly keepAlive = new KeepAliveSweep();
  /** the owner's view of client publishes; without it QoS 1/2 publishes are acknowledged at once */
  onPublish: PublishHandler | undefined;
  /** the owner's count of the outcomes of client publishes, one function for every publish */
  onOutcome: ((outcome: Outcome) => void) | undefined;
  /** false once the owner stopped taking messages: client publishes are then neither routed nor acknowledged */
  accepting = true;
  #flowPaused = false;
  #closed = false;
  /** open connections by their stream; the streams' listeners are the table's (connection-streams.ts) */
  readonly #connections = new ConnectionStreams<Connection>((count) => this.#clients?.set(count));
  /** every session's drop callback: one function for all of them, not a closure per session */
  readonly #onSessionDrop = (reason: DropReason): void => this.#dropped(reason);
  readonly #byClientId = new Map<string, Connection>();
  readonly #sessions = new Map<string, Session>();
  /** topic filter → client id → subscription */
  readonly #index = new FilterTrie<Subscription>();
  /** `$share/<group>/<filter>` subscriptions (MQTT 5 §4.8.2) */
  readonly #shared = new SharedGroups();
  readonly #retained: RetainedStore;
  /** when a refused retained message was last logged (one line per 10 s, not one per message) */
  #retainedFullLogged = 0;
  readonly #willTimers = new Map<string, { timer: NodeJS.Timeout; will: PendingWill }>();
  /** the durable copy of sessions and retained messages, with a listener store */
  readonly #state: MqttListenerState | undefined;
  readonly #counters: ConnectorCounters;
  /** `listener_clients`, set at every connect and close: bound on the first */
  #clients: GaugeHandle | undefined;
  /** the ticket of the last client publish that waited for no room, for the next (RoomTicket.clear) */
  #spareTicket: RoomTicket | undefined;
  /** gives back the young generation a storm of devices leaves resident (storm-compaction.ts) */
  readonly #storm = new StormCompaction();

  constructor(config: BrokerConfig, env: BrokerEnv) {
    this.config = config;
    this.logger = env.logger;
    this.metrics = env.metrics;
    this.connectorName = env.connectorName;
    this.#counters = new ConnectorCounters(env.metrics, env.connectorName);
    this.#retained = new RetainedStore(config.retainedBytesLimit);
    this.#state = env.store === undefined ? undefined : new MqttListenerState(env.store);
  }

  /**
   * Read back the persistent sessions (subscriptions, queued and in-flight messages with their
   * packet ids) and retained messages a previous run stored; before the first client connects.
   * Sessions come back disconnected, their expiry clock running again (from its stored end, or
   * from now for a session that was connected when the process ended). A record that cannot be
   * read is logged as an error naming it and skipped. Without a store: nothing to do.
   */
  async restore(): Promise<void> {
    const state = this.#state;
    if (state === undefined || this.#retained.journal !== undefined) return;
    const started = performance.now();
    const loaded = await state.load();
    const now = Date.now();
    for (const m of loaded.retained) {
      if (m.expiresAt !== undefined && m.expiresAt <= now) state.removeRetained(m.topic);
      else if (!this.#retained.put(m)) state.removeRetained(m.topic);
    }
    this.#retained.journal = state;
    let messages = 0;
    for (const stored of loaded.sessions) {
      const session = new Session(stored.clientId, this.config.session, this.#onSessionDrop, stored.owner);
      session.expiryInterval = Math.min(stored.expiryInterval, this.config.maxSessionExpiry);
      this.#sessions.set(stored.clientId, session);
      for (const sub of stored.subscriptions) this.subscribe(session, sub);
      session.restore(stored.entries, state);
      messages += stored.entries.length;
      const endsAt = stored.expiresAt ?? now + session.expiryInterval * 1000;
      if (endsAt <= now || session.expiryInterval === 0) {
        this.#endSession(session);
        continue;
      }
      state.saveSession(session, endsAt);
      this.#expireAt(session, endsAt - now);
    }
    reportRestore(this.logger, state.location, { sessions: this.#sessions.size, messages, retained: this.#retained.size }, loaded.corrupt, started);
  }

  /**
   * Resolves once every change made so far is durable (immediately without a store). What the
   * broker acknowledges (a client's PUBLISH, a sink write) waits for it: a message is in every
   * persistent session it was queued to before its producer hears it was taken.
   */
  written(): Promise<void> {
    return this.pendingWrites() ?? Promise.resolve();
  }

  /** {@link written}, or undefined without a store: nothing to wait for, and no promise made */
  pendingWrites(): Promise<void> | undefined {
    return this.#state?.written();
  }

  get flowPaused(): boolean {
    return this.#flowPaused;
  }

  /**
   * Backpressure from the engine: while paused, no connection reads its socket, so devices'
   * publishes wait in TCP (and in the device) instead of in Ferry's memory. Settlements of what
   * was already taken still answer their clients, and are what resume the flow.
   */
  setFlowPaused(paused: boolean): void {
    if (paused === this.#flowPaused) return;
    this.#flowPaused = paused;
    for (const c of this.#connections.values()) c.updateFlow();
  }

  get clientCount(): number {
    return this.#connections.size;
  }

  get retainedCount(): number {
    return this.#retained.size;
  }

  get retainedBytes(): number {
    return this.#retained.bytes;
  }

  /** what a session holds for its subscriber, and its socket's unsent bytes (diagnostics, tests) */
  sessionStats(clientId: string): { inflight: number; inflightBytes: number; queued: number; queuedBytes: number; waiting: number; backlog: number; connected: boolean } | undefined {
    const s = this.#sessions.get(clientId);
    if (s === undefined) return undefined;
    return { inflight: s.inflight, inflightBytes: s.inflightBytes, queued: s.queued, queuedBytes: s.queuedBytes, waiting: s.waiting, backlog: this.#byClientId.get(clientId)?.backlog ?? 0, connected: s.connected };
  }

  /**
   * Close every client (MQTT 5 clients get DISCONNECT 0x8B, §3.14.2.1); resolves once they are
   * gone. The owner stops the transport from accepting first.
   */
  async close(): Promise<void> {
    this.accepting = false;
    this.#closed = true;
    const open = [...this.#connections.values()];
    const gone = open.map((c) => c.whenClosed);
    for (const c of open) c.close(RC.serverShuttingDown);
    await Promise.all(gone);
    this.keepAlive.stop();
    this.#storm.stop();
    for (const { timer } of this.#willTimers.values()) clearTimeout(timer);
    this.#willTimers.clear();
    for (const s of this.#sessions.values()) clearTimeout(s.expiryTimer);
    await this.#state?.written().catch((err: unknown) => this.logger.error('listener state not written at stop', { error: describeError(err) }));
  }

  /**
   * Publish a message into the broker (the sink side): retained store, then subscribers.
   * `ticket`: the copies for connected subscribers with a full queue wait for room on it.
   */
  publish(message: BrokerMessage, ticket?: RoomTicket): 'ok' | 'retained-full' {
    return this.#route(message, ticket);
  }

  /** Take a connection from the transport (TCP, TLS or WebSocket: one code path after it). */
  accept(accepted: AcceptedConnection): void {
    if (this.#closed) {
      accepted.stream.destroy();
      return;
    }
    const conn = new Connection(this, accepted);
    this.#connections.add(accepted.stream, conn);
    this.#clients ??= gaugeHandle(this.metrics, 'listener_clients', { connector: this.connectorName });
    this.#clients.set(this.#connections.size);
  }

  hasRoomForClient(): boolean {
    return this.config.maxClients === undefined || this.#connections.size <= this.config.maxClients;
  }

  login(attempt: LoginAttempt): Promise<LoginResult> {
    return this.config.auth.login(attempt);
  }

  newClientId(): string {
    return `ferry-auto-${randomUUID()}`;
  }

  attachSession(conn: Connection, clientId: string, cleanStart: boolean, expiry: number, owner: string | undefined): { session: Session; present: boolean } | 'taken' {
    this.#storm.arrived();
    const previous = this.#byClientId.get(clientId);
    const kept = this.#sessions.get(clientId);
    if ((previous !== undefined && previous !== conn && previous.owner !== owner) || (kept !== undefined && kept.owner !== owner)) return 'taken';
    // MQTT 5 §3.1.4 / 3.1.1 §3.1.4-2: a second connection with the same id takes over; the first
    // gets DISCONNECT 0x8E and is closed
    if (previous !== undefined && previous !== conn) previous.close(RC.sessionTakenOver);
    this.#byClientId.set(clientId, conn);
    // §3.1.3.2.2: a reconnection before the Will Delay Interval cancels the will
    const pending = this.#willTimers.get(clientId);
    if (pending !== undefined) {
      clearTimeout(pending.timer);
      this.#willTimers.delete(clientId);
    }
    let session = this.#sessions.get(clientId);
    if (session !== undefined && cleanStart) {
      this.#endSession(session);
      session = undefined;
    }
    const present = session !== undefined;
    if (session === undefined) {
      session = new Session(clientId, this.config.session, this.#onSessionDrop, owner);
      this.#sessions.set(clientId, session);
    }
    clearTimeout(session.expiryTimer);
    session.expiryTimer = undefined;
    session.expiryInterval = expiry;
    this.#persist(session);
    return { session, present };
  }

  /**
   * Mirror `session` in the store while it is persistent (MQTT 5 §3.1.2.11.2: expiry > 0;
   * 3.1.1 clean session 0), forget it there once it is not. `expiresAt`: when a disconnected
   * session ends (Infinity: never); undefined while connected.
   */
  #persist(session: Session, expiresAt?: number): void {
    const state = this.#state;
    if (state === undefined) return;
    if (session.expiryInterval > 0 && this.#sessions.get(session.clientId) === session) {
      session.setJournal(state);
      state.saveSession(session, expiresAt);
    } else if (session.journal !== undefined) {
      session.setJournal(undefined);
      state.removeSession(session.clientId);
    }
  }

  /** end a disconnected session after `ms` (none beyond setTimeout's range: it outlives the process) */
  #expireAt(session: Session, ms: number): void {
    if (!Number.isFinite(ms) || ms > MAX_TIMER_MS) return;
    session.expiryTimer = setTimeout(() => {
      if (this.#sessions.get(session.clientId) === session && !session.connected) this.#endSession(session);
    }, Math.max(0, ms));
    session.expiryTimer.unref();
  }

  detach(conn: Connection, session: Session, will: PendingWill | undefined): void {
    session.detach(conn);
    const clientId = session.clientId;
    if (this.#byClientId.get(clientId) === conn) this.#byClientId.delete(clientId);
    // MQTT 5 §4.8.2: what a shared subscription chose this member for, and it did not
    // acknowledge, goes to another connected member of the group
    if (!session.connected) for (const sub of session.subscriptions.values()) if (sub.share !== undefined) this.#handOver(session, sub.filter, true);
    const current = this.#sessions.get(clientId) === session && !session.connected;
    if (will !== undefined) {
      // §3.1.3.2.2: publish after the Will Delay Interval or when the session ends, whichever is first
      const delay = Math.min(will.delaySeconds, current ? session.expiryInterval : 0);
      if (delay <= 0) this.#publishWill(clientId, will);
      else {
        const timer = setTimeout(() => {
          this.#willTimers.delete(clientId);
          this.#publishWill(clientId, will);
        }, Math.min(delay * 1000, MAX_TIMER_MS));
        timer.unref();
        this.#willTimers.set(clientId, { timer, will });
      }
    }
    if (!current) return;
    if (session.expiryInterval === 0) {
      this.#endSession(session);
      return;
    }
    // MQTT 5 §3.1.2.11.2: 0xFFFFFFFF never expires
    const ms = Number.isFinite(session.expiryInterval) && session.expiryInterval < 0xffffffff ? session.expiryInterval * 1000 : Infinity;
    this.#persist(session, Date.now() + ms);
    this.#expireAt(session, ms);
  }

  ingest(conn: Connection, message: BrokerMessage, held: HeldPublish | undefined, parts: DeviceParts): void {
    if (!this.accepting) {
      // shutting down: the publish is neither routed nor acknowledged, so the client sends it
      // again on its next connection (§4.4). A QoS 0 message is lost, as QoS 0 allows.
      if (held === undefined) this.#dropped('not-accepting');
      return;
    }
    // a QoS 1/2 publish can wait for room in its subscribers' full queues (room-wait.ts)
    let ticket: RoomTicket | undefined;
    if (held !== undefined) {
      ticket = this.#spareTicket ?? new RoomTicket();
      this.#spareTicket = undefined;
    }
    const routed = this.#route(message, ticket);
    if (held !== undefined) {
      const t = ticket as RoomTicket;
      // the durability barrier is taken now, or, for a publish that waits for room, once its
      // copies are in their queues (PublishIntake.decided)
      if (t.waiting) held.after = t;
      else {
        held.after = this.pendingWrites();
        t.clear();
        this.#spareTicket = t;
      }
    }
    if (routed === 'retained-full') {
      // MQTT 5 §3.4.2.1: 0x97 Quota exceeded; the client does not send it again
      held?.decide({ kind: 'reject', reason: 'retained messages full (retainedBytesLimit)', reasonCode: RC.quotaExceeded });
      return;
    }
    const onPublish = this.onPublish;
    if (onPublish === undefined) {
      held?.accept();
      return;
    }
    onPublish(message, parts, held, conn.routeWaiter);
  }

  subscribe(session: Session, sub: Subscription): boolean {
    this.#storm.arrived();
    const existed = session.subscriptions.has(sub.filter);
    // §3.8.4: a subscription with the same filter replaces the existing one
    session.subscriptions.set(sub.filter, sub);
    if (sub.share !== undefined) this.#shared.add(session.clientId, { ...sub, share: sub.share });
    else this.#index.set(sub.filter, session.clientId, sub);
    if (session.journal !== undefined) this.#state?.saveSession(session, undefined);
    return existed;
  }

  sendRetained(session: Session, sub: Subscription, existed: boolean): void {
    // MQTT 5 §4.8.2: retained messages are not sent on a shared subscription
    if (sub.share !== undefined) return;
    // MQTT 5 §3.3.1.3 Retain Handling: 0 always, 1 only for a new subscription, 2 never
    if (sub.rh === 2 || (sub.rh === 1 && existed)) return;
    const now = Date.now();
    for (const m of this.#retained.matching(sub.filter, now)) {
      // §3.3.1.3 / 3.1.1 [MQTT-3.3.1-8]: retained messages sent for a new subscription carry RETAIN 1
      session.deliver(copyFor(m, Math.min(m.qos, sub.qos) as 0 | 1 | 2, true, sub.id === undefined ? NO_IDS : [sub.id], undefined));
    }
  }

  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.subscriptions.get(filter);
    if (sub === undefined) return false;
    session.subscriptions.delete(filter);
    if (session.journal !== undefined) this.#state?.saveSession(session, undefined);
    if (sub.share === undefined) {
      this.#index.delete(filter, session.clientId);
      return true;
    }
    this.#shared.remove(session.clientId, { ...sub, share: sub.share });
    // a member leaving the group hands over what waits for it; what is in flight stays with
    // the still connected client, which acknowledges it
    this.#handOver(session, filter, !session.connected);
    return true;
  }

  /**
   * Give what `session` holds for the shared subscription `share` to other connected members,
   * one message each in round robin. Without another connected member the session keeps it.
   */
  #handOver(session: Session, share: string, inflight: boolean): void {
    const connected = (id: string): boolean => this.#sessions.get(id)?.connected === true;
    if (this.#shared.other(share, session.clientId, connected) === undefined) return;
    for (const { item, ticket } of session.takeShared(share, inflight)) {
      const to = this.#shared.other(share, session.clientId, connected);
      const target = to === undefined ? session : (this.#sessions.get(to[0]) as Session);
      target.deliver(to === undefined ? item : this.#sharedItem(item.message, to[1]), ticket);
      ticket?.release();
    }
  }

  /** what a shared subscription delivers: at the member's QoS, never with RETAIN (§4.8.2 sends no retained messages) */
  #sharedItem(message: BrokerMessage, sub: Subscription): OutboundItem {
    return copyFor(message, Math.min(message.qos, sub.qos) as 0 | 1 | 2, sub.rap ? message.retain : false, sub.id === undefined ? NO_IDS : [sub.id], sub.filter);
  }

  #endSession(session: Session): void {
    clearTimeout(session.expiryTimer);
    for (const filter of [...session.subscriptions.keys()]) this.unsubscribe(session, filter);
    session.clearMessages();
    if (session.journal !== undefined) {
      session.setJournal(undefined);
      this.#state?.removeSession(session.clientId);
    }
    if (this.#sessions.get(session.clientId) === session) this.#sessions.delete(session.clientId);
    // §3.1.3.2.2: a will still waiting for its delay is published when the session ends
    const pending = this.#willTimers.get(session.clientId);
    if (pending !== undefined && !this.#byClientId.has(session.clientId)) {
      clearTimeout(pending.timer);
      this.#willTimers.delete(session.clientId);
      this.#publishWill(session.clientId, pending.will);
    }
  }

  #publishWill(clientId: string, will: PendingWill): void {
    const message: BrokerMessage =
      will.expirySeconds === undefined ? will.message : { ...will.message, expiresAt: Date.now() + will.expirySeconds * 1000 };
    // a will is published on behalf of a client that is gone and cannot be told: without its
    // retention when the retained messages are full
    if (this.#route(message) === 'retained-full') this.#route({ ...message, retain: false });
    if (this.accepting) this.onPublish?.(message, { clientId, will: true }, undefined, undefined);
  }

  /**
   * Retain (when flagged) and dispatch. A retained message beyond `retainedBytesLimit` is
   * neither stored nor dispatched: 'retained-full', for the caller to refuse (the connection
   * answers MQTT 5 with 0x97 Quota exceeded).
   */
  #route(message: BrokerMessage, ticket?: RoomTicket): 'ok' | 'retained-full' {
    if (message.retain && !this.#retained.put(message)) {
      this.#dropped('retained-full');
      const now = Date.now();
      if (now - this.#retainedFullLogged > 10_000) {
        this.#retainedFullLogged = now;
        this.logger.warn('retained message refused: retainedBytesLimit reached', { topic: message.topic.slice(0, 200), bytes: message.payload.length, limit: this.config.retainedBytesLimit });
      }
      return 'retained-full';
    }
    this.#dispatch(message, ticket);
    return 'ok';
  }

  /**
   * Deliver to every session with a matching subscription: one copy per session, at the highest
   * granted QoS of its matching subscriptions, carrying all their identifiers (MQTT 5 §3.3.4).
   */
  #dispatch(message: BrokerMessage, ticket: RoomTicket | undefined): void {
    // the one matching session of most messages is delivered without the merge table below
    let one: readonly [string, Subscription] | undefined;
    let targets: Map<string, { qos: number; ids: number[]; rap: boolean }> | undefined;
    const origin = message.origin;
    for (const found of this.#index.matches(message.topic)) {
      const [clientId, sub] = found;
      // §3.8.3.1 No Local: not back to the publisher
      if (sub.nl && clientId === origin) continue;
      if (one === undefined && targets === undefined) {
        one = found;
        continue;
      }
      targets ??= new Map();
      if (one !== undefined) {
        merge(targets, one[0], one[1]);
        one = undefined;
      }
      merge(targets, clientId, sub);
    }
    // MQTT 5 §4.8.2: one member of each matching shared subscription's group, on its own terms
    if (!this.#shared.empty) {
      this.#shared.match(
        message.topic,
        (id) => this.#sessions.get(id)?.connected === true,
        (clientId, sub) => this.#sessions.get(clientId)?.deliver(this.#sharedItem(message, sub), ticket),
      );
    }
    if (one !== undefined) {
      const [clientId, sub] = one;
      this.#sessions.get(clientId)?.deliver(outbound(message, sub.qos, sub.rap, sub.id === undefined ? NO_IDS : [sub.id]), ticket);
      return;
    }
    if (targets === undefined) return;
    for (const [clientId, t] of targets) this.#sessions.get(clientId)?.deliver(outbound(message, t.qos, t.rap, t.ids), ticket);
  }

  #dropped(reason: DropReason | 'not-accepting' | 'retained-full'): void {
    this.#counters.dropped(reason);
  }
}
