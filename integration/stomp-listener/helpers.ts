import { createConnection, type Socket } from 'node:net';
import { Client, Versions, type IFrame, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { createMessage, noopMetrics, silentLogger, type InboundDelivery, type GatewayMessage } from '@ferry/core';
import { stompListenerDefinition } from '@ferry/stomp';
import { freePort, waitFor } from '@ferry/testkit';

/** tcp-wrapper with TCP_NODELAY (house rule: no Nagle on any socket). */
class NoDelayTCPWrapper extends TCPWrapper {
  protected override getSocket(port: number, host: string): Socket {
    const s = createConnection(port, host);
    s.setNoDelay(true);
    return s;
  }
}

export type ListenerOptions = Parameters<typeof stompListenerDefinition.options.parse>[0];

export async function startListener(extra: Record<string, unknown> = {}, withSources = true) {
  const port = await freePort();
  const options = stompListenerDefinition.options.parse({ port, host: '127.0.0.1', ...extra });
  const conn = stompListenerDefinition.create({ gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' }, 'web', options);
  const deliveries: InboundDelivery[] = [];
  const ctl = { autoAccept: true };
  await conn.start();
  if (withSources) {
    await conn.openSources?.([{ route: 'r', from: { destination: '/topic/#' } }], (d) => {
      deliveries.push(d);
      if (ctl.autoAccept) d.settlement.accept();
    });
  }
  return { conn, port, deliveries, ctl };
}

export interface StompJsClient {
  client: Client;
  errors: IFrame[];
  closed: () => boolean;
}

/** @stomp/stompjs over TCP, connected (resolves on CONNECTED). */
export async function stompjs(port: number, version: '1.1' | '1.2', headers: Record<string, string> = {}, heartbeat = 0): Promise<StompJsClient> {
  const errors: IFrame[] = [];
  let isClosed = false;
  const client = new Client({
    webSocketFactory: () => new NoDelayTCPWrapper('127.0.0.1', port),
    stompVersions: new Versions([version]),
    connectHeaders: { host: 'ferry', ...headers },
    reconnectDelay: 0,
    heartbeatIncoming: heartbeat,
    heartbeatOutgoing: heartbeat,
    debug: () => undefined,
  });
  client.onStompError = (f) => errors.push(f);
  client.onWebSocketClose = () => {
    isClosed = true;
  };
  const connected = new Promise<void>((resolve) => {
    client.onConnect = () => resolve();
  });
  client.activate();
  await Promise.race([connected, waitFor(() => errors.length > 0 || isClosed, 'CONNECTED or ERROR', 5000)]);
  return { client, errors, closed: () => isClosed };
}

export function collect(): { messages: IMessage[]; onMessage: (m: IMessage) => void } {
  const messages: IMessage[] = [];
  return { messages, onMessage: (m) => messages.push(m) };
}

/** A raw TCP client writing frames byte for byte and recording every byte it gets back. */
export class RawClient {
  readonly socket: Socket;
  received = Buffer.alloc(0);
  closed = false;

  constructor(port: number) {
    this.socket = createConnection(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => {
      this.received = Buffer.concat([this.received, d]);
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => {
      this.closed = true;
    });
  }

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', resolve);
      c.socket.once('error', reject);
    });
    return c;
  }

  write(s: string | Buffer): void {
    this.socket.write(s);
  }

  get text(): string {
    return this.received.toString('utf8');
  }

  /** frames received so far, as raw text split at NUL (fine for frames without NUL bodies) */
  frames(): string[] {
    return this.text
      .split('\0')
      .map((f) => f.replace(/^[\r\n]+/, ''))
      .filter((f) => f !== '');
  }

  async waitFor(pred: (text: string) => boolean, what: string): Promise<void> {
    await waitFor(() => pred(this.text), what, 5000);
  }

  close(): void {
    this.socket.destroy();
  }
}

export function gatewayMessage(body: string, headers: [string, string][] = [], init: Partial<GatewayMessage> = {}): GatewayMessage {
  return createMessage({ body: Buffer.from(body), headers: new Map(headers), source: { connector: 'test', protocol: 'mqtt', address: 'a/b' }, ...init });
}

export async function deactivate(...cs: StompJsClient[]): Promise<void> {
  await Promise.all(cs.map((c) => c.client.deactivate()));
}
