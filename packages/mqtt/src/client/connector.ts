import { FailureLog, FerryError, FlowWatch, ReconnectTimer, Settlement, StartStop, ConnectorCounters, describeError, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Outcome, type Sink, type SourceFlow, type SourceSpec, InflightLimit, ConnectorBase } from '@ferry/core';
import mqtt, { type IClientPublishOptions, type IStream, type MqttClient } from 'mqtt';
import type mqttPacket from 'mqtt-packet';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { fromMqttPublish, toMqttPublish } from '../mapping.js';
import type { MqttFrom, MqttOptions, MqttTo } from '../options.js';

import { mqttClientOptions } from './client-options.js';
import { deferAck, onIncomingPublish, outgoingCallback, pauseReading, reconnectKeepingStores, unackedPublishes, writePuback } from './mqttjs-seam.js';
import { SourceSubscriptions } from './subscriptions.js';
import { PoisonWatch, type Tracked } from './poison.js';
import { limitsFromConnack, unpublishable, type BrokerLimits } from './publishable.js';

interface Held {
  readonly packet: IPublishPacket;
  readonly stream: IStream;
}

/**
 * The `mqtt` connector: a client (mqtt.js) of a remote MQTT 3.1.1 / 5 broker.
 */
export class MqttClientConnector extends ConnectorBase<MqttOptions, MqttFrom, MqttTo> {
  readonly sink: Sink<MqttTo>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  readonly #reconnect: ReconnectTimer;
  readonly #inflight: InflightLimit;
  #state: ConnectorState = 'idle';
  #client: MqttClient | undefined;
  readonly #life = new StartStop();
  readonly #failures = new FailureLog();
  #wasUp = false;
  #attempts = 0;
  // sources
  #deliver: DeliveryHandler | undefined;
  #accepting = false;
  /** topic filter → subscription QoS, identifier (MQTT 5) and the routes it serves */
  readonly #subs = new SourceSubscriptions();
  /** filters subscribed in the current session (cleared when the broker has no session) */
  readonly #subscribed = new Set<string>();
  #useSubIds = false;
  /** publishes that arrived before openSources: held unacknowledged, delivered on open */
  readonly #early: Held[] = [];
  /** deliveries whose settlement is pending, per stream: the window, and when to reconnect for a release */
  readonly #pending = new Map<IStream, number>();
  /** publishes that arrived while the window was full, in order, delivered as settlements make room */
  readonly #overflow: Held[] = [];
  #releaseReconnect = false;
  /** backpressure from the engine (a route of this source at maxInFlight) */
  readonly #flow = new FlowWatch();
  /** the stream Ferry stopped reading, if any */
  #pausedStream: IStream | undefined;
  /** Ferry's own QoS 1/2 publishes awaiting their PUBACK */
  #sinkPending = 0;
  /** what the broker takes (its CONNACK, and `maxTopicLevels`) */
  #limits: BrokerLimits;
  /** Ferry's QoS 1/2 publishes in mqtt.js's outgoing store, by the callback mqtt.js holds */
  readonly #tracked = new Map<unknown, Tracked>();
  readonly #poison = new PoisonWatch(POISON_STRIKES);

  constructor(ctx: ConnectorContext, name: string, options: MqttOptions) {
    super(ctx, name, options, 'mqtt');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.#reconnect = new ReconnectTimer({ initialMs: options.reconnect.initialMs, maxMs: options.reconnect.maxMs, minMs: Math.min(100, options.reconnect.initialMs) });
    this.#inflight = new InflightLimit(options.maxInflight);
    this.#limits = { maxTopicLevels: options.maxTopicLevels };
    this.sink = { write: (message, to) => this.#write(message, to) };
  }

  get state(): ConnectorState {
    return this.#state;
  }

  get #version(): 4 | 5 {
    return this.options.protocolVersion;
  }

  /**
   * Connect. Resolves once the first attempt ended, connected or not: a broker that is down at
   * start is retried in the background (state `down`), like a connection lost later.
   */
  start(): Promise<void> {
    return this.#life.start(() => this.#doStart());
  }

