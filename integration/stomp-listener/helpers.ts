import { createConnection, type Socket, type TcpNetConnectOpts } from 'node:net';
import { Client, Versions, type IFrame, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import type { Readable } from 'node:stream';
import stompit from 'stompit';
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

export async function startListener(extra: Record<string, unknown> = {}, withSources = true) {
  const port = await freePort();
  const options = stompListenerDefinition.options.parse({ port, host: '127.0.0.1', anonymous: true, ...extra });
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

/**
 * Resolves once the server sent the RECEIPT `id`: it processes a connection's frames in order, so
 * every frame sent before the one carrying the receipt has been processed. Watch before sending.
 */
export function receiptOf(c: StompJsClient, id: string): Promise<void> {
  return new Promise((resolve) => c.client.watchForReceipt(id, () => resolve()));
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

/** A MESSAGE as stompit gave it: its decoded headers and its body as text. */
export interface StompitMessage {
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body: string;
  readonly message: stompit.Client.Message;
}

export interface StompitClient {
  readonly client: stompit.Client;
  readonly errors: Error[];
  /** every byte the server sent this client, as its socket got them */
  readonly received: () => Buffer;
  /** the TCP connection is closed */
  readonly closed: () => boolean;
}

/**
 * stompit 1.0 over TCP (it sets TCP_NODELAY itself), connected with `accept-version` set to
 * exactly `version`, so the server negotiates that version (no accept-version would be 1.0 too;
 * stompit always sends the header). stompit escapes and unescapes per the negotiated version.
 * The socket is tapped so a test can read what the server wrote.
 */
export function stompit10or11(port: number, version: '1.0' | '1.1'): Promise<StompitClient> {
  return new Promise((resolve, reject) => {
    const errors: Error[] = [];
    const chunks: Buffer[] = [];
    let isClosed = false;
    const tapped = (opts: stompit.connect.ConnectOptions, onConnect?: () => void): Socket => {
      const s = createConnection(opts as TcpNetConnectOpts, onConnect);
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('close', () => {
        isClosed = true;
      });
      return s;
    };
    const client = stompit.connect(
      { host: '127.0.0.1', port, connect: tapped, connectHeaders: { 'accept-version': version, host: 'ferry', 'heart-beat': '0,0' } },
      (err) => {
        if (err !== null) return reject(err);
        // stompit 1.0.0's own ERROR handler throws an uncaught exception for an ERROR with a
        // text/plain body of up to 4096 bytes: it calls `destroy` on the incoming frame, not the
        // client, and nothing listens for the frame's 'error'. Ferry's ERRORs (like RabbitMQ's)
        // are such frames, so read them here and end the client the way stompit means to.
        client.setCommandHandler('ERROR', (frame) => {
          const f = frame as unknown as Readable & { headers: Record<string, string | undefined> };
          f.on('end', () => client.destroy(client.createApplicationError(f.headers['message'] ?? 'server sent ERROR frame')));
          f.resume();
        });
        resolve({ client, errors, received: () => Buffer.concat(chunks), closed: () => isClosed });
      },
    );
    client.on('error', (e: Error) => errors.push(e));
  });
}

/** stompit's subscription, collecting each MESSAGE with its body read. */
export function stompitSubscribe(c: StompitClient, headers: Record<string, string>): StompitMessage[] {
  const got: StompitMessage[] = [];
  c.client.subscribe(headers, (err, message) => {
    if (err !== null) {
      c.errors.push(err);
      return;
    }
    // @types/stompit leaves the parsed headers of an incoming frame out of its types
    const h = (message as stompit.Client.Message & { headers: Record<string, string | undefined> }).headers;
    message.readString('utf8', (e, body) => {
      if (e !== null) c.errors.push(e);
      else got.push({ headers: h, body: body ?? '', message });
    });
  });
  return got;
}

/** SEND with a receipt; resolves on the RECEIPT. */
export function stompitSend(c: StompitClient, headers: Record<string, string>, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = c.client.send(headers, { onReceipt: () => resolve(), onError: (e: Error) => reject(e) });
    frame.end(body);
  });
}

export function stompitClose(...cs: StompitClient[]): Promise<void> {
  return Promise.all(
    cs.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.closed()) return resolve();
          c.client.disconnect(() => resolve());
        }),
    ),
  ).then(() => undefined);
}
