import type { ConnectionOptions } from 'node:tls';
import { loadClientTls } from '@ferry/net';
import { FerryError, ReconnectTimer, Settlement, StartStop, ConnectorCounters, describeError, hasExpired, toFerryError, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Outcome, type Sink, type SourceSpec, InflightLimit, ConnectorBase } from '@ferry/core';
import { headerValue, type StompFrame } from '../frame/frame.js';
import { destinationProblem, detectFlavor, type BrokerFlavor } from './flavor.js';

import { fromMessageFrame, toSendHeaders } from './mapping.js';
import { parseStompUrl, type StompAddress, type StompFrom, type StompOptions, type StompTo } from './options.js';
import { StompSession, type ConnectedInfo } from './session.js';

/** How long a graceful DISCONNECT may take on stop before the socket is destroyed. */
const DISCONNECT_TIMEOUT_MS = 2000;

interface Subscription {
  readonly id: string;
  readonly route: string;
  readonly destination: string;
  readonly ack: 'client-individual' | 'auto';
  /** delivered and not settled yet */
  inflight: number;
  /** false after closeSources: no new deliveries; UNSUBSCRIBE once `inflight` is 0 */
  active: boolean;
}

/**
 * The `stomp` connector: a client of a STOMP 1.2 broker (RabbitMQ, ActiveMQ, ...), built on
 * @stomp/stompjs over Ferry's own socket adapter (client/socket.ts, not @stomp/tcp-wrapper: see
 * there why). It is a sink (SEND, confirmed by RECEIPT) and a source
 * (SUBSCRIBE with `client-individual` acks, ACK/NACK once the engine settled).
 *
 * Connection: one {@link StompSession} per connection; on loss every SEND waiting for a RECEIPT
 * fails at once (transient), the connector reconnects with core's Backoff and subscribes again.
 * Deliveries of a lost connection cannot be acknowledged any more; settling them does nothing,
 * and the broker redelivers them (STOMP 1.2 §SUBSCRIBE ack: unacknowledged messages of a closed
 * connection go back to the broker).
 */
export class StompClientConnector extends ConnectorBase<StompOptions, StompFrom, StompTo> {
  readonly sink: Sink<StompTo>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  readonly #address: StompAddress;
  /** the broker's URL without credentials, for log lines and errors */
  readonly #where: string;
  /** TLS options read from the files of `tls` at start */
  #tls: ConnectionOptions | undefined;
  readonly #reconnect: ReconnectTimer;
  readonly #life = new StartStop();
  readonly #window: InflightLimit;
  readonly #subs = new Map<string, Subscription>();
  #state: ConnectorState = 'idle';
  #session: StompSession | undefined;
  #sessionSeq = 0;
  #subSeq = 0;
  #flavor: BrokerFlavor;
  #firstAttemptDone: (() => void) | undefined;
  #deliver: DeliveryHandler | undefined;
  #sourcesClosed = false;

  constructor(ctx: ConnectorContext, name: string, opts: StompOptions) {
    super(ctx, name, opts, 'stomp');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    const addr = parseStompUrl(opts.url);
    if (addr === undefined) throw new FerryError('CONFIG_INVALID', `${name}: not a stomp://, stomp+ssl://, ws:// or wss:// URL: ${opts.url}`, { permanent: true });
    this.#address = addr;
    this.#where = `${addr.scheme}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}${addr.path === '/' ? '' : addr.path}`;
    this.#reconnect = new ReconnectTimer({ initialMs: opts.reconnect.initialMs, maxMs: Math.max(opts.reconnect.maxMs, opts.reconnect.initialMs) });
    this.#window = new InflightLimit(opts.maxInflight);
    this.#flavor = opts.broker === 'auto' ? 'generic' : opts.broker;
    this.sink = { write: (message, to) => this.#write(message, to) };
  }

  get state(): ConnectorState {
    return this.#state;
  }

  /** the broker dialect in use (known once connected when `broker: auto`) */
  get flavor(): BrokerFlavor {
    return this.#flavor;
  }

  /**
   * Connect. Resolves once the first attempt ended, connected or not: a broker that is down at
   * start does not stop the gateway; the connector keeps retrying and its state says `down`.
   */
  start(): Promise<void> {
    return this.#life.start(() => this.#start());
  }

  #start(): Promise<void> {
    const firstAttempt = new Promise<void>((resolve) => {
      this.#firstAttemptDone = resolve;
    });
    const tls = this.options.tls;
    if (tls === undefined) {
      this.#connect();
      return firstAttempt;
    }
    // certificate files are read once per start; unreadable ones fail the start (a route file
    // error), unlike a broker that is down
    return loadClientTls(tls, this.ctx.baseDir).then(
      (options) => {
        this.#tls = options;
        this.#connect();
        return firstAttempt;
      },
      (err: unknown) => {
        this.#firstAttemptDone = undefined;
        this.#setState('down');
        throw err;
      },
    );
  }

