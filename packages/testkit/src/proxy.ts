import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** How `TcpProxy.cut` ends a connection: a FIN after destroy ('close'), or an RST ('reset'). */
export type CutHow = 'close' | 'reset';

export interface TcpProxyOptions {
  /** The target's host; 127.0.0.1 unless told. */
  readonly host?: string;
  /**
   * Sees every chunk the target sends, as it arrives from the target (before any hold), after
   * it was forwarded or held: for a test that reads the wire below its client library.
   */
  readonly onDownstream?: (chunk: Buffer) => void;
}

/**
 * A TCP proxy between a client under test and a real broker, for fault tests: it can hold the
 * bytes flowing back from the broker (to delay confirmations), cut every connection (a network
 * failure as the client sees it) or refuse new connections for a while. It never changes a byte.
 */
export class TcpProxy {
  #server: Server | undefined;
  #pairs = new Set<{ client: Socket; upstream: Socket }>();
  #holdDownstream = false;
  #held: { client: Socket; chunk: Buffer }[] = [];
  #refusing = false;
  readonly #targetHost: string;
  readonly #onDownstream: ((chunk: Buffer) => void) | undefined;
  port = 0;
  /** Connections proxied since start (the refused ones not counted), open or not. */
  accepted = 0;

  constructor(
    private readonly targetPort: number,
    options: TcpProxyOptions = {},
  ) {
    this.#targetHost = options.host ?? '127.0.0.1';
    this.#onDownstream = options.onDownstream;
  }

  async start(): Promise<number> {
    if (this.#server) return this.port;
    const server = createServer((client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    this.port = addr !== null && typeof addr === 'object' ? addr.port : 0;
    return this.port;
  }

  /** Hold every byte from the broker to the clients until `release()`. */
  holdDownstream(): void {
    this.#holdDownstream = true;
  }

  /** Deliver what was held, in order, and stop holding. */
  release(): void {
    this.#holdDownstream = false;
    const held = this.#held;
    this.#held = [];
    for (const { client, chunk } of held) if (!client.destroyed) client.write(chunk);
  }

  /**
   * End every open connection (both sides), like a network failure: 'close' destroys the sockets,
   * 'reset' sends an RST (a crashed peer, a failed network). What was held is dropped; holding
   * stays on if it was. Returns how many connections were cut.
   */
  cut(how: CutHow = 'close'): number {
    const n = this.#pairs.size;
    for (const { client, upstream } of this.#pairs) {
      if (how === 'reset') {
        client.resetAndDestroy();
        upstream.resetAndDestroy();
      } else {
        client.destroy();
        upstream.destroy();
      }
    }
    this.#pairs.clear();
    this.#held = [];
    return n;
  }

  /** While true, new connections are closed at once. */
  refuse(on: boolean): void {
    this.#refusing = on;
  }

  /** Connections open now. */
  get connections(): number {
    return this.#pairs.size;
  }

  async stop(): Promise<void> {
    this.cut();
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #accept(client: Socket): void {
    if (this.#refusing) {
      client.destroy();
      return;
    }
    this.accepted++;
    client.setNoDelay(true);
    const upstream = createConnection({ port: this.targetPort, host: this.#targetHost, noDelay: true });
    const pair = { client, upstream };
    this.#pairs.add(pair);
    const close = (): void => {
      this.#pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (this.#holdDownstream) this.#held.push({ client, chunk });
      else client.write(chunk);
      this.#onDownstream?.(chunk);
    });
  }
}
