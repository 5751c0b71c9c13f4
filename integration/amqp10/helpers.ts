import { noopMetrics, type ConnectorContext, type Labels, type LogFields, type Logger, type Metrics } from '@ferry/core';

export interface LogLine {
  readonly level: string;
  readonly message: string;
  readonly fields?: LogFields;
}

/** A logger that records every line (and prints them with FERRY_TEST_LOG=1). */
export function recordingLogger(lines: LogLine[] = [], bound: LogFields = {}): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      const f = { ...bound, ...fields };
      lines.push({ level, message, fields: f });
      if (process.env.FERRY_TEST_LOG === '1') console.log(level, message, JSON.stringify(f));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (f) => recordingLogger(lines, { ...bound, ...f }) };
}

export function testContext(lines: LogLine[] = [], metrics: Metrics = noopMetrics): ConnectorContext {
  return { gatewayId: 'test', logger: recordingLogger(lines), metrics, baseDir: process.cwd() };
}

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

/** Metrics that remember counters, keyed `name{label=value,...}` (labels sorted). */
export function recordingMetrics(): Metrics & { readonly counters: Map<string, number> } {
  const counters = new Map<string, number>();
  const key = (name: string, labels: Labels): string =>
    `${name}{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${labels[k] ?? ''}`)
      .join(',')}}`;
  return {
    counters,
    inc: (name, labels, value = 1) => void counters.set(key(name, labels), (counters.get(key(name, labels)) ?? 0) + value),
    set: () => undefined,
    add: () => undefined,
    observe: () => undefined,
  };
}
