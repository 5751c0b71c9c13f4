/**
 * `amqp10`: Ferry as a client of an AMQP 1.0 peer (RabbitMQ's amqp1_0 plugin, Artemis, Qpid...).
 *
 * - Sink: one unsettled sending link per address (./sender-link.ts); `write` resolves on
 *   `accepted`.
 * - Source: one receiving link per `from.address`, manual settlement, and manual credit
 *   (§2.6.7): the link starts with `credit` and gets one more each time a delivery settles, so
 *   credit is Ferry's backpressure; the peer never has more than `credit` messages in Ferry.
 *   While the engine's SourceFlow is paused, the credit a settlement would give back is owed
 *   instead (per link) and granted in one flow frame on resume: the peer runs out of credit
 *   and keeps the rest. The connection is still read all along: it also carries the
 *   dispositions of Ferry's own sends, which may be what resumes the flow.
 * - One connection, reconnected with core's Backoff (rhea's own reconnect is off, so that
 *   links are re-attached and unsettled writes failed in one place, with one log line per
 *   state change).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { ConnectorCounters, describeError, FerryError, FlowWatch, hasExpired, ReconnectTimer, StartStop, type ConnectorContext, type ConnectorState, type DeliveryHandler, type MessageSource, type Sink, type SourceFlow, type SourceSpec, ConnectorBase } from '@ferry/core';
import { loadClientTls } from '@ferry/net';
import rhea from 'rhea';
import { disarmConnection, installCapture, installDispositionWriter, installLinkKeys, installQuietLog } from './rhea-seam.js';
import { absorbRetiredConnectionEvents } from './retired-connections.js';
import { linkSource, toAmqp10 } from './mapping.js';
import type { Amqp10From, Amqp10Options, Amqp10To } from './options.js';
import { FrameGuard } from './frame-guard.js';
import { receiveTransfer, type Receiving } from './inbound.js';
import { peerError } from './outcomes.js';
import { SenderLink } from './sender-link.js';

/**
 * The max-frame-size the client announces in its open (§2.7.1), and the largest frame its
 * FrameGuard lets through: the peer must not send bigger ones. 1 MiB is above what brokers use
 * themselves (RabbitMQ 3.10: 128 KiB), so it changes nothing for them, and it bounds what a
 * broken peer can make Ferry buffer (rhea alone waits for a 4 GB frame it was announced).
 */
export const CLIENT_MAX_FRAME_SIZE = 1024 * 1024;

interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

