/**
 * Shared pieces of the `stomp` (client) connector's integration tests: the connector built
 * through its definition (as the gateway builds it) with testkit's log capture and metrics,
 * a started TcpProxy the tests can hold or cut, a plain amqplib client for RabbitMQ, and a
 * raw STOMP client (net + the package's own frame codec, not stompjs) for the far side.
 */
import { createConnection, type Socket } from 'node:net';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import type { Connector } from '@ferry/core';
import { RecordingMetrics, TcpProxy, brokerPorts, captureLogger, rabbitUrl, waitFor } from '@ferry/testkit';
// by name: the package's main entry provides the connector's code to its definition
import { stompDefinition } from '@ferry/stomp';
import type { StompFrom, StompTo } from '../../packages/stomp/src/client/options.js';
import { encodeFrame } from '../../packages/stomp/src/frame/encoder.js';
import { FrameParser } from '../../packages/stomp/src/frame/parser.js';
import { headerValue, type HeaderEntry, type StompFrame } from '../../packages/stomp/src/frame/frame.js';

export type TestConnector = Connector<StompFrom, StompTo> & { sink: NonNullable<Connector<StompFrom, StompTo>['sink']> };

export interface Built {
  readonly connector: TestConnector;
  readonly logger: ReturnType<typeof captureLogger>;
  readonly metrics: RecordingMetrics;
}

let seq = 0;

/** Route-file-shaped options for the test RabbitMQ (a vhost) or ActiveMQ, validated by the schema. */
export function rabbitOptions(vhost: string, port = brokerPorts().rabbitStomp): Record<string, unknown> {
  return { url: `stomp://127.0.0.1:${port}`, login: 'guest', passcode: 'guest', host: vhost };
}

export function activemqOptions(port = brokerPorts().activemqStomp): Record<string, unknown> {
  return { url: `stomp://127.0.0.1:${port}`, login: 'admin', passcode: 'admin' };
}

export function buildConnector(options: Record<string, unknown>): Built {
  const parsed = stompDefinition.options.parse({ reconnect: { initialMs: 50, maxMs: 300 }, ...options });
  const logger = captureLogger();
  const metrics = new RecordingMetrics();
  const connector = stompDefinition.create({ gatewayId: 'itest', logger, metrics, baseDir: process.cwd() }, `stomp${++seq}`, parsed);
  if (connector.sink === undefined) throw new Error('stomp connector has no sink');
  return { connector: connector as TestConnector, logger, metrics };
}

export function parseFrom(from: Record<string, unknown>): StompFrom {
  return stompDefinition.from!.parse(from);
}

export function parseTo(to: Record<string, unknown>): StompTo {
  return stompDefinition.to!.parse(to);
}

export function uniq(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

// ------------------------------------------------------------------ TCP proxy

/**
 * A started testkit TcpProxy between the connector and a broker: `holdDownstream()` keeps the
 * broker's bytes (in order) until `release()`, `cut()` destroys every open pair as a network
 * failure would (what was held is dropped, holding stays on), `accepted` counts connections
 * made through it, `connections` the open ones.
 */
export async function startProxy(upstreamPort: number): Promise<TcpProxy> {
  const proxy = new TcpProxy(upstreamPort);
  await proxy.start();
  return proxy;
}

// ------------------------------------------------------------------ plain amqplib

export interface Plain {
  readonly model: ChannelModel;
  readonly ch: Channel;
  close(): Promise<void>;
}

export async function plainAmqp(vhost: string): Promise<Plain> {
  const model = await amqp.connect(rabbitUrl(vhost), { noDelay: true });
  model.on('error', () => undefined);
  const ch = await model.createChannel();
  ch.on('error', () => undefined);
  return { model, ch, close: async () => {
      await model.close().catch(() => undefined);
    } };
}

// ------------------------------------------------------------------ raw STOMP client

/**
 * A STOMP 1.2 client on a bare socket, written with the package's frame codec: what it sends
 * and receives is exactly what is on the wire (no stompjs in the far side of a test).
 */
export class RawStomp {
  readonly frames: StompFrame[] = [];
  readonly #socket: Socket;
  #seq = 0;

  private constructor(socket: Socket) {
    this.#socket = socket;
  }

  static async connect(port: number, headers: Record<string, string>): Promise<RawStomp> {
    const socket = createConnection({ host: '127.0.0.1', port, noDelay: true });
    socket.on('error', () => undefined);
    const c = new RawStomp(socket);
    const parser = new FrameParser((f) => c.frames.push(f), { maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 64 * 1024 * 1024, maxHeaders: 10_000 });
    socket.on('data', (b: Buffer) => parser.push(b));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    socket.write(encodeFrame('CONNECT', Object.entries({ 'accept-version': '1.2', 'heart-beat': '0,0', ...headers }), undefined, '1.2'));
    await waitFor(() => c.frames.some((f) => f.command === 'CONNECTED' || f.command === 'ERROR'), 'CONNECTED');
    const first = c.frames.shift()!;
    if (first.command !== 'CONNECTED') throw new Error(`raw STOMP connect failed: ${first.body.toString()}`);
    parser.version = '1.2';
    return c;
  }

  send(command: string, headers: readonly HeaderEntry[], body?: Buffer): void {
    this.#socket.write(encodeFrame(command, headers, body, '1.2'));
  }

  /** send a frame with a receipt and wait for the RECEIPT (throws on ERROR) */
  async request(command: string, headers: readonly HeaderEntry[], body?: Buffer): Promise<void> {
    const receipt = `raw-${++this.#seq}`;
    this.send(command, [...headers, ['receipt', receipt]], body);
    await waitFor(() => {
      const err = this.frames.find((f) => f.command === 'ERROR');
      if (err !== undefined) throw new Error(`ERROR: ${headerValue(err, 'message')} ${err.body.toString()}`);
      return this.frames.some((f) => f.command === 'RECEIPT' && headerValue(f, 'receipt-id') === receipt);
    }, `RECEIPT ${receipt}`);
  }

  messages(): StompFrame[] {
    return this.frames.filter((f) => f.command === 'MESSAGE');
  }

  close(): Promise<void> {
    this.#socket.end();
    this.#socket.destroy();
    return Promise.resolve();
  }
}