  async #doStart(): Promise<void> {
    const o = this.options;
    const clientOptions = await mqttClientOptions(o, `ferry-${this.ctx.gatewayId}-${this.name}`, this.ctx.baseDir);
    this.#state = 'connecting';
    const client = mqtt.connect(o.url, clientOptions);
    this.#client = client;
    onIncomingPublish(client, (packet, cb) => this.#onMessage(packet, cb));

    const firstAttempt = new Promise<void>((resolve) => {
      client.once('connect', () => resolve());
      client.once('close', () => resolve());
    });
    client.on('connect', (connack) => this.#onConnect(client, connack));
    client.on('close', () => this.#onClose(client));
    client.on('packetsend', (packet: mqttPacket.Packet) => {
      if (packet.cmd !== 'publish' || packet.messageId === undefined) return;
      const t = this.#tracked.get(outgoingCallback(client, packet.messageId));
      if (t !== undefined) this.#poison.sent(t);
    });
    // MQTT 5 §3.14: a DISCONNECT from the broker says why the connection ends
    client.on('disconnect', (packet: mqttPacket.IDisconnectPacket) => this.#poison.closingFor(packet.reasonCode ?? 0));
    client.on('error', (err) => this.#failure(describeError(err)));
    client.on('offline', () => undefined);
    await firstAttempt;
  }

  stop(): Promise<void> {
    return this.#life.stop(async () => {
      await this.#life.starting;
      this.#state = 'stopping';
      this.#reconnect.cancel();
      const client = this.#client;
      if (client !== undefined) {
        // graceful DISCONNECT; unacknowledged messages stay in the broker's persistent session
        await new Promise<void>((r) => client.end(false, {}, () => r()));
        if (!client.disconnected) await new Promise<void>((r) => client.end(true, {}, () => r()));
      }
      this.#inflight.failAll(new FerryError('SINK_CLOSED', `mqtt ${this.name} stopped`));
      for (const t of this.#poison.drain()) t.fail(new FerryError('SINK_CLOSED', `mqtt ${this.name} stopped before the broker acknowledged`));
      this.#state = 'stopped';
      this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    });
  }

  async openSources(specs: readonly SourceSpec<MqttFrom>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void> {
    this.#deliver = deliver;
    this.#accepting = true;
    if (flow !== undefined) this.#flow.follow(flow, () => this.#applyFlow());
    for (const spec of specs) {
      const { qos } = this.#subs.add(spec.route, spec.from);
      if (qos < spec.from.qos) this.log.warn('QoS 2 source subscribed as QoS 1 (at least once)', { route: spec.route, topic: spec.from.topic });
    }
    const early = this.#early.splice(0);
    for (const h of early) this.#take(h);
    await this.#ensureSubscribed();
  }

  closeSources(): Promise<void> {
    // New publishes from the broker are no longer delivered nor acknowledged: they stay
    // unacknowledged in the persistent session and come again on the next connection.
    this.#accepting = false;
    this.#overflow.length = 0;
    this.#flow.drop();
    this.#applyFlow();
    return Promise.resolve();
  }

  /**
   * Backpressure: while the flow is paused, or the window is full (see #take), stop reading the
   * connection, so the broker keeps what it has not sent yet (in its queue, not in Ferry's
   * memory); what it already sent is bounded by the in-flight window (MQTT 5 Receive Maximum,
   * Mosquitto max_inflight_messages) when the broker keeps to it.
   *
   * Never while Ferry's own publishes on this connection await their PUBACK: those confirms
   * may be what settles the paused routes (a route from this connector to itself, or two
   * brokers bridged both ways), so the connection is read until they are in. A pause longer
   * than the keep alive costs the connection (no PINGRESP is read); the persistent session
   * redelivers what was unacknowledged, so nothing is lost.
   */
  #applyFlow(): void {
    const stream = this.#client?.stream;
    const full = stream !== undefined && this.#accepting && (this.#overflow.length > 0 || this.#windowFull(stream));
    const pause = (this.#flow.paused || full) && this.#sinkPending === 0 && this.#state === 'up' && stream !== undefined;
    if (pause && this.#pausedStream !== stream) {
      this.#pausedStream?.resume();
      this.#pausedStream = stream;
      // kept paused while Ferry wants it so, whatever mqtt.js's pipe does (see the seam)
      pauseReading(stream, () => this.#pausedStream === stream);
    } else if (!pause && this.#pausedStream !== undefined) {
      const s = this.#pausedStream;
      this.#pausedStream = undefined;
      s.resume();
    }
  }

  #onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.#client) return;
    // TCP_NODELAY on every (re)connection: mqtt.js leaves Nagle on (it never calls setNoDelay)
    const stream = client.stream as IStream & { setNoDelay?: (v: boolean) => void };
    stream.setNoDelay?.(true);
    this.#reconnect.reset();
    this.#state = 'up';
    this.ctx.metrics.set('connector_up', { connector: this.name }, 1);
    if (this.#failures.recovered() !== undefined || !this.#wasUp) {
      this.log.info(this.#wasUp ? 'MQTT connection restored' : 'MQTT connected', {
        url: this.options.url,
        sessionPresent: connack.sessionPresent,
        attempts: this.#attempts,
      });
    }
    this.#wasUp = true;
    this.#attempts = 0;
    this.#releaseReconnect = false;
    this.#limits = limitsFromConnack(connack, this.options.maxTopicLevels);
    this.#poison.connected();
    // MQTT 5 §3.2.2.3.12: subscription identifiers only when the broker supports them
    this.#useSubIds = this.#version === 5 && connack.properties?.subscriptionIdentifiersAvailable !== false;
    this.#pausedStream = undefined;
    this.#applyFlow();
    // §3.2.2.2: without a session present the broker forgot the subscriptions
    if (!connack.sessionPresent) this.#subscribed.clear();
    void this.#ensureSubscribed();
  }

  #onClose(client: MqttClient): void {
    if (client !== this.#client) return;
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    if (this.#state === 'up') this.#failure('connection closed');
    this.#takeBackUnacked(client);
    // what waited for room was never routed; the broker sends it again on the next connection (§4.4)
    this.#overflow.length = 0;
    this.#state = 'down';
    this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    this.#scheduleReconnect(client);
  }

  /**
   * Ferry's unacknowledged publishes leave mqtt.js's store on a close and are sent again by
   * Ferry (see poison.ts); the one the broker keeps closing the connection on is failed.
   */
  #takeBackUnacked(client: MqttClient): void {
    const unacked: { t: Tracked; id: number }[] = [];
    for (const o of unackedPublishes(client)) {
      const t = this.#tracked.get(o.cb);
      if (t !== undefined) unacked.push({ t, id: o.id });
    }
    this.#poison.closed(unacked.map((u) => u.t));
    for (const u of unacked) {
      if (u.t.poison) {
        this.log.warn('the broker closed the connection on one publish twice in a row; failing it instead of sending it again', { strikes: POISON_STRIKES });
        this.#counters.rejected('broker-closed-connection');
      }
      // its callback sees `requeue` or `poison` (see #write)
      client.removeOutgoingMessage(u.id);
    }
  }

  #scheduleReconnect(client: MqttClient): void {
    const scheduled = this.#reconnect.schedule(() => {
      if (this.#state === 'stopping' || this.#state === 'stopped') return;
      this.ctx.metrics.inc('connector_reconnects_total', { connector: this.name });
      this.#state = 'connecting';
      // the QoS 1/2 publishes awaiting their PUBACK are resent on the new connection (§4.4)
      reconnectKeepingStores(client);
    });
    if (scheduled !== undefined) this.#attempts++;
  }

  /** One log line per change of failure, not one per retry. */
  #failure(what: string): void {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    if (this.#failures.report(what)) this.log.warn('MQTT connection failing; retrying with backoff', { url: this.options.url, error: what });
  }

