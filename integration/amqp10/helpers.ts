
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through to a real broker whose connections the test can cut, to reproduce a
 * network failure in the middle of a stream (the broker itself stays untouched).
 */
export class CuttableProxy {
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(readonly targetPort: number) {}

  async start(): Promise<number> {
    const server = createServer((client) => {
      client.setNoDelay(true);
      const upstream = connect({ port: this.targetPort, host: '127.0.0.1', noDelay: true });
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    this.#server = server;
    const a = server.address();
    this.port = a !== null && typeof a === 'object' ? a.port : 0;
    return this.port;
  }

  /** Drop every open connection (RST), as a failed network or a crashed peer would. */
  cut(): number {
    const n = this.#sockets.size;
    for (const s of this.#sockets) s.resetAndDestroy();
    return n;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => (this.#server === undefined ? r() : this.#server.close(() => r())));
  }
}

export { ManualFlow } from '@ferry/testkit';

