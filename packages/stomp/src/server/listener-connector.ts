import { Authenticator, authConfigFrom, ConnectorCounters, FerryError, FlowWatch, reportRestore, StartStop, toFerryError, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Settlement, type Sink, type SourceFlow, type SourceSpec, ConnectorBase } from '@ferry/core';
import { listeningLine, type BoundPorts } from '@ferry/net';
import { destinationKind } from './broker-message.js';
import { StompQueueStore } from './queue-store.js';
import { StompBroker } from './broker.js';
import { messageToBroker, sendToMessage } from './mapping.js';
import { StompServer } from './server.js';
import { SharedSendParts } from './shared-send-parts.js';
import { DEFAULT_SESSION_OPTIONS, type InboundSendContent, type SessionHooks } from './session.js';
import { SERVER_NAME } from './version.js';
import { stompAuthInput } from './auth-input.js';
import type { StompListenerFrom, StompListenerOptions, StompListenerTo } from './listener-options.js';

/**
 * The `stomp-listener` connector: Ferry's own STOMP server and broker.
 *
 * As a source, every client SEND is first published to the listener's own broker (its local
 * subscribers get it at once; a full queue refuses it with an ERROR before anything is
 * routed), then handed to the routes as a GatewayMessage. A SEND with `receipt` gets its
 * RECEIPT only once that message's settlement is accepted; a reject or release becomes an
 * ERROR with `receipt-id` (and the connection closes, STOMP 1.2 §ERROR). Local delivery is not
 * taken back when routing fails: the client, told by the ERROR, may send again (at-least-once).
 *
 * As a sink, `write` publishes to the broker and resolves once the message was written to a
 * subscriber or held by a /queue; a /topic without subscribers takes it and drops it (topic
 * semantics) and it is counted as `messages_dropped_total{reason="no-subscriber"}`.
 */
export class StompListenerConnector extends ConnectorBase<StompListenerOptions, StompListenerFrom, StompListenerTo> {
  readonly sink: Sink<StompListenerTo>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  readonly #broker: StompBroker;
  /** what SENDs' messages share (their source and meta) */
  readonly #shared: SharedSendParts;
  #server: StompServer | undefined;
  readonly #flow = new FlowWatch();
  #state: ConnectorState = 'idle';
  #deliver: DeliveryHandler | undefined;
  #accepting = true;
  readonly #life = new StartStop();

