/**
 * A TCP load balancer in front of several Ferry replicas, as a cloud load balancer or HAProxy
 * in `mode tcp` would stand there: each new connection goes to the next backend in turn; a
 * backend that refuses (a replica that is down) is skipped, so a device whose replica died
 * reconnects to one that lives. It counts the connections each backend took.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export class TcpBalancer {
  readonly #backends: readonly number[];
  #server: Server | undefined;
  #next = 0;
  readonly #open = new Set<Socket>();
  /** connections handed to each backend port */
  readonly accepted = new Map<number, number>();
  port = 0;

  constructor(backends: readonly number[]) {
    this.#backends = backends;
  }

  async start(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    this.port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  }

  async stop(): Promise<void> {
    for (const s of this.#open) s.destroy();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #accept(client: Socket, tried = 0): void {
    client.setNoDelay(true);
    if (tried >= this.#backends.length) {
      client.destroy(); // every replica is down: the device retries later
      return;
    }
    const port = this.#backends[this.#next++ % this.#backends.length]!;
    client.pause();
    const upstream = connect(port, '127.0.0.1');
    upstream.setNoDelay(true);
    upstream.once('error', () => {
      if (!upstream.readyState.startsWith('open')) {
        upstream.destroy();
        this.#accept(client, tried + 1);
      }
    });
    upstream.once('connect', () => {
      this.accepted.set(port, (this.accepted.get(port) ?? 0) + 1);
      this.#open.add(client);
      this.#open.add(upstream);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.#open.delete(client);
        this.#open.delete(upstream);
      };
      client.on('error', close);
      upstream.on('error', close);
      client.on('close', close);
      upstream.on('close', close);
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
  }
}