  async #ensureSubscribed(): Promise<void> {
    const client = this.#client;
    if (!client?.connected) return;
    for (const [filter, s] of this.#subs.entries()) {
      if (this.#subscribed.has(filter)) continue;
      this.#subscribed.add(filter);
      const opts = this.#useSubIds ? { qos: s.qos, properties: { subscriptionIdentifier: s.id } } : { qos: s.qos };
      try {
        await client.subscribeAsync(filter, opts);
      } catch (err) {
        this.#subscribed.delete(filter);
        this.log.error('MQTT subscribe failed', { topic: filter, error: describeError(err) });
      }
    }
  }

  /** mqtt.js's per-PUBLISH hook; see mqttjs-seam.ts {@link deferAck}. */
  #onMessage(packet: IPublishPacket, cb: (err?: Error) => void): void {
    const client = this.#client;
    const stream = client?.stream;
    if (packet.qos === 0 || stream === undefined) {
      if (packet.qos === 0 && this.#accepting && this.#deliver !== undefined) {
        this.#deliverMessage(packet, Settlement.none());
      }
      cb();
      return;
    }
    deferAck(cb);
    const held: Held = { packet, stream };
    if (!this.#accepting || this.#deliver === undefined) {
      // before openSources: keep it to deliver then; after closeSources: leave it unacknowledged
      // for the next connection
      if (this.#deliver === undefined) this.#early.push(held);
      return;
    }
    this.#take(held);
  }