function parseUrl(url: string, opts: Pick<Amqp10Options, 'username' | 'password'>): Endpoint {
  const u = new URL(url);
  const tls = u.protocol === 'amqps:';
  const username = opts.username ?? (u.username === '' ? undefined : decodeURIComponent(u.username));
  const password = opts.password ?? (u.password === '' ? undefined : decodeURIComponent(u.password));
  return {
    host: u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost',
    port: u.port === '' ? (tls ? 5671 : 5672) : Number(u.port),
    tls,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

interface SourceGroup {
  readonly address: string;
  readonly routes: string[];
  readonly source: MessageSource;
  receiver?: rhea.Receiver;
  session?: rhea.Session;
  /** re-attaches the link after the peer closed it */
  readonly reattach: ReconnectTimer;
  /**
   * Credit of `receiver` withheld while the flow is paused (or the sources are closed): each
   * delivery uses one credit and, once done with, gives it back or adds it here, so link
   * credit + deliveries in Ferry + owed is always `credit`. Reset with the link.
   */
  owed: number;
}

export class Amqp10Client extends ConnectorBase<Amqp10Options, Amqp10From, Amqp10To> {
  readonly sink: Sink<Amqp10To>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  /** what every received transfer is counted under and asks of the sources */
  readonly #receiving: Receiving;
  readonly #reconnect: ReconnectTimer;
  readonly #life = new StartStop();
  #state: ConnectorState = 'idle';
  #container: rhea.Container | undefined;
  #conn: rhea.Connection | undefined;
  /** bumped on every connection loss: settlements of older deliveries are no-ops */
  #generation = 0;
  readonly #senders = new Map<string, SenderLink>();
  #sources: { readonly groups: Map<string, SourceGroup>; readonly deliver: DeliveryHandler } | undefined;
  #sourcesOpen = false;
  readonly #flow = new FlowWatch();
  #firstAttempt: { resolve: () => void } | undefined;

  constructor(ctx: ConnectorContext, name: string, options: Amqp10Options) {
    super(ctx, name, options, 'amqp10');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.#receiving = { connector: name, metrics: ctx.metrics, counters: this.#counters, sourcesOpen: () => this.#sourcesOpen, paused: () => this.#paused };
    this.#reconnect = new ReconnectTimer({ initialMs: options.reconnect.initialMs, maxMs: options.reconnect.maxMs });
    this.sink = { write: (m, to) => this.#write(m, to) };
  }

  /** TLS options read from the files of `tls` at start (amqps://) */
  #tls: TlsConnectionOptions | undefined;

  get state(): ConnectorState {
    return this.#state;
  }

  #setState(s: ConnectorState, line?: string, fields?: Record<string, unknown>): void {
    if (this.#state === s && line === undefined) return;
    this.#state = s;
    this.ctx.metrics.set('connector_up', { connector: this.name }, s === 'up' ? 1 : 0);
    if (line === undefined) return;
    if (s === 'down') this.log.warn(line, fields);
    else this.log.info(line, fields);
  }

  /** Resolves once the first connection attempt opened or failed; the connector keeps retrying after a failure. */
  start(): Promise<void> {
    return this.#life.start(() => this.#start());
  }

  #start(): Promise<void> {
    installCapture();
    installLinkKeys();
    installDispositionWriter();
    installQuietLog();
    const c = rhea.create_container({ id: this.options.containerId ?? `ferry-${this.ctx.gatewayId}-${this.name}` });
    // a last resort: rhea raises unhandled link/session/connection errors on the container,
    // and an EventEmitter 'error' without a listener kills the process
    c.on('error', (e: unknown) => this.log.error('amqp10 error', { error: describeError(e) }));
    absorbRetiredConnectionEvents(c);
    this.#container = c;
    const first = new Promise<void>((resolve) => {
      this.#firstAttempt = { resolve };
    });
    const tls = this.options.tls;
    // certificate files are read once per start; an unreadable one fails the start (a route
    // file error), unlike a peer that is down
    return (tls === undefined ? Promise.resolve(undefined) : loadClientTls(tls, this.ctx.baseDir)).then(
      (options) => {
        this.#tls = options;
        this.#connect();
        return first;
      },
      (err: unknown) => {
        this.#setState('down');
        throw err;
      },
    );
  }

  #connect(): void {
    const c = this.#container;
    if (c === undefined || this.#state === 'stopping' || this.#state === 'stopped') return;
    const ep = parseUrl(this.options.url, this.options);
    this.#setState('connecting', `amqp10 connecting to ${ep.host}:${ep.port}`);
    // every byte from the peer goes through a frame guard before rhea sees it (./frame-guard.ts):
    // a bad frame closes THIS connection with an AMQP error, and the backoff reconnects
    let guard: FrameGuard | undefined;
    let socket: Socket | undefined;
    const connectGuarded = (port: number, host: string, tlsOptions: TlsConnectionOptions, connected: () => void): Socket => {
      socket = ep.tls ? tlsConnect(port, host, { ...tlsOptions, servername: ep.host, ...this.#tls }, connected) : netConnect({ port, host, noDelay: true }, connected);
      socket.setNoDelay(true);
      // a socket that closes under rhea without its noticing is a lost connection too
      socket.once('close', () => lost(undefined));
      guard = new FrameGuard(socket, { role: 'client', maxFrameSize: CLIENT_MAX_FRAME_SIZE, maxMessageBytes: undefined, containerId: c.id, requireSasl: false });
      guard.on('violation', (condition: string, description: string) => {
        this.ctx.metrics.inc('protocol_errors_total', { connector: this.name, code: condition });
        this.log.warn('amqp10 closed the connection for a protocol violation by the peer', { condition, description });
      });
      return guard.asSocket();
    };
    const options: rhea.ConnectionOptions = {
      host: ep.host,
      port: ep.port,
      connect: connectGuarded,
      max_frame_size: CLIENT_MAX_FRAME_SIZE,
      ...(ep.tls ? { transport: 'tls', servername: ep.host } : {}),
      // SASL PLAIN with a user, else SASL ANONYMOUS (rhea: a user without a password → ANONYMOUS)
      username: ep.username ?? 'anonymous',
      ...(ep.password === undefined ? {} : { password: ep.password }),
      ...(this.options.hostname === undefined ? {} : { hostname: this.options.hostname }),
      container_id: c.id,
      idle_time_out: this.options.idleTimeoutMs,
      reconnect: false,
      tcp_no_delay: true,
    } as rhea.ConnectionOptions;
    const conn = c.connect(options);
    this.#conn = conn;
    const gen = this.#generation;
    conn.on('connection_open', () => {
      if (gen !== this.#generation) return;
      this.#reconnect.reset();
      this.#setState('up', `amqp10 connected to ${ep.host}:${ep.port}`, { remoteContainer: conn.container_id });
      this.#attachSources();
      this.#firstAttempt?.resolve();
      this.#firstAttempt = undefined;
    });
    /**
     * The error the connection ended with, carried into the failed writes and the down line:
     * the peer's close (§2.7.9), or rhea's own (a failed SASL exchange).
     */
    let closedWith: ReturnType<typeof peerError>;
    const lost = (error: unknown): void => {
      if (gen !== this.#generation) return;
      this.#lost(error, closedWith);
      // rhea answers the peer's close and ends the socket; one that lingers half-open goes
      const s = socket;
      if (s !== undefined) setTimeout(() => s.destroy(), 2000).unref();
    };
    conn.on('connection_error', (ctx: rhea.EventContext) => {
      closedWith = peerError(ctx.error ?? ctx.connection.error);
    });
    // the peer closed the connection (§2.4.3, with or without an error), or SASL failed. rhea
    // raises 'disconnected' after that only for amqp:connection:forced (its one non-fatal
    // condition): after any other close it stays silent and the connector would wait for ever
    conn.on('connection_close', (ctx: rhea.EventContext) => lost(ctx.error));
    // rhea raises what it cannot read past as 'protocol_error' (ProtocolError) or 'error' (e.g.
    // a decode error) and then only ends the socket: tell the peer why first (§2.7.9)
    conn.on('protocol_error', (e: unknown) => guard?.fail('amqp:connection:framing-error', describeError(e)));
    conn.on('error', (e: unknown) => guard?.fail('amqp:decode-error', describeError(e)));
    conn.on('session_error', (ctx: rhea.EventContext) => this.log.warn('amqp10 session ended with an error', { error: describeError(ctx.session?.error) }));
    conn.on('disconnected', (ctx: rhea.EventContext) => lost(ctx.error));
  }

  #lost(error: unknown, closedWith?: ReturnType<typeof peerError>): void {
    this.#generation++;
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.removeAllListeners();
    // keep an 'error' listener: late events from a dead connection must not crash anything
    // (its 'disconnected' falls to the container: ./retired-connections.ts)
    conn?.on('error', () => undefined);
    if (conn !== undefined) disarmConnection(conn);
    const why = closedWith === undefined ? '' : ` (closed by the peer: ${closedWith.condition}${closedWith.description === undefined ? '' : `: ${closedWith.description}`})`;
    const e = new FerryError('SINK_CLOSED', `amqp10 ${this.name}: connection lost${why}`, { cause: error, details: { ...(closedWith ?? {}) } });
    for (const link of [...this.#senders.values()]) link.fail(e);
    this.#senders.clear();
    if (this.#sources !== undefined) {
      for (const g of this.#sources.groups.values()) {
        g.receiver = undefined;
        g.session = undefined;
        g.owed = 0;
        g.reattach.cancel();
      }
    }
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    const delay = this.#reconnect.schedule(() => this.#connect());
    this.ctx.metrics.inc('connector_reconnects_total', { connector: this.name });
    this.#setState('down', `amqp10 connection down, reconnecting in ${delay} ms`, {
      error: error === undefined ? undefined : describeError(error),
      ...(closedWith ?? {}),
      attempt: this.#reconnect.attempt,
    });
    this.#firstAttempt?.resolve();
    this.#firstAttempt = undefined;
  }

  stop(): Promise<void> {
    // never started: nothing to close
    return this.#life.stop(() => this.#stop(), () => void (this.#state = 'stopped'));
  }

  async #stop(): Promise<void> {
    this.#setState('stopping', 'amqp10 stopping');
    this.#sourcesOpen = false;
    this.#reconnect.cancel();
    for (const link of [...this.#senders.values()]) link.close();
    this.#senders.clear();
    for (const g of this.#sources?.groups.values() ?? []) {
      g.reattach.cancel();
      try {
        if (g.session?.is_open() === true) g.session.close();
      } catch {
        // connection already gone
      }
    }
    const conn = this.#conn;
    this.#generation++;
    this.#conn = undefined;
    if (conn !== undefined) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          resolve();
        };
        // wait for the peer's close (§2.4.3), but never forever
        const t = setTimeout(done, 2000);
        conn.once('connection_close', done);
        conn.once('disconnected', done);
        try {
          conn.close();
        } catch {
          done();
        }
      });
      conn.removeAllListeners();
      conn.on('error', () => undefined);
      disarmConnection(conn);
    }
    this.#firstAttempt?.resolve();
    this.#firstAttempt = undefined;
    this.#setState('stopped', 'amqp10 stopped');
  }

  // ---------------------------------------------------------------------------------------------
  // sink

  async #write(message: import('@ferry/core').GatewayMessage, to: Amqp10To): Promise<void> {
    const conn = this.#conn;
    if (this.#state !== 'up' || conn === undefined) {
      throw new FerryError('NOT_CONNECTED', `amqp10 ${this.name} is not connected (${this.#state})`);
    }
    const now = Date.now();
    if (hasExpired(message, now)) {
      // expiry counts down inside Ferry (docs/mapping.md): dropped and counted, never sent
      this.#counters.dropped('expired');
      return;
    }
    const out = toAmqp10(message, { to: to.address, now });
    let link = this.#senders.get(to.address);
    if (link === undefined) {
      link = new SenderLink(conn, {
        address: to.address,
        maxInflight: this.options.maxInflight,
        logger: this.log,
        onGone: (l) => {
          if (this.#senders.get(l.address) === l) this.#senders.delete(l.address);
        },
      });
      this.#senders.set(to.address, link);
    }
    await link.write(out);
    this.#counters.sent();
  }

  // ---------------------------------------------------------------------------------------------
  // source

  openSources(specs: readonly SourceSpec<Amqp10From>[], deliver: DeliveryHandler, flow?: SourceFlow): Promise<void> {
    this.#follow(flow);
    if (this.#sources !== undefined) {
      // opened again after closeSources: the credit withheld meanwhile goes back out
      this.#sourcesOpen = true;
      this.#payOwed();
      return Promise.resolve();
    }
    const groups = new Map<string, SourceGroup>();
    for (const s of specs) {
      const g = groups.get(s.from.address);
      if (g === undefined) groups.set(s.from.address, { address: s.from.address, routes: [s.route], source: linkSource(this.name, s.from.address), reattach: new ReconnectTimer(this.options.reconnect), owed: 0 });
      else g.routes.push(s.route);
    }
    this.#sources = { groups, deliver };
    this.#sourcesOpen = true;
    if (this.#state === 'up') this.#attachSources();
    return Promise.resolve();
  }

  closeSources(): Promise<void> {
    // stop issuing credit: the peer sends at most what it already had; those are released
    // (see #onMessage). The links stay attached so in-flight deliveries can still settle;
    // stop() detaches them. The flow no longer applies: nothing is withheld for it any more.
    this.#sourcesOpen = false;
    this.#flow.drop();
    return Promise.resolve();
  }

  #follow(flow: SourceFlow | undefined): void {
    this.#flow.follow(flow, (paused) => {
      this.log.debug(paused ? 'amqp10 source paused: withholding link credit' : 'amqp10 source resumed: granting the credit withheld');
      if (!paused) this.#payOwed();
    });
  }

  get #paused(): boolean {
    return this.#flow.paused;
  }

  /** Grant every open link the credit withheld from it (one flow frame per link, §2.7.4). */
  #payOwed(): void {
    if (!this.#sourcesOpen || this.#paused || this.#sources === undefined) return;
    for (const g of this.#sources.groups.values()) {
      const r = g.receiver;
      if (r === undefined || g.owed === 0) continue;
      // rhea sends the flow once the attach is out, so a link still attaching can take it; a
      // closed one is replaced by a fresh link with fresh credit
      if (!r.is_closed()) r.add_credit(g.owed);
      g.owed = 0;
    }
  }

  #attachSources(): void {
    if (this.#sources === undefined || !this.#sourcesOpen) return;
    for (const g of this.#sources.groups.values()) if (g.receiver === undefined) this.#attach(g);
  }

  #attach(g: SourceGroup): void {
    const conn = this.#conn;
    const sources = this.#sources;
    if (conn === undefined || sources === undefined || this.#state !== 'up') return;
    const gen = this.#generation;
    // one session per link: RabbitMQ ends a whole session for an unknown node (see sender-link.ts)
    const session = conn.create_session();
    session.begin();
    g.session = session;
    const r = session.attach_receiver({
      source: { address: g.address },
      autoaccept: false,
      // no automatic window: credit is added as deliveries settle
      credit_window: 0,
      rcv_settle_mode: 0,
    });
    g.receiver = r;
    // a link attached while paused starts with no credit and owes all of it
    if (this.#paused) g.owed = this.options.credit;
    else {
      g.owed = 0;
      r.add_credit(this.options.credit);
    }
    r.on('receiver_open', () => {
      g.reattach.reset();
      this.log.info(`amqp10 receiving from ${g.address}`, { routes: g.routes, credit: this.options.credit, paused: this.#paused });
    });
    // whether a delivery on this attach can still be settled: made once for the link's transfers
    const live = (): boolean => gen === this.#generation && r.is_open();
    r.on('message', (ctx: rhea.EventContext) => this.#onMessage(g, ctx, live));
    r.on('receiver_error', () => undefined);
    session.on('session_error', () => undefined);
    const closed = (err: ReturnType<typeof peerError>): void => {
      if (gen !== this.#generation || g.receiver !== r) return;
      g.receiver = undefined;
      g.session = undefined;
      try {
        if (session.is_open()) session.close();
      } catch {
        // connection gone
      }
      if (this.#state !== 'up') return;
      const delay = g.reattach.schedule(() => {
        if (gen === this.#generation && this.#sourcesOpen) this.#attach(g);
      });
      this.log.warn(`amqp10 link from ${g.address} closed by the peer, re-attaching in ${delay} ms`, { condition: err?.condition, description: err?.description });
    };
    r.on('receiver_close', () => closed(peerError(r.error)));
    session.on('session_close', () => closed(peerError(session.error)));
  }

  #onMessage(g: SourceGroup, ctx: rhea.EventContext, live: () => boolean): void {
    const d = ctx.delivery;
    const sources = this.#sources;
    if (d === undefined || sources === undefined) return;
    receiveTransfer(this.#receiving, g, d, ctx.message, live, this.log, sources.deliver);
  }
}
