import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeError, FerryError, type Logger } from '@ferry/core';
import type { StompBroker } from './broker.js';
import { StompSession, type SessionHooks, type SessionOptions } from './session.js';

export interface StompServerOptions extends SessionOptions {
  readonly host: string;
  readonly port: number;
}

/**
 * The TCP side of the listener: accepts connections and runs one {@link StompSession} per
 * socket against a shared {@link StompBroker}. `listen` and `close` are idempotent.
 */
export class StompServer {
  readonly #opts: StompServerOptions;
  readonly #broker: StompBroker;
  readonly #hooks: SessionHooks;
  readonly #log: Logger;
  readonly #sessions = new Set<StompSession>();
  #server: Server | undefined;
  #listening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(opts: StompServerOptions, broker: StompBroker, hooks: SessionHooks, log: Logger) {
    this.#opts = opts;
    this.#broker = broker;
    this.#log = log;
    const onClosed = hooks.onClosed;
    this.#hooks = {
      ...hooks,
      onClosed: (s) => {
        this.#sessions.delete(s);
        onClosed?.(s);
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
    const a = this.#server?.address();
    return a !== null && a !== undefined && typeof a !== 'string' ? a.port : this.#opts.port;
  }

  listen(): Promise<void> {
    if (this.#listening !== undefined) return this.#listening;
    this.#closing = undefined;
    const server = createServer((socket) => this.#accept(socket));
    this.#server = server;
    this.#listening = new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        this.#listening = undefined;
        this.#server = undefined;
        reject(new FerryError('CONNECT_FAILED', `stomp-listener cannot listen on ${this.#opts.host}:${this.#opts.port}: ${err.message}`, { cause: err }));
      };
      server.once('error', onError);
      server.listen(this.#opts.port, this.#opts.host, () => {
        server.off('error', onError);
        server.on('error', (err) => this.#log.error('stomp-listener server error', { error: describeError(err) }));
        resolve();
      });
    });
    return this.#listening;
  }

  /** Run a session over any duplex stream (TCP sockets, or in-memory pairs in tests). */
  attach(stream: Duplex): StompSession {
    const session = new StompSession(stream, this.#broker, this.#hooks, this.#opts, this.#log);
    this.#sessions.add(session);
    session.open();
    this.#hooks.onOpened?.(session);
    return session;
  }

  #accept(socket: Socket): void {
    // Ferry house rule and STOMP latency: no Nagle delay on small frames.
    socket.setNoDelay(true);
    socket.on('error', (err) => this.#log.debug('stomp-listener socket error', { error: describeError(err) }));
    if (this.#closing !== undefined) {
      socket.destroy();
      return;
    }
    this.attach(socket);
  }

  /** Stop listening and close every session (ERROR "shutting down", then close). */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    const server = this.#server;
    this.#closing = (async () => {
      // Stop accepting first; server.close calls back once every connection has ended.
      const stopped = server === undefined ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...this.#sessions].map((s) => s.shutdown('shutting down')));
      await stopped;
      this.#server = undefined;
      this.#listening = undefined;
    })();
    return this.#closing;
  }
}
