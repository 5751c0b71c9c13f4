import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type PeerCertificate, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { describeError, FerryError, importInTurn, type Logger, type Metrics } from '@ferry/core';
import type { WebSocket } from 'ws';
import { BurstLog } from './burst-log.js';
import type { ListenerTransportOptions, TlsSettings } from './options.js';
import { loadTlsOptions } from './tls-context.js';
import { batchWebSocketWrites } from './websocket-writev.js';

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss';

/**
 * The kernel's queue of connections accepted but not yet taken by Ferry (listen(2) backlog).
 * Node's default, 511, overflows when thousands of devices connect at once (a gateway restart,
 * a network coming back) while the event loop is busy with the first of them: on Linux the
 * connections beyond it were reset (175 of 10,000 in the bench's storm, docs/benchmarks-log.md). The
 * kernel caps it at net.core.somaxconn (4096 on current Linux; docs/operations.md).
 */
export const LISTEN_BACKLOG = 65_535;

/** Who is on the other end of an accepted connection. */
export interface ConnectionInfo {
  readonly transport: Transport;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** "address:port", for log lines */
  readonly remote: string;
  /** the client's certificate, when it presented one over TLS (verified when `authorized`) */
  readonly peerCertificate?: PeerCertificate | undefined;
  /** true when the client certificate was verified against the listener's CA */
  readonly authorized: boolean;
  /** the negotiated WebSocket subprotocol (RFC 6455 §1.9), when there is one */
  readonly subprotocol?: string | undefined;
}

/** A connection handed to the protocol: bytes both ways, and who it is. */
export interface AcceptedConnection {
  /** a byte stream: a TCP or TLS socket, or a WebSocket as a stream of its binary messages */
  readonly stream: Duplex;
  readonly info: ConnectionInfo;
  /**
   * The protocol's handshake completed (CONNACK sent, CONNECTED sent, AMQP open exchanged):
   * the handshake deadline no longer applies. Idempotent.
   */
  readonly handshakeDone: () => void;
}

export interface ListenerSpec {
  /** the connector's type, for error messages: `mqtt-listener` */
  readonly type: string;
  /** the connector's name: the `connector` label of the listener's metrics */
  readonly name: string;
  /** for log lines: "MQTT", "STOMP", "AMQP 1.0" */
  readonly protocol: string;
  readonly host: string;
  readonly port: number;
  readonly transport: ListenerTransportOptions;
  /** TLS file paths are relative to this folder (the route file's) */
  readonly baseDir: string;
  /** WebSocket subprotocols this protocol speaks, the preferred first */
  readonly subprotocols: readonly string[];
  /**
   * the largest WebSocket message accepted; a larger one closes the connection (1009, RFC 6455
   * §7.4.1) before it is buffered. The protocol's own frame limit plus room for a few small packets.
   */
  readonly maxWebSocketMessageBytes: number;
}

export interface ListenerEnv {
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** The ports a started listener bound (useful with port 0). */
export interface BoundPorts {
  readonly port: number;
  readonly tlsPort?: number | undefined;
  readonly websocketPort?: number | undefined;
}

/** A connection from accept until its protocol handshake is done. */
interface Pending {
  readonly raw: Socket;
  readonly transport: Transport;
  timer: NodeJS.Timeout | undefined;
  /** the protocol has it */
  handed: boolean;
  /** its protocol handshake completed */
  done: boolean;
}

type EndpointKind = 'main' | 'tls' | 'websocket';

interface Endpoint {
  readonly kind: EndpointKind;
  readonly host: string;
  readonly port: number;
  readonly server: NetServer;
  readonly tls?: { readonly server: TlsServer; readonly settings: TlsSettings } | undefined;
  readonly http?: HttpServer | undefined;
  bound: number | undefined;
}

function remoteKey(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return `${s.remoteAddress ?? '?'}:${s.remotePort ?? '?'}`;
}

/**
 * The accepting side of every Ferry listener: a TCP port (plain, or TLS), optionally a second
 * port for TLS, and optionally a WebSocket port (ws or wss); one connection limit over all of
 * them, one handshake deadline for all of them. Each accepted connection reaches the protocol as
 * a Duplex byte stream, so the protocol's sessions, limits and settlement are the same whatever
 * the transport.
 *
 * The layers are stacked per connection on one raw TCP socket: TLS servers and the HTTP server
 * that does the WebSocket upgrade never listen themselves, they are handed the socket
 * (`emit('connection')`), so the limit and the deadline see every connection from its first
 * byte, and destroying the raw socket ends every layer above it.
 */
export class Listener {
  readonly #spec: ListenerSpec;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #onConnection: (c: AcceptedConnection) => void;
  /**
   * Every open raw socket: its record until its handshake is done, then only `'done'` (of a held
   * connection nothing is needed but that it is open: 10,000 devices need not keep a record each)
   */
  readonly #open = new Map<Socket, Pending | 'done'>();
  /** raw sockets waiting in a TLS server's handshake, by remote address: the TLS socket leads back to its record */
  readonly #inTls = new Map<string, Pending>();
  /** sockets handed to an HTTP server for the upgrade (raw or TLS) → their record */
  readonly #inHttp = new WeakMap<Duplex, Pending>();
  readonly #refusedLog: BurstLog;
  readonly #timeoutLog: BurstLog;
  readonly #tlsLog: BurstLog;
  #endpoints: Endpoint[] = [];
  /**
   * Every raw socket's 'error' and 'close' listeners: one function each for the listener, the
   * socket as `this`, rather than two closures for each of thousands of connections.
   */
  readonly #onRawError: (this: Socket, err: Error) => void;
  readonly #onRawClose: (this: Socket) => void;
  #listening: Promise<BoundPorts> | undefined;
  #closing: Promise<void> | undefined;

