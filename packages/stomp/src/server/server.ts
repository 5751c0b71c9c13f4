import type { Duplex } from 'node:stream';
import { FerryError, noopMetrics, type Logger, type Metrics } from '@ferry/core';
import { Listener, listenerTransport, type AcceptedConnection, type BoundPorts, type ListenerTransportOptions } from '@ferry/net';
import type { StompBroker } from './broker.js';
import { StompSession, type SessionHooks, type SessionOptions } from './session.js';

export interface StompServerOptions extends SessionOptions {
  readonly host: string;
  readonly port: number;
  /** TLS, WebSocket and connection limits (@ferry/net); absent: plain TCP with the defaults */
  readonly transport?: ListenerTransportOptions | undefined;
  /** the connector's name, for the transport's metrics */
  readonly name?: string | undefined;
  /** TLS files are relative to this folder */
  readonly baseDir?: string | undefined;
  readonly metrics?: Metrics | undefined;
}

/** plain TCP, default limits: for servers built without route-file options (tests) */
const DEFAULT_TRANSPORT = listenerTransport.parse({});

/**
 * The STOMP specification names no WebSocket subprotocol; these are the ones STOMP clients offer
 * (stomp.js, stomp.py) and RabbitMQ's Web-STOMP answers, one per protocol version.
 */
const WS_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/**
 * The network side of the listener: accepts connections through the shared transport
 * (@ferry/net: TCP, TLS, WebSocket) and runs one {@link StompSession} per connection against a
 * shared {@link StompBroker}. `listen` and `close` are idempotent.
 */
export class StompServer {
  readonly #opts: StompServerOptions;
  readonly #broker: StompBroker;
  readonly #hooks: SessionHooks;
  readonly #log: Logger;
  readonly #sessions = new Set<StompSession>();
  #listener: Listener | undefined;
  #listening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: StompServerOptions, broker: StompBroker, hooks: SessionHooks, log: Logger) {
    this.#opts = opts;
    this.#broker = broker;
    this.#log = log;
    this.#hooks = {
      ...hooks,
      onClosed: (s) => {
        this.#sessions.delete(s);
        hooks.onClosed?.(s);
      },
    };
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  get sessions(): ReadonlySet<StompSession> {
    return this.#sessions;
  }

  /** every session re-reads the owner's flow control (SessionHooks.flowPaused) */
  updateFlow(): void {
    for (const s of this.#sessions) s.updateFlow();
  }

  /** the bound port (useful with port 0) */
  get port(): number {
    return this.#listener?.ports?.port ?? this.#opts.port;
  }

  /** every bound port: main, tls (when separate) and websocket */
  get ports(): BoundPorts | undefined {
    return this.#listener?.ports;
  }

  /** Serve renewed TLS certificates to new connections; open ones keep theirs. */
  async reloadTls(): Promise<void> {
    await this.#listener?.reloadTls();
  }

  listen(): Promise<void> {
    if (this.#listening !== undefined) return this.#listening;
    this.#closing = undefined;
    const o = this.#opts;
    const listener = new Listener(
      {
        type: 'stomp-listener',
        name: o.name ?? 'stomp-listener',
        protocol: 'STOMP',
        host: o.host,
        port: o.port,
        transport: o.transport ?? DEFAULT_TRANSPORT,
        baseDir: o.baseDir ?? '.',
        subprotocols: WS_SUBPROTOCOLS,
        // a frame's headers are bounded by maxHeaders lines of maxHeaderLineBytes besides the body
        maxWebSocketMessageBytes: o.limits.maxFrameBytes + o.limits.maxHeaders * o.limits.maxHeaderLineBytes,
      },
      { logger: this.#log, metrics: o.metrics ?? noopMetrics },
      (c) => this.#accept(c),
    );
    this.#listener = listener;
    this.#listening = listener.listen().then(
      () => undefined,
      (err: unknown) => {
        this.#listening = undefined;
        this.#listener = undefined;
        throw FerryError.is(err) ? err : new FerryError('CONNECT_FAILED', `stomp-listener cannot listen on ${o.host}:${o.port}`, { cause: err });
      },
    );
    return this.#listening;
  }

  /** Run a session over any duplex stream (TCP sockets, or in-memory pairs in tests). */
  attach(stream: Duplex, transport?: Pick<AcceptedConnection, 'info' | 'handshakeDone'>): StompSession {
    const session = new StompSession(stream, this.#broker, this.#hooks, this.#opts, this.#log, transport);
    this.#sessions.add(session);
    session.open();
    this.#hooks.onOpened?.(session);
    return session;
  }

  /** a connection from the transport (TCP, TLS or WebSocket: one code path after it) */
  #accept(c: AcceptedConnection): void {
    if (this.#closing !== undefined) {
      c.stream.destroy();
      return;
    }
    this.attach(c.stream, c);
  }

  /** Stop listening and close every session (ERROR "shutting down", then close). */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const listener = this.#listener;
    this.#closing = (async () => {
      // Stop accepting first; the listener's close resolves once every connection has ended.
      const stopped = listener?.close();
      await Promise.all([...this.#sessions].map((s) => s.shutdown('shutting down')));
      await stopped;
      this.#listener = undefined;
      this.#listening = undefined;
    })();
    return this.#closing;
  }
}