  /**
   * Route a QoS 1 publish now if the window has room, else keep it (unacknowledged, not routed)
   * until a settlement makes room. The window is `receiveMaximum` routed and unsettled messages
   * per connection, enforced here because a broker may not keep to the Receive Maximum Ferry
   * announces (MQTT 5 §3.3.4 [MQTT-3.3.4-9]): Mosquitto 2.0.11 keeps it only until the first
   * PUBACKs come back, then sends ahead by hundreds (docs/scaling.md). What is routed and not yet
   * acknowledged is what comes again, as duplicates, when the connection or the process is lost;
   * what waits here was never routed, so it costs nothing when it comes again.
   */
  #take(h: Held): void {
    if (this.#overflow.length > 0 || this.#windowFull(h.stream)) {
      this.#overflow.push(h);
      this.#applyFlow();
      return;
    }
    this.#deliverHeld(h);
  }

  #windowFull(stream: IStream): boolean {
    return (this.#pending.get(stream) ?? 0) >= this.options.receiveMaximum;
  }

  /** Route what waited for room, as far as the window allows. */
  #takeOverflow(): void {
    while (this.#accepting && this.#overflow.length > 0) {
      const h = this.#overflow[0] as Held;
      if (h.stream !== this.#client?.stream) {
        // its connection is gone: the broker sends it again on the current one (§4.4)
        this.#overflow.shift();
        continue;
      }
      if (this.#windowFull(h.stream)) break;
      this.#overflow.shift();
      this.#deliverHeld(h);
    }
    this.#applyFlow();
  }

  #deliverHeld(h: Held): void {
    const id = h.packet.messageId;
    this.#pending.set(h.stream, (this.#pending.get(h.stream) ?? 0) + 1);
    if (this.#windowFull(h.stream)) this.#applyFlow();
    const settlement = new Settlement((outcome) => this.#settled(h, id, outcome));
    this.#deliverMessage(h.packet, settlement);
  }

  #deliverMessage(packet: IPublishPacket, settlement: Settlement): void {
    const deliver = this.#deliver as DeliveryHandler;
    const message = fromMqttPublish(
      { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, properties: packet.properties },
      this.name,
      Date.now(),
    );
    this.#counters.received();
    const ids = packet.properties?.subscriptionIdentifier;
    const routes = this.#useSubIds && ids !== undefined ? this.#subs.routesOf(ids) : undefined;
    try {
      deliver(routes === undefined ? { message, settlement } : { message, settlement, routes });
    } catch (err) {
      settlement.release(new FerryError('INTERNAL', 'delivery handler threw', { cause: err }));
    }
  }

  #settled(h: Held, id: number | undefined, outcome: Outcome): void {
    const left = (this.#pending.get(h.stream) ?? 1) - 1;
    if (left <= 0) this.#pending.delete(h.stream);
    else this.#pending.set(h.stream, left);
    const current = this.#client?.stream === h.stream && this.#client.connected;
    this.#counters.outcome(outcome);
    if (outcome.kind === 'release') {
      // release: the broker resends an unacknowledged PUBLISH only on a new connection (MQTT 5
      // §4.4), so once this connection has nothing else pending, reconnect. The persistent
      // session (clean: false) keeps the message meanwhile.
      if (current) this.#releaseReconnect = true;
    } else {
      if (outcome.kind === 'reject') this.log.warn('message rejected', { topic: h.packet.topic, error: outcome.reason.message });
      // The ack goes on the connection the PUBLISH came on; after a reconnect the broker
      // resends the message (§4.4) and that copy is settled instead.
      if (current && id !== undefined) {
        writePuback(h.stream, id, this.#version, outcome.kind === 'reject');
      }
    }
    // while a release waits for its reconnection, what waited for room stays unrouted: the
    // reconnection comes once this connection's routed messages are settled, and the broker
    // sends the rest again then
    if (!this.#releaseReconnect) this.#takeOverflow();
    this.#maybeReconnectForRelease(h.stream);
  }

  #maybeReconnectForRelease(stream: IStream): void {
    const client = this.#client;
    if (!this.#releaseReconnect || client?.stream !== stream) return;
    if ((this.#pending.get(stream) ?? 0) > 0) return;
    this.#releaseReconnect = false;
    this.log.info('reconnecting so the broker redelivers released messages');
    this.#poison.closingFor('ferry');
    // end() rather than destroy(): the PUBACKs just written must reach the broker first, or it
    // would redeliver accepted messages too. #onClose schedules the reconnection.
    stream.end();
    setTimeout(() => stream.destroy(), 2000).unref();
  }

  async #write(message: GatewayMessage, to: MqttTo): Promise<void> {
    const client = this.#client;
    if (client === undefined || !client.connected || this.#state !== 'up') {
      // never queue while disconnected: the engine releases and retries
      throw new FerryError('NOT_CONNECTED', `mqtt ${this.name} is not connected to ${this.options.url}`);
    }
    const r = toMqttPublish(message, to, this.#version, Date.now());
    if (r.kind === 'expired') {
      this.#counters.dropped('expired');
      return;
    }
    const p = r.publish;
    const problem = unpublishable(p, this.#version, this.#limits);
    if (problem !== undefined) {
      // the broker would close the connection on it (and mqtt.js would resend it on every
      // reconnect): refused here, permanently
      this.#counters.rejected('unpublishable');
      throw new FerryError('SINK_REJECTED', `mqtt ${this.name}: ${problem}`, { permanent: true });
    }
    const opts: IClientPublishOptions = { qos: p.qos, retain: p.retain, ...(p.properties === undefined ? {} : { properties: p.properties }) };
    const release = p.qos === 0 ? undefined : await this.#inflight.acquire();
    if (release !== undefined) {
      this.#sinkPending++;
      this.#applyFlow();
    }
    try {
      await new Promise<void>((resolve, reject) => {
        const send = (): void => {
          if (tracked !== undefined) this.#tracked.set(done, tracked);
          client.publish(p.topic, p.payload, opts, done);
        };
        const tracked = p.qos === 0 ? undefined : this.#poison.track(send, reject);
        // mqtt.js calls back with null for success (build/lib/handlers/ack.js), not undefined as typed
        const done = (err?: Error | null): void => {
          this.#tracked.delete(done);
          if (tracked?.requeue === true) {
            // taken out of mqtt.js's store after a close: Ferry sends it again
            this.#poison.requeued(tracked);
            return;
          }
          if (tracked !== undefined) this.#poison.settled(tracked);
          if (err === undefined || err === null) return resolve();
          if (tracked?.poison === true) {
            reject(new FerryError('SINK_REJECTED', `mqtt ${this.name}: the broker closed the connection on this publish to ${p.topic} ${POISON_STRIKES} times in a row`, { cause: err, permanent: true }));
            return;
          }
          const code = (err as { code?: unknown }).code;
          if (typeof code === 'number' && code >= 0x80) {
            // MQTT 5 §3.4.2.1: the broker refused this message; retrying cannot help
            reject(new FerryError('SINK_REJECTED', `broker refused publish to ${p.topic}: ${err.message}`, { cause: err, permanent: true, details: { reasonCode: code } }));
          } else {
            reject(new FerryError('SINK_CLOSED', `publish to ${p.topic} failed: ${err.message}`, { cause: err }));
          }
        };
        if (tracked === undefined) send();
        else this.#poison.submit(tracked);
      });
      this.#counters.sent();
    } finally {
      if (release !== undefined) {
        this.#sinkPending--;
        this.#applyFlow();
      }
      release?.();
    }
  }
}

/** closed connections in a row with the same publish the oldest unacknowledged, that make it the cause */
const POISON_STRIKES = 2;