  constructor(spec: ListenerSpec, env: ListenerEnv, onConnection: (c: AcceptedConnection) => void) {
    this.#spec = spec;
    this.#log = env.logger;
    this.#metrics = env.metrics;
    this.#onConnection = onConnection;
    this.#refusedLog = new BurstLog(env.logger, `${spec.protocol} listener refused connections: maxConnections reached`);
    this.#timeoutLog = new BurstLog(env.logger, `${spec.protocol} listener closed connections that did not complete their handshake in time`);
    this.#tlsLog = new BurstLog(env.logger, `${spec.protocol} listener: TLS handshakes failed`);
    const log = env.logger;
    const open = this.#open;
    this.#onRawError = function (this: Socket, err: Error): void {
      log.debug('listener socket error', { remote: remoteKey(this), error: err.message });
    };
    this.#onRawClose = function (this: Socket): void {
      const p = open.get(this);
      if (p !== undefined && p !== 'done') clearTimeout(p.timer);
      open.delete(this);
    };
  }

  /** open connections over every port, handshake done or not */
  get connectionCount(): number {
    return this.#open.size;
  }

  get ports(): BoundPorts | undefined {
    const main = this.#endpoints.find((e) => e.kind === 'main');
    if (main?.bound === undefined) return undefined;
    return {
      port: main.bound,
      tlsPort: this.#endpoints.find((e) => e.kind === 'tls')?.bound,
      websocketPort: this.#endpoints.find((e) => e.kind === 'websocket')?.bound,
    };
  }

  /** Bind every port. Idempotent; a busy port is a FerryError CONNECT_FAILED and nothing stays bound. */
  listen(): Promise<BoundPorts> {
    this.#listening ??= this.#listen().catch(async (err: unknown) => {
      await this.#closeServers();
      this.#listening = undefined;
      throw err;
    });
    return this.#listening;
  }

  async #listen(): Promise<BoundPorts> {
    this.#closing = undefined;
    const spec = this.#spec;
    const t = spec.transport;
    const endpoints: Endpoint[] = [];
    const mainTls = t.tls !== undefined && t.tls.port === undefined ? t.tls : undefined;
    endpoints.push(await this.#endpoint('main', spec.host, spec.port, mainTls, false));
    if (t.tls?.port !== undefined) endpoints.push(await this.#endpoint('tls', spec.host, t.tls.port, t.tls, false));
    if (t.websocket !== undefined) endpoints.push(await this.#endpoint('websocket', t.websocket.host ?? spec.host, t.websocket.port, t.websocket.tls, true));
    this.#endpoints = endpoints;
    for (const e of endpoints) e.bound = await this.#bind(e);
    const ports = this.ports as BoundPorts;
    this.#log.info(`${spec.protocol} listener accepting`, {
      ...ports,
      tls: t.tls === undefined ? 'off' : t.tls.port === undefined ? 'main port' : 'tls port',
      websocket: t.websocket === undefined ? 'off' : t.websocket.tls === undefined ? 'ws' : 'wss',
      maxConnections: t.maxConnections,
      handshakeTimeoutMs: t.handshakeTimeoutMs,
    });
    return ports;
  }

  async #endpoint(kind: EndpointKind, host: string, port: number, tls: TlsSettings | undefined, websocket: boolean): Promise<Endpoint> {
    const secure = tls !== undefined;
    const transport: Transport = websocket ? (secure ? 'wss' : 'ws') : secure ? 'tls' : 'tcp';
    let tlsServer: TlsServer | undefined;
    if (tls !== undefined) {
      const options = await loadTlsOptions(tls, this.#spec.baseDir);
      tlsServer = createTlsServer({
        ...options,
        requestCert: tls.requestCert,
        rejectUnauthorized: tls.rejectUnauthorized,
        handshakeTimeout: this.#spec.transport.handshakeTimeoutMs,
      });
      tlsServer.on('tlsClientError', (err: Error, s: TLSSocket) => this.#tlsFailed(err, s));
    }
    const http = websocket ? await this.#httpStage(transport) : undefined;
    const next = (sock: Duplex, p: Pending): void => {
      if (http !== undefined) {
        this.#inHttp.set(sock, p);
        http.emit('connection', sock);
      } else this.#hand(sock, p, undefined);
    };
    if (tlsServer !== undefined) {
      tlsServer.on('secureConnection', (s: TLSSocket) => {
        const key = remoteKey(s);
        const p = this.#inTls.get(key);
        this.#inTls.delete(key);
        if (p === undefined || p.raw.destroyed) {
          s.destroy();
          return;
        }
        next(s, p);
      });
    }
    const server = createNetServer({ noDelay: true }, (raw) => {
      const p = this.#admit(raw, transport);
      if (p === undefined) return;
      if (tlsServer !== undefined) {
        const key = remoteKey(raw);
        this.#inTls.set(key, p);
        raw.once('close', () => {
          if (this.#inTls.get(key) === p) this.#inTls.delete(key);
        });
        tlsServer.emit('connection', raw);
      } else next(raw, p);
    });
    return { kind, host, port, server, tls: tls === undefined || tlsServer === undefined ? undefined : { server: tlsServer, settings: tls }, http, bound: undefined };
  }

  /** Count the connection and start its deadline, or refuse it when the listener is full. */
  #admit(raw: Socket, transport: Transport): Pending | undefined {
    raw.setNoDelay(true);
    // errors on the raw socket surface through the layer above it (or its close); never unhandled
    raw.on('error', this.#onRawError);
    if (this.#closing !== undefined) {
      raw.destroy();
      return undefined;
    }
    const t = this.#spec.transport;
    if (this.#open.size >= t.maxConnections) {
      // refused before any byte is read or written: the cheapest answer to a flood
      raw.destroy();
      this.#metrics.inc('listener_connections_refused_total', { connector: this.#spec.name, reason: 'max-connections' });
      this.#refusedLog.hit({ connector: this.#spec.name, maxConnections: t.maxConnections, remote: remoteKey(raw) });
      return undefined;
    }
    const p: Pending = { raw, transport, timer: undefined, handed: false, done: false };
    this.#open.set(raw, p);
    p.timer = setTimeout(() => {
      if (p.done) return;
      this.#metrics.inc('listener_handshake_timeouts_total', { connector: this.#spec.name, transport });
      this.#timeoutLog.hit({ connector: this.#spec.name, handshakeTimeoutMs: t.handshakeTimeoutMs, transport, remote: remoteKey(raw) });
      raw.destroy();
    }, t.handshakeTimeoutMs);
    // 'on', not 'once': a socket closes once, and once's wrapper is two more objects per socket
    raw.on('close', this.#onRawClose);
    return p;
  }

  #hand(stream: Duplex, p: Pending, extra: { subprotocol?: string | undefined; tls?: TLSSocket | undefined } | undefined): void {
    const tlsSocket = extra?.tls ?? (isTlsSocket(stream) ? stream : undefined);
    const cert = tlsSocket?.getPeerCertificate();
    const info: ConnectionInfo = {
      transport: p.transport,
      remoteAddress: p.raw.remoteAddress ?? '?',
      remotePort: p.raw.remotePort ?? 0,
      remote: remoteKey(p.raw),
      peerCertificate: cert !== undefined && Object.keys(cert).length > 0 ? cert : undefined,
      authorized: tlsSocket?.authorized === true,
      subprotocol: extra?.subprotocol,
    };
    const open = this.#open;
    const handshakeDone = (): void => {
      p.done = true;
      clearTimeout(p.timer);
      p.timer = undefined;
      // the record (and the cleared Timeout) would otherwise be held for the connection's life
      if (open.get(p.raw) === p) open.set(p.raw, 'done');
    };
    p.handed = true;
    try {
      this.#onConnection({ stream, info, handshakeDone });
    } catch (err) {
      this.#log.error(`${this.#spec.protocol} listener could not take a connection`, { remote: info.remote, error: describeError(err) });
      p.raw.destroy();
    }
  }

  /**
   * The HTTP server that upgrades to WebSocket; it never listens, sockets are handed to it. `ws`
   * is loaded here, by the first listener with a WebSocket port, not by every process that
   * imports the listener: a gateway without one does not carry it.
   */
  async #httpStage(transport: Transport): Promise<HttpServer> {
    const { WebSocketServer, createWebSocketStream } = await importInTurn(() => import('ws'));
    const spec = this.#spec;
    const path = spec.transport.websocket?.path;
    const wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // binary protocols: compression costs CPU per message and opens decompression-bomb risks
      perMessageDeflate: false,
      maxPayload: spec.maxWebSocketMessageBytes,
      // RFC 6455 §4.2.2: answer with one of the subprotocols the client offered, in its order
      // of preference; none in common → no Sec-WebSocket-Protocol (the client decides)
      handleProtocols: (offered: Set<string>) => {
        for (const p of offered) if (spec.subprotocols.includes(p)) return p;
        return false;
      },
    });
    const http = createHttpServer((_req, res) => {
      // a plain HTTP request on a WebSocket port: RFC 7231 §6.5.15
      res.writeHead(426, { upgrade: 'websocket', connection: 'close', 'content-type': 'text/plain' });
      res.end(`this port speaks ${spec.protocol} over WebSocket only\n`);
    });
    http.on('upgrade', (req: IncomingMessage, sock: Duplex, head: Buffer) => {
      const p = this.#inHttp.get(sock);
      if (p === undefined) {
        sock.destroy();
        return;
      }
      const reqPath = (req.url ?? '/').split('?')[0];
      if (path !== undefined && reqPath !== path) {
        sock.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, sock, head, (ws: WebSocket) => {
        const stream = createWebSocketStream(ws);
        batchWebSocketWrites(stream, ws, sock);
        this.#hand(stream, p, { subprotocol: ws.protocol === '' ? undefined : ws.protocol, tls: isTlsSocket(sock) ? sock : undefined });
      });
    });
    http.on('clientError', (err: Error, sock: Duplex) => {
      this.#log.debug('WebSocket endpoint: bad HTTP request', { transport, error: err.message });
      sock.destroy();
    });
    return http;
  }

  #tlsFailed(err: Error, s: TLSSocket): void {
    const code = (err as { code?: unknown }).code;
    const reason = typeof code === 'string' ? code : 'tls-error';
    this.#metrics.inc('listener_tls_failures_total', { connector: this.#spec.name, reason });
    this.#tlsLog.hit({ connector: this.#spec.name, remote: remoteKey(s), reason, error: err.message });
    s.destroy();
  }

  #bind(e: Endpoint): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        const why = (err as { code?: unknown }).code === 'EADDRINUSE' ? 'the port is in use' : err.message;
        reject(new FerryError('CONNECT_FAILED', `${this.#spec.type} ${this.#spec.name}: cannot listen on ${e.host}:${e.port} (${e.kind === 'main' ? 'port' : e.kind === 'tls' ? 'tls.port' : 'websocket.port'}): ${why}`, { cause: err }));
      };
      e.server.once('error', onError);
      e.server.listen({ port: e.port, host: e.host, backlog: LISTEN_BACKLOG }, () => {
        e.server.off('error', onError);
        e.server.on('error', (err) => this.#log.error(`${this.#spec.protocol} listener error`, { port: e.port, error: err.message }));
        const a = e.server.address();
        resolve(a !== null && typeof a === 'object' ? a.port : e.port);
      });
    });
  }

  /**
   * Re-read every certificate, key and CA file and serve them to new connections; open
   * connections keep the session they negotiated. A file that cannot be read or used leaves the
   * running certificates in place and rejects with the reason.
   */
  async reloadTls(): Promise<void> {
    const loaded = await Promise.all(
      this.#endpoints.map(async (e) => (e.tls === undefined ? undefined : { e, options: await loadTlsOptions(e.tls.settings, this.#spec.baseDir) })),
    );
    for (const l of loaded) {
      if (l === undefined) continue;
      l.e.tls?.server.setSecureContext(l.options);
    }
    if (loaded.some((l) => l !== undefined)) this.#log.info(`${this.#spec.protocol} listener reloaded its TLS certificates`);
  }

  /**
   * Stop accepting. Connections not yet handed to the protocol (in their TLS handshake or
   * WebSocket upgrade) are closed now; the ones handed over are the protocol's to close (it says
   * goodbye in its own terms), and close resolves once they all have. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#listening?.catch(() => undefined);
      const waiting = this.#closeServers();
      for (const [raw, p] of this.#open) if (p !== 'done' && !p.handed) raw.destroy();
      await waiting;
      this.#listening = undefined;
    })();
    return this.#closing;
  }

  async #closeServers(): Promise<void> {
    const endpoints = this.#endpoints;
    this.#endpoints = [];
    this.#refusedLog.stop();
    this.#timeoutLog.stop();
    this.#tlsLog.stop();
    await Promise.all(endpoints.map((e) => (e.server.listening ? new Promise<void>((r) => e.server.close(() => r())) : Promise.resolve())));
  }
}

function isTlsSocket(s: Duplex): s is TLSSocket {
  return typeof (s as Partial<TLSSocket>).getPeerCertificate === 'function';
}