  constructor(ctx: ConnectorContext, name: string, opts: StompListenerOptions) {
    super(ctx, name, opts, 'stomp-listener');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.#shared = new SharedSendParts(name);
    this.#broker = new StompBroker({
      queueBufferMessages: opts.queueBufferMessages,
      maxUnackedPerSubscription: opts.maxUnackedPerSubscription,
      queueBufferBytes: opts.queueBufferBytes,
      maxBufferedBytes: opts.maxBufferedBytes,
      maxUnackedBytesPerSubscription: opts.maxUnackedBytesPerSubscription,
      onDrop: (reason) => this.#counters.dropped(reason),
      store: ctx.listenerStore === undefined ? undefined : new StompQueueStore(ctx.listenerStore),
    });
    this.sink = { write: (message, to) => this.#write(message, to) };
  }

  get state(): ConnectorState {
    return this.#state;
  }

  /** the listener's broker (for tests and the admin API: queue depths) */
  get broker(): StompBroker {
    return this.#broker;
  }

  /** the bound TCP port, once started */
  get port(): number {
    return this.#server?.port ?? this.options.port;
  }

  /** every bound port once started: main, tls (when separate) and websocket */
  get ports(): BoundPorts | undefined {
    return this.#server?.ports;
  }

  /** Serve renewed TLS certificates to new connections; open ones keep theirs. */
  async reloadTls(): Promise<void> {
    await this.#server?.reloadTls();
  }

  get sessionCount(): number {
    return this.#server?.sessionCount ?? 0;
  }

  start(): Promise<void> {
    return this.#life.start(() => this.#start());
  }

  #start(): Promise<void> {
    this.#state = 'connecting';
    this.#accepting = true;
    let auth: Authenticator;
    try {
      const o = this.options;
      auth = new Authenticator(authConfigFrom(stompAuthInput(o), this.ctx.baseDir), {
        logger: this.ctx.logger.child({ connector: this.name }),
        metrics: this.ctx.metrics,
        connector: this.name,
        syntax: 'stomp',
      });
    } catch (err) {
      this.#state = 'down';
      return Promise.reject(toFerryError(err, 'CONFIG_INVALID'));
    }
    const server = new StompServer(
      {
        ...DEFAULT_SESSION_OPTIONS,
        host: this.options.host,
        port: this.options.port,
        transport: this.options,
        name: this.name,
        baseDir: this.ctx.baseDir,
        metrics: this.ctx.metrics,
        serverName: SERVER_NAME,
        heartBeat: this.options.heartBeat,
        maxTransactionBytes: this.options.maxTransactionBytes ?? DEFAULT_SESSION_OPTIONS.maxTransactionBytes,
        limits: { ...this.options.limits, maxBodyBytes: this.options.limits.maxFrameBytes },
      },
      this.#broker,
      this.#hooks(auth),
      this.ctx.logger.child({ connector: this.name }),
    );
    return auth
      .start(`${this.options.host}:${this.options.port}`)
      .then(() => this.#restore())
      .then(() => server.listen())
      .then(
      () => {
        this.#server = server;
        this.#state = 'up';
        this.ctx.metrics.set('connector_up', { connector: this.name }, 1);
        this.ctx.logger.info(listeningLine('stomp-listener', this.options.host, server.ports ?? { port: this.options.port }), { connector: this.name });
      },
      (err: unknown) => {
        this.#state = 'down';
        throw err;
      },
    );
  }

  /** /queue messages a previous run took and did not deliver are back before clients connect */
  async #restore(): Promise<void> {
    const store = this.ctx.listenerStore;
    if (store === undefined) return;
    const started = performance.now();
    const { messages, corrupt } = await this.#broker.restore();
    reportRestore(this.ctx.logger.child({ connector: this.name }), store.location, { messages }, corrupt, started);
  }

  stop(): Promise<void> {
    return this.#life.stop(async () => {
      const server = this.#server;
      this.#state = 'stopping';
      this.#accepting = false;
      await this.#life.starting?.catch(() => undefined);
      // Sessions close; their unacked queue messages go back to the queue buffers, which
      // outlive the server (a later start delivers them).
      await (this.#server ?? server)?.close();
      await this.#broker.written();
      this.#server = undefined;
      this.#state = 'stopped';
      this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
      this.ctx.metrics.set('listener_clients', { connector: this.name }, 0);
    });
  }

  openSources(_specs: readonly SourceSpec<StompListenerFrom>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void> {
    // Every SEND is matched by the engine against the routes' destination patterns.
    this.#deliver = deliver;
    this.#accepting = true;
    // backpressure: while paused, client sockets are not read (StompSession.updateFlow)
    if (flow !== undefined && this.#flow.follow(flow, () => this.#server?.updateFlow())) this.#server?.updateFlow();
    return Promise.resolve();
  }

  closeSources(): Promise<void> {
    this.#accepting = false;
    this.#flow.drop();
    this.#server?.updateFlow();
    return Promise.resolve();
  }

  #hooks(auth: Authenticator): SessionHooks {
    const labels = { connector: this.name };
    return {
      // one authenticator for every listener (core's auth). A listener with no users that says
      // anonymous: true takes any login as anonymous (RabbitMQ and ActiveMQ without
      // authentication do the same, and most client libraries, stomp.py among them, always send one)
      authenticate: (login, passcode, info) =>
        auth
          .login({ username: login, password: passcode, address: info?.remoteAddress ?? 'unknown', certificate: info?.authorized === true ? info.peerCertificate : undefined })
          .then((r) => (r.ok ? r.client : undefined)),
      acceptingSends: () => this.#accepting,
      flowPaused: () => this.#flow.paused,
      onSend: (send, settlement) => this.#onSend(send, settlement),
      onSendSettled: (outcome) => this.#counters.outcome(outcome),
      onProtocolError: (code) => this.ctx.metrics.inc('protocol_errors_total', { ...labels, code }),
      onLimitExceeded: (limit) => this.ctx.metrics.inc('limits_exceeded_total', { ...labels, limit }),
      onOpened: () => this.ctx.metrics.set('listener_clients', labels, this.#server?.sessionCount ?? 0),
      onClosed: () => this.ctx.metrics.set('listener_clients', labels, this.#server?.sessionCount ?? 0),
    };
  }

  /**
   * A client SEND to the routes: `settlement` is the session's own for the SEND (its accept is
   * the RECEIPT, a reject or release the ERROR), handed to the engine as it is; its outcome is
   * counted through onSendSettled.
   */
  #onSend(send: InboundSendContent, settlement: Settlement): boolean {
    this.#counters.received();
    const deliver = this.#deliver;
    // No route reads from this listener: it is only a broker, the local publish was all.
    if (deliver === undefined) return false;
    const message = sendToMessage(send, this.name, this.#shared);
    try {
      deliver({ message, settlement });
    } catch (err) {
      settlement.release(err instanceof FerryError ? err : new FerryError('INTERNAL', 'delivery handler threw', { cause: err }));
    }
    return true;
  }

  async #write(message: GatewayMessage, to: StompListenerTo): Promise<void> {
    if (this.#state !== 'up') throw new FerryError('NOT_CONNECTED', `stomp-listener ${this.name} is ${this.#state}`);
    if (destinationKind(to.destination) === undefined) {
      throw new FerryError('SINK_UNROUTABLE', `stomp-listener ${this.name}: destination ${JSON.stringify(to.destination)} is not /topic/... or /queue/...`, { permanent: true });
    }
    const r = this.#broker.publish(messageToBroker(message, to.destination));
    this.#counters.sent();
    if (r.delivered === 0 && r.held === 0) this.#counters.dropped('no-subscriber');
    // a /queue message is confirmed once it is on disk (with a listener store)
    await r.stored;
  }
}
