/**
 * `amqp10-listener`: an embedded AMQP 1.0 endpoint (a rhea container in server mode).
 *
 * - Clients attach SENDING links to give Ferry messages (Ferry is the receiver: the source
 *   side). Each such link gets `credit` (§2.6.7) and one more credit per settled delivery,
 *   never an unbounded window: a client can have at most `credit` messages unsettled in Ferry.
 *   While the engine's SourceFlow is paused, the credit a settlement would give back is owed
 *   (per link) and granted on resume, so clients run out of credit and keep their messages.
 *   Sockets are read all along: the same connections carry the dispositions of Ferry's own
 *   sends to client receivers, which may be what resumes the flow.
 *   A transfer is settled `accepted` only after every destination confirmed, `rejected` or
 *   `released` per the engine's outcome. Pre-settled transfers are at-most-once.
 * - Clients attach RECEIVING links to take messages (Ferry is the sender: the sink side).
 *   The listener is a broker there (./outbox.ts): a sink write is confirmed once the listener
 *   has taken the message: accepted by an attached receiver, or, with none attached, put in
 *   the bounded per-address queue that receivers get in order when they attach.
 * - A bad frame or protocol violation closes that one connection with an AMQP error
 *   (./frame-guard.ts); the listener and other connections carry on.
 */
import { Authenticator, authConfigFrom, ConnectorCounters, describeError, reportRestore, FerryError, FlowWatch, hasExpired, StartStop, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Logger, type Sink, type SourceFlow, type SourceSpec, ConnectorBase } from '@ferry/core';
import { Listener, listeningLine, type AcceptedConnection, type BoundPorts } from '@ferry/net';
import rhea from 'rhea';
import { matchesAddress } from './address-match.js';
import { answerSndSettleMode, disarmConnection, installCapture, installCreditGuard, installDispositionWriter, installFlowWriter, installIncomingDeliveries, installLinkKeys, installQuietLog, installTransferRead, overranCredit, peerAddress, receiveDirect } from './rhea-seam.js';
import { absorbRetiredConnectionEvents } from './retired-connections.js';
import { receiveTransfer, type Receiving } from './inbound.js';
import { FrameGuard } from './frame-guard.js';
import { saslMechanisms } from './listener-sasl.js';
import { linkSource, toAmqp10, type Outgoing } from './mapping.js';
import type { Amqp10From, Amqp10ListenerOptions, Amqp10To } from './options.js';
import { Outbox } from './outbox.js';
import { Amqp10QueueStore } from './queue-store.js';
import { closeClients, type Client, type InLink, type ServerConnection } from './listener-client.js';


export class Amqp10Listener extends ConnectorBase<Amqp10ListenerOptions, Amqp10From, Amqp10To> {
  readonly sink: Sink<Amqp10To>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  /** what every received transfer is counted under and asks of the sources */
  readonly #receiving: Receiving;
  #state: ConnectorState = 'idle';
  #listener: Listener | undefined;
  #container: rhea.Container | undefined;
  /** who may connect, send and receive (core's one authenticator), from start */
  #auth: Authenticator | undefined;
  readonly #clients = new Set<Client>();
  #nextClient = 1;
  #sources: { readonly specs: readonly SourceSpec<Amqp10From>[]; readonly deliver: DeliveryHandler } | undefined;
  #sourcesOpen = false;
  readonly #flow = new FlowWatch();
  readonly #inLinks = new Set<InLink>();
  readonly #outbox: Outbox;
  readonly #life = new StartStop();