  stop(): Promise<void> {
    return this.#life.stop(
      () => this.#stop(),
      () => this.#setState('stopped'),
    );
  }

  async #stop(): Promise<void> {
    this.#setState('stopping');
    this.#reconnect.cancel();
    const session = this.#session;
    this.#session = undefined;
    // Pending SENDs fail with SINK_CLOSED as the session closes; unsettled deliveries go back
    // to the broker with the connection.
    if (session !== undefined) await session.close(DISCONNECT_TIMEOUT_MS);
    // writes still waiting for a slot would only find no session once they got one
    this.#window.failAll(new FerryError('SINK_CLOSED', `${this.name}: stopped`));
    this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    this.#firstAttemptDone?.();
    this.#firstAttemptDone = undefined;
    this.#setState('stopped');
  }

  async openSources(specs: readonly SourceSpec<StompFrom>[], deliver: DeliveryHandler): Promise<void> {
    this.#deliver = deliver;
    this.#sourcesClosed = false;
    const added: Subscription[] = [];
    for (const spec of specs) {
      const sub: Subscription = {
        id: `${spec.route}#${++this.#subSeq}`,
        route: spec.route,
        destination: spec.from.destination,
        ack: spec.from.ack,
        inflight: 0,
        active: true,
      };
      this.#subs.set(sub.id, sub);
      added.push(sub);
    }
    const session = this.#session;
    if (session?.isOpen === true) {
      // Wait for the RECEIPTs, so the subscriptions exist when this resolves (a RabbitMQ
      // `/topic/...` subscription creates its queue only now).
      await Promise.all(added.map((sub) => this.#subscribe(session, sub)));
    }
  }

  closeSources(): Promise<void> {
    if (this.#sourcesClosed) return Promise.resolve();
    this.#sourcesClosed = true;
    for (const sub of this.#subs.values()) {
      sub.active = false;
      this.#maybeUnsubscribe(sub);
    }
    return Promise.resolve();
  }

  // ---------------------------------------------------------------- connection

  #connect(): void {
    if (this.#life.stopping) return;
    const o = this.options;
    const connectHeaders: Record<string, string> = { host: o.host ?? this.#address.host };
    if (o.login !== undefined) connectHeaders.login = o.login;
    if (o.passcode !== undefined) connectHeaders.passcode = o.passcode;
    const session = new StompSession(
      {
        id: ++this.#sessionSeq,
        endpoint: { ...this.#address, tls: this.#tls },
        connectHeaders,
        heartBeat: o.heartBeat,
        connectTimeoutMs: o.connectTimeoutMs,
        maxFrameBytes: o.maxFrameBytes,
      },
      {
        connected: (s, info) => this.#onConnected(s, info),
        message: (s, frame) => this.#onMessage(s, frame),
        closed: (s, reason, wasConnected) => this.#onClosed(s, reason, wasConnected),
      },
    );
    this.#session = session;
    this.#setState('connecting');
    this.log.debug(`connecting to ${this.#where}`, { attempt: this.#reconnect.attempt + 1 });
    session.open();
  }

  #onConnected(session: StompSession, info: ConnectedInfo): void {
    if (session !== this.#session) {
      session.terminate('superseded');
      return;
    }
    this.#flavor = this.options.broker === 'auto' ? detectFlavor(info.server) : this.options.broker;
    this.#reconnect.reset();
    this.ctx.metrics.set('connector_up', { connector: this.name }, 1);
    this.#setState('up');
    this.log.info(`connected to ${this.#where} (${info.server ?? 'unknown server'}, STOMP ${info.version}, heart-beat ${info.heartBeat ?? '0,0'}, dialect ${this.#flavor})`);
    for (const sub of this.#subs.values()) {
      if (sub.active) void this.#subscribe(session, sub);
    }
    this.#firstAttemptDone?.();
    this.#firstAttemptDone = undefined;
  }

  #onClosed(session: StompSession, reason: string, wasConnected: boolean): void {
    if (session !== this.#session) return;
    this.#session = undefined;
    this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    // Subscriptions die with the connection; in-flight deliveries of it are no longer counted,
    // so a drained, closed subscription is forgotten.
    for (const sub of this.#subs.values()) {
      sub.inflight = 0;
      if (!sub.active) this.#subs.delete(sub.id);
    }
    const delay = this.#reconnect.schedule(() => this.#connect());
    this.ctx.metrics.inc('connector_reconnects_total', { connector: this.name });
    this.#setState('down');
    this.log.warn(
      wasConnected
        ? `connection to ${this.#where} lost: ${reason}; reconnecting in ${delay} ms`
        : `connecting to ${this.#where} failed: ${reason}; retrying in ${delay} ms (attempt ${this.#reconnect.attempt})`,
    );
    this.#firstAttemptDone?.();
    this.#firstAttemptDone = undefined;
  }

  #setState(state: ConnectorState): void {
    this.#state = state;
  }

  // ---------------------------------------------------------------- sink

  /**
   * The session, when it is open now. A method rather than a read of the field: the compiler
   * would keep an earlier check's narrowing of it across an await, where the session can go.
   */
  #openSession(): StompSession | undefined {
    const session = this.#session;
    return session?.isOpen === true ? session : undefined;
  }

  async #write(message: GatewayMessage, to: StompTo): Promise<void> {
    if (this.#openSession() === undefined) {
      throw new FerryError('NOT_CONNECTED', `${this.name}: not connected to ${this.#where}`);
    }
    const problem = destinationProblem(to.destination, this.#flavor);
    if (problem !== undefined) {
      throw new FerryError('SINK_REJECTED', `${this.name}: cannot SEND to ${JSON.stringify(to.destination)}: ${problem}`, { permanent: true });
    }
    const release = await this.#window.acquire();
    try {
      // The connection may have changed while this write waited for a slot.
      const session = this.#openSession();
      if (session === undefined) {
        throw new FerryError('NOT_CONNECTED', `${this.name}: not connected to ${this.#where}`);
      }
      const now = Date.now();
      // expiry counts down inside Ferry (docs/mapping.md): a message that expired on its way
      // here is dropped and counted, never sent (with expiration 0 or an expires in the past)
      if (hasExpired(message, now)) {
        this.#counters.dropped('expired');
        return;
      }
      const { headers, dropped } = toSendHeaders(message, { flavor: this.#flavor, persistent: to.persistent, now });
      if (dropped.length > 0) this.log.debug('headers not sent (reserved by STOMP or the broker)', { headers: dropped });
      await session.send(to.destination, headers, message.body, this.options.receiptTimeoutMs);
      this.#counters.sent();
    } finally {
      release();
    }
  }

  // ---------------------------------------------------------------- source

  async #subscribe(session: StompSession, sub: Subscription): Promise<void> {
    const headers: Record<string, string> = { ack: sub.ack };
    const prefetch = String(this.options.prefetch);
    if (this.#flavor === 'rabbitmq') headers['prefetch-count'] = prefetch;
    else if (this.#flavor === 'activemq') headers['activemq.prefetchSize'] = prefetch;
    try {
      await session.subscribe(sub.id, sub.destination, headers, this.options.receiptTimeoutMs);
      this.log.info(`subscribed to ${sub.destination} for route ${sub.route} (ack ${sub.ack}, prefetch ${prefetch})`);
    } catch (err) {
      // An ERROR already dropped the connection (and will subscribe again after reconnecting);
      // a timeout leaves a subscription in doubt, so the connection is dropped for a clean one.
      this.log.error(`SUBSCRIBE to ${sub.destination} for route ${sub.route} failed: ${describeError(err)}`);
      if (FerryError.is(err, 'SINK_TIMEOUT')) session.terminate(`no RECEIPT for SUBSCRIBE to ${sub.destination}`);
    }
  }

  #onMessage(session: StompSession, frame: StompFrame): void {
    const subId = headerValue(frame, 'subscription');
    const ackId = headerValue(frame, 'ack');
    const sub = subId === undefined ? undefined : this.#subs.get(subId);
    if (sub === undefined || !sub.active || this.#sourcesClosed || this.#deliver === undefined) {
      // Not taken any more (closeSources raced with the broker): give it back where the broker
      // allows; otherwise it stays unacknowledged and returns when the subscription ends.
      if (ackId !== undefined && subId !== undefined && sub?.ack !== 'auto' && this.#flavor === 'rabbitmq') {
        session.nack(ackId, subId, { requeue: 'true' });
      }
      return;
    }
    let message: GatewayMessage;
    try {
      message = fromMessageFrame(frame.headers, frame.body, {
        connector: this.name,
        flavor: this.#flavor,
        subscribedTo: sub.destination,
        ack: sub.ack,
        now: Date.now(),
      });
    } catch (err) {
      this.log.error(`MESSAGE from ${sub.destination} could not be read: ${describeError(err)}`);
      if (ackId !== undefined && sub.ack !== 'auto') session.nack(ackId, sub.id, this.#flavor === 'rabbitmq' ? { requeue: 'false' } : {});
      return;
    }
    this.#counters.received();
    sub.inflight++;
    const settlement = new Settlement((outcome) => this.#settle(session, sub, ackId, outcome));
    try {
      this.#deliver({ message, settlement, routes: [sub.route] });
    } catch (err) {
      this.log.error(`delivery of a MESSAGE from ${sub.destination} failed: ${describeError(err)}`);
      settlement.release(toFerryError(err));
    }
  }

  /**
   * Settle one MESSAGE upstream. NACK differs by broker (STOMP 1.2 §NACK: "server specific"):
   * - RabbitMQ: NACK requeues unless `requeue: false` (rabbitmq_stomp `default_nack_requeue`):
   *   reject → NACK `requeue:false` (dead-lettered if the queue has a DLX, else dropped);
   *   release → NACK `requeue:true`.
   * - ActiveMQ 5.x: NACK is a poison ack (the message goes to the DLQ, ActiveMQ.DLQ by default):
   *   reject → NACK; release → nothing is sent: the message stays unacknowledged and the broker
   *   redelivers it when the subscription or connection ends.
   * - others: reject → NACK; release → nothing (a NACK may discard, as Artemis' does).
   */
  #settle(session: StompSession, sub: Subscription, ackId: string | undefined, outcome: Outcome): void {
    if (session === this.#session) sub.inflight = Math.max(0, sub.inflight - 1);
    this.#counters.outcome(outcome);
    if (sub.ack !== 'auto' && ackId !== undefined) {
      if (session !== this.#session || !session.isOpen) {
        // Its connection is gone: the broker already took the message back and redelivers it.
        this.log.debug(`MESSAGE from ${sub.destination} settled (${outcome.kind}) after its connection closed; the broker redelivers it`);
      } else if (outcome.kind === 'accept') {
        session.ack(ackId, sub.id);
      } else if (outcome.kind === 'reject') {
        session.nack(ackId, sub.id, this.#flavor === 'rabbitmq' ? { requeue: 'false' } : {});
      } else if (this.#flavor === 'rabbitmq') {
        session.nack(ackId, sub.id, { requeue: 'true' });
      } else {
        this.log.debug(`MESSAGE from ${sub.destination} released: left unacknowledged until the subscription ends (${this.#flavor} NACK would not requeue it)`);
      }
    }
    this.#maybeUnsubscribe(sub);
  }

  #maybeUnsubscribe(sub: Subscription): void {
    if (sub.active || sub.inflight > 0 || !this.#subs.has(sub.id)) return;
    this.#subs.delete(sub.id);
    const session = this.#session;
    if (session?.isOpen === true) {
      session.unsubscribe(sub.id);
      this.log.info(`unsubscribed from ${sub.destination} (route ${sub.route})`);
    }
  }
}