  constructor(ctx: ConnectorContext, name: string, options: Amqp10ListenerOptions) {
    super(ctx, name, options, 'amqp10-listener');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.#receiving = { connector: name, metrics: ctx.metrics, counters: this.#counters, sourcesOpen: () => this.#sourcesOpen, paused: () => this.#paused };
    this.#outbox = new Outbox({
      connector: name,
      queueBufferMessages: options.queueBufferMessages,
      queueBufferBytes: options.queueBufferBytes,
      maxBufferedBytes: options.maxBufferedBytes,
      maxUnsettledBytesPerReceiver: options.maxUnsettledBytesPerReceiver,
      metrics: ctx.metrics,
      logger: this.log,
      isTopic: (address) => options.topics.some((p) => matchesAddress(p, address)),
      store: ctx.listenerStore === undefined ? undefined : new Amqp10QueueStore(ctx.listenerStore),
    });
    this.sink = { write: (m, to) => this.#write(m, to) };
  }

  get state(): ConnectorState {
    return this.#state;
  }

  /** Bytes the listener holds for its client receivers: queued and sent-unsettled. */
  get heldBytes(): number {
    return this.#outbox.heldBytes;
  }

  /** Messages waiting in the sink queue of `address` (not yet sent to a receiver). */
  queued(address: string): number {
    return this.#outbox.queued(address);
  }

  /** The bound port (useful with port 0). */
  get port(): number | undefined {
    return this.#listener?.ports?.port;
  }

  /** every bound port once started: main, tls (when separate) and websocket */
  get ports(): BoundPorts | undefined {
    return this.#listener?.ports;
  }

  /** Serve renewed TLS certificates to new connections; open ones keep theirs. */
  async reloadTls(): Promise<void> {
    await this.#listener?.reloadTls();
  }

  get #containerId(): string {
    return `ferry-${this.ctx.gatewayId}-${this.name}`;
  }

  start(): Promise<void> {
    return this.#life.start(() => this.#start());
  }

  async #start(): Promise<void> {
    installCapture();
    installCreditGuard();
    installLinkKeys();
    installTransferRead();
    installIncomingDeliveries();
    installDispositionWriter();
    installFlowWriter();
    installQuietLog();
    this.#state = 'connecting';
    const c = rhea.create_container({ id: this.#containerId });
    c.on('error', (e: unknown) => this.log.error('amqp10-listener error', { error: describeError(e) }));
    absorbRetiredConnectionEvents(c);
    const o = this.options;
    let auth: Authenticator;
    try {
      auth = new Authenticator(authConfigFrom(o, this.ctx.baseDir), { logger: this.log, metrics: this.ctx.metrics, connector: this.name, syntax: 'amqp10' });
      await auth.start(`${o.host}:${o.port}`);
      // what the queues took and no receiver accepted before the last stop (or kill) is back first
      const store = this.ctx.listenerStore;
      if (store !== undefined) {
        const started = performance.now();
        const { messages, corrupt } = await this.#outbox.restore();
        reportRestore(this.log, store.location, { messages }, corrupt, started);
      }
    } catch (err) {
      this.#state = 'down';
      throw err;
    }
    this.#auth = auth;
    this.#container = c;
    const listener = new Listener(
      {
        type: this.type,
        name: this.name,
        protocol: 'AMQP 1.0',
        host: o.host,
        port: o.port,
        transport: o,
        baseDir: this.ctx.baseDir,
        // AMQP 1.0 WebSocket binding §2.1: the subprotocol is "amqp"
        subprotocols: ['amqp'],
        // the binding lets frames be split over or packed into WebSocket messages (§2.3); room for a few
        maxWebSocketMessageBytes: o.maxFrameSize + 64 * 1024,
      },
      { logger: this.log, metrics: this.ctx.metrics },
      (a) => this.#accept(a),
    );
    try {
      await listener.listen();
    } catch (err) {
      this.#state = 'down';
      throw err;
    }
    this.#listener = listener;
    this.#state = 'up';
    this.ctx.metrics.set('connector_up', { connector: this.name }, 1);
    this.log.info(listeningLine('amqp10-listener', this.options.host, listener.ports ?? { port: this.port ?? this.options.port }), { sasl: { plain: true, anonymous: auth.anonymousAllowed } });
  }

  /**
   * Take a connection the transport accepted (the listener calls this for every TCP, TLS and
   * WebSocket connection; tests hand it in-memory streams). Only while started.
   */
  accept(accepted: AcceptedConnection): void {
    this.#accept(accepted);
  }

  #accept(accepted: AcceptedConnection): void {
    const socket = accepted.stream;
    const c = this.#container;
    const auth = this.#auth;
    if (c === undefined || auth === undefined || this.#state !== 'up') {
      socket.destroy();
      return;
    }
    const guard = new FrameGuard(socket, {
      role: 'server',
      maxFrameSize: this.options.maxFrameSize,
      maxMessageBytes: this.options.maxMessageBytes,
      maxUnfinishedBytes: this.options.maxUnfinishedBytes,
      containerId: this.#containerId,
      requireSasl: !auth.anonymousAllowed,
    });
    const serverOptions = {
      container_id: this.#containerId,
      max_frame_size: this.options.maxFrameSize,
      idle_time_out: this.options.idleTimeoutMs,
      // links the clients open: manual settlement and manual credit (see #onClientSender)
      receiver_options: { autoaccept: false, credit_window: 0, max_message_size: this.options.maxMessageBytes, rcv_settle_mode: 0 },
      sender_options: { autosettle: true, treat_modified_as_released: false },
    };
    // rhea's ConnectionOptions type describes a client (host and port required); a server-side
    // connection takes the same object without them (lib/container.js listen does the same)
    const conn = c.create_connection(serverOptions as unknown as rhea.ConnectionOptions);
    // a client that skips SASL, or picks ANONYMOUS, is the anonymous client (when allowed)
    const id = this.#nextClient++;
    const log = this.log.child({ client: id, peer: accepted.info.remote, transport: accepted.info.transport });
    const client: Client = { id, conn, guard, socket, log, receivers: new Set(), alive: true, access: auth.anonymousClient() };
    this.#clients.add(client);
    this.ctx.metrics.add('listener_clients', { connector: this.name }, 1);
    guard.on('violation', (condition: string, description: string) => {
      this.ctx.metrics.inc('protocol_errors_total', { connector: this.name, code: condition });
      log.warn('amqp10-listener closed a connection for a protocol violation', { condition, description });
    });
    conn.on('connection_open', () => {
      // the open exchange (AMQP 1.0 §2.4.1) ends the transport's handshake deadline
      accepted.handshakeDone();
      log.info('amqp10-listener client connected', { container: conn.container_id });
    });
    conn.on('receiver_open', (ctx: rhea.EventContext) => {
      if (ctx.receiver !== undefined) this.#onClientSender(client, ctx.receiver, log);
    });
    conn.on('sender_open', (ctx: rhea.EventContext) => {
      if (ctx.sender !== undefined) this.#onClientReceiver(client, ctx.sender, log);
    });
    // rhea raises errors it cannot read past as 'protocol_error' (ProtocolError) or 'error'
    // (anything else, e.g. a decode error); close THAT connection with an AMQP error
    conn.on('protocol_error', (e: unknown) => guard.fail('amqp:connection:framing-error', describeError(e)));
    conn.on('error', (e: unknown) => guard.fail('amqp:decode-error', describeError(e)));
    conn.on('connection_error', (ctx: rhea.EventContext) => log.warn('amqp10-listener client closed with an error', { error: describeError(ctx.connection.error ?? ctx.error) }));
    conn.on('connection_close', () => undefined);
    conn.on('session_error', () => undefined);
    conn.on('sender_error', () => undefined);
    conn.on('receiver_error', () => undefined);
    conn.on('disconnected', (ctx: rhea.EventContext) => this.#gone(client, ctx.error));
    // rhea raises no 'disconnected' after a clean close handshake (§2.4.3; lib/connection.js
    // _disconnected skips a closed connection), and links get no detach then: the socket's end
    // is what tells a client that closed politely is gone
    socket.once('close', () => this.#gone(client, undefined));
    // rhea reads the SASL mechanisms from its container when a connection is accepted
    // (lib/connection.js init): these, made for this connection, know who it is
    c.sasl_server_mechanisms = saslMechanisms(c, auth, client, accepted.info, this.options.useIdentityAsUsername === true, this.log);
    // rhea's typings leave out the server side's accept (lib/connection.js Connection.accept)
    (conn as unknown as ServerConnection).accept(guard.asSocket());
    // read: the container must not keep this client (through its mechanisms) after it is gone
    c.sasl_server_mechanisms = c.sasl.server_mechanisms();
  }

  #gone(client: Client, error: unknown): void {
    if (!client.alive) return;
    client.alive = false;
    this.#clients.delete(client);
    this.ctx.metrics.add('listener_clients', { connector: this.name }, -1);
    // what its receivers had unsettled goes back to the queues, for other receivers
    for (const l of client.receivers) this.#outbox.detach(l);
    client.receivers.clear();
    for (const l of [...this.#inLinks]) if (l.client === client) this.#inLinks.delete(l);
    client.conn.removeAllListeners();
    client.conn.on('error', () => undefined);
    // rhea's timers would otherwise hold the connection for twice the idle time-out
    disarmConnection(client.conn);
    client.log.info('amqp10-listener client disconnected', error === undefined ? undefined : { error: describeError(error) });
  }

  // ---------------------------------------------------------------------------------------------
  // source side: a client's sending link

  #routesFor(address: string): string[] {
    return (this.#sources?.specs ?? []).filter((s) => matchesAddress(s.from.address, address)).map((s) => s.route);
  }

  #onClientSender(client: Client, r: rhea.Receiver, log: Logger): void {
    const address = peerAddress(r, 'target');
    if (typeof address === 'string' && !(client.access?.mayPublish(address, `client ${client.id}`) ?? false)) {
      // §2.6.3 with the condition of §2.8.15: the client may not send to this address
      r.close({ condition: 'amqp:unauthorized-access', description: `you may not send to ${address}` });
      return;
    }
    const routes = typeof address === 'string' ? this.#routesFor(address) : [];
    if (typeof address !== 'string' || !this.#sourcesOpen || routes.length === 0) {
      // §2.6.3: refuse the link: attach with a null target, then detach with the reason
      log.warn('amqp10-listener refused a sending link', { address });
      r.close({ condition: 'amqp:not-found', description: `no route takes messages from ${address ?? 'a null target'}` });
      return;
    }
    r.set_target({ address });
    const link: InLink = { address, routes, source: linkSource(this.name, address), receiver: r, client, owed: 0 };
    this.#inLinks.add(link);
    // a link attached while paused starts with no credit and owes all of it
    if (this.#paused) link.owed = this.options.credit;
    else r.add_credit(this.options.credit);
    log.info(`amqp10-listener client sends to ${address}`, { routes, credit: this.options.credit, paused: this.#paused });
    // whether a delivery on this link can still be settled: made once for the link's transfers
    const live = (): boolean => client.alive && r.is_open();
    // Ferry reads each message from its bytes (inbound.ts): each delivery comes here from the
    // session's receipt, without rhea's decode or its message event (receiveDirect, rhea-seam.ts)
    receiveDirect(r, (d, data) => this.#onMessage(link, d, data, log, live));
    r.on('receiver_close', () => this.#inLinks.delete(link));
  }

  get #paused(): boolean {
    return this.#flow.paused;
  }

  /** Grant every client sending link the credit withheld from it (one flow frame each, §2.7.4). */
  #payOwed(): void {
    if (!this.#sourcesOpen || this.#paused) return;
    for (const l of this.#inLinks) {
      if (l.owed === 0) continue;
      if (l.client.alive && !l.receiver.is_closed()) l.receiver.add_credit(l.owed);
      l.owed = 0;
    }
  }

  #follow(flow: SourceFlow | undefined): void {
    this.#flow.follow(flow, (paused) => {
      this.log.debug(paused ? 'amqp10-listener paused: withholding link credit' : 'amqp10-listener resumed: granting the credit withheld');
      if (!paused) this.#payOwed();
    });
  }

  #onMessage(link: InLink, d: rhea.Delivery, data: Buffer | undefined, log: Logger, live: () => boolean): void {
    const { receiver: r, address } = link;
    if (overranCredit(r)) {
      // §2.6.7: no transfer without credit. The message is not taken (no outcome: the client
      // still holds it) and the link is detached with the condition of §2.8.15; transfers
      // already on their way find it closing and are dropped the same way, logged once
      if (r.is_open()) {
        log.warn('amqp10-listener: a client sent without link credit; link detached', { address, credit: this.options.credit });
        r.close({ condition: 'amqp:link:transfer-limit-exceeded', description: 'a transfer arrived with no link credit (AMQP 1.0 §2.6.7)' });
      }
      return;
    }
    const sources = this.#sources;
    if (sources === undefined) return;
    receiveTransfer(this.#receiving, link, d, data, live, log, sources.deliver);
  }

  openSources(specs: readonly SourceSpec<Amqp10From>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void> {
    // a reload may bring other routes: the latest specs decide which addresses a sending link may use
    this.#sources = { specs, deliver };
    this.#sourcesOpen = true;
    this.#follow(flow);
    // opened again after closeSources: the credit withheld meanwhile goes back out
    this.#payOwed();
    return Promise.resolve();
  }

  closeSources(): Promise<void> {
    // no more credit; new sending links are refused; messages that arrive on credit already
    // given are released unprocessed. The flow no longer applies.
    this.#sourcesOpen = false;
    this.#flow.drop();
    return Promise.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // sink side: a client's receiving link

  #onClientReceiver(client: Client, s: rhea.Sender, log: Logger): void {
    const address = peerAddress(s, 'source');
    if (typeof address !== 'string' || address === '') {
      log.warn('amqp10-listener refused a receiving link without a source address');
      s.close({ condition: 'amqp:not-implemented', description: 'a source address is required (dynamic nodes are not supported)' });
      return;
    }
    if (!(client.access?.maySubscribe(address, `client ${client.id}`) ?? false)) {
      s.close({ condition: 'amqp:unauthorized-access', description: `you may not receive from ${address}` });
      return;
    }
    s.set_source({ address });
    // §2.7.3: the receiver's snd-settle-mode is what it desires; answer settled (1) when it
    // asked for it, else unsettled (0), so its choice is the link's mode
    const presettled = s.snd_settle_mode === 1;
    answerSndSettleMode(s, presettled);
    const link = this.#outbox.attach(address, s, () => client.alive, presettled);
    client.receivers.add(link);
    log.info(`amqp10-listener client receives from ${address}`, { presettled });
    s.on('sender_close', () => {
      client.receivers.delete(link);
      this.#outbox.detach(link);
    });
  }

  #write(message: GatewayMessage, to: Amqp10To): Promise<void> {
    if (this.#state !== 'up') return Promise.reject(new FerryError('NOT_CONNECTED', `amqp10-listener ${this.name} is not listening (${this.#state})`));
    const now = Date.now();
    if (hasExpired(message, now)) {
      // expiry counts down inside Ferry (docs/mapping.md): dropped and counted, never sent
      this.#counters.dropped('expired');
      return Promise.resolve();
    }
    let out: Outgoing;
    try {
      out = toAmqp10(message, { to: to.address, now });
    } catch (e) {
      return Promise.reject(e instanceof FerryError ? e : new FerryError('INTERNAL', describeError(e), { cause: e }));
    }
    return this.#outbox.write(to.address, out, message.messageId);
  }

  // ---------------------------------------------------------------------------------------------

  stop(): Promise<void> {
    // never started: nothing to close
    return this.#life.stop(() => this.#stop(), () => void (this.#state = 'stopped'));
  }

  async #stop(): Promise<void> {
    await this.#life.starting?.catch(() => undefined);
    this.#state = 'stopping';
    this.#sourcesOpen = false;
    this.#flow.drop();
    this.#outbox.close(new FerryError('SHUTTING_DOWN', `amqp10-listener ${this.name} is stopping`));
    const listener = this.#listener;
    this.#listener = undefined;
    const closed = listener === undefined ? Promise.resolve() : listener.close();
    await closeClients(this.#clients, closed, (client) => this.#gone(client, undefined));
    this.ctx.metrics.set('connector_up', { connector: this.name }, 0);
    this.#state = 'stopped';
    this.log.info('amqp10-listener stopped');
  }
}
