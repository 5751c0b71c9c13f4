import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { WebSocket, createWebSocketStream } from 'ws';
import { StompSocketState, type IStompSocket, type IStompSocketMessageEvent } from '@stomp/stompjs';
import { encodeFrame } from '../frame/encoder.js';
import { EMPTY, type StompFrame } from '../frame/frame.js';
import { FrameParser } from '../frame/parser.js';
import type { StompAddress } from './options.js';

/**
 * The TCP side of one STOMP connection, given to @stomp/stompjs as its "WebSocket"
 * (`IStompSocket`, the interface @stomp/tcp-wrapper implements). Ferry uses its own instead of
 * tcp-wrapper for three reasons found in their sources:
 *
 * 1. TCP_NODELAY. tcp-wrapper leaves Nagle on, which cost 39-45 ms at the 99th percentile at
 *    1,000 small messages/s on this machine, against 1-3 ms without it (docs/connectors/stomp.md,
 *    "Baseline"). Here the socket is created with `noDelay`.
 * 2. Speed on large bodies. stompjs' parser appends every incoming byte to a JS array: a 1 MiB
 *    MESSAGE took about 295 ms of event-loop time (measured with tcp-wrapper), blocking
 *    heart-beats and every other connector meanwhile.
 * 3. Faithful headers. stompjs trims every header value (STOMP 1.2 §Headers: "MUST NOT trim"),
 *    never unescapes names, and unescapes values one regex per sequence, so `\\n` (escaped
 *    backslash, `n`) comes back as a backslash and a line feed.
 *
 * So the strict streaming parser of this package reads the bytes. Each MESSAGE, decoded per
 * STOMP 1.2 §Value Encoding with its body as a Buffer, goes to `onMessageFrame`; stompjs gets the
 * same frame re-encoded with an empty body, enough for it to dispatch, ACK and NACK. Other
 * frames (CONNECTED, RECEIPT, ERROR) reach stompjs re-encoded whole. Both see frames in wire
 * order, so the n-th MESSAGE stompjs dispatches is the n-th given to `onMessageFrame` (the
 * session checks their `ack` headers agree).
 */
export interface SocketHooks {
  /** every MESSAGE frame, decoded, in wire order, before stompjs sees it */
  onMessageFrame(frame: StompFrame): void;
  /** the broker's bytes are not valid STOMP (size limit, bad escape): the connection must go */
  onProtocolError(err: Error): void;
  onSocketError(err: Error): void;
}

export interface SocketLimits {
  readonly maxFrameBytes: number;
}

/** Where to connect: the parsed URL, and the TLS options for stomp+ssl:// and wss:// */
export interface StompEndpoint extends StompAddress {
  readonly tls?: ConnectionOptions | undefined;
}

/**
 * The subprotocols offered over WebSocket, newest first; Ferry speaks only 1.2 (see session.ts)
 * but offers what RabbitMQ Web-STOMP and stomp.js name, the version is settled by CONNECT.
 */
const WS_SUBPROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

/**
 * Open the byte stream to the broker: TCP, TLS, or a WebSocket carried as a stream of its
 * messages (a frame may span messages, and one message may hold several frames: the parser
 * reads bytes). `opened` is the event that says the stream is ready. TCP_NODELAY everywhere:
 * `ws` sets it on its own socket.
 */
function dial(e: StompEndpoint): { stream: Duplex; opened: string } {
  switch (e.scheme) {
    case 'stomp':
      return { stream: createConnection({ host: e.host, port: e.port, noDelay: true }), opened: 'connect' };
    case 'stomp+ssl': {
      const s = tlsConnect({ host: e.host, port: e.port, servername: e.host, ...e.tls });
      s.setNoDelay(true);
      return { stream: s, opened: 'secureConnect' };
    }
    case 'ws':
    case 'wss': {
      const host = e.host.includes(':') ? `[${e.host}]` : e.host;
      const ws = new WebSocket(`${e.scheme}://${host}:${e.port}${e.path}`, WS_SUBPROTOCOLS, { ...(e.scheme === 'wss' ? e.tls : {}), perMessageDeflate: false });
      const stream = createWebSocketStream(ws);
      ws.once('open', () => stream.emit('ws-open'));
      return { stream, opened: 'ws-open' };
    }
  }
}

/** one EOL: a heart-beat (STOMP 1.2 §Heart-beating), to tell stompjs the broker is alive */
const EOL = Buffer.from('\n');

export class FerryStompSocket implements IStompSocket {
  readonly url: string;
  onclose: ((ev?: unknown) => unknown) | undefined | null = null;
  onerror: ((ev: unknown) => unknown) | undefined | null = null;
  onmessage: ((ev: IStompSocketMessageEvent) => unknown) | undefined | null = null;
  onopen: ((ev?: unknown) => unknown) | undefined | null = null;
  binaryType?: string;
  #readyState: StompSocketState = StompSocketState.CONNECTING;
  readonly #socket: Duplex;
  readonly #parser: FrameParser;
  readonly #hooks: SocketHooks;
  /** re-encoded frames of the chunk being read, for stompjs */
  #out: Buffer[] = [];

  constructor(endpoint: StompEndpoint, hooks: SocketHooks, limits: SocketLimits) {
    this.url = `${endpoint.scheme}://${endpoint.host}:${endpoint.port}${endpoint.path}`;
    this.#hooks = hooks;
    this.#parser = new FrameParser((frame) => this.#onFrame(frame), {
      maxFrameBytes: limits.maxFrameBytes,
      maxBodyBytes: limits.maxFrameBytes,
      // A broker's MESSAGE carries the publisher's headers: generous, but bounded.
      maxHeaders: 10_000,
      maxHeaderLineBytes: Math.min(limits.maxFrameBytes, 1024 * 1024),
    });
    const { stream: socket, opened } = dial(endpoint);
    this.#socket = socket;
    socket.on(opened, () => {
      this.#readyState = StompSocketState.OPEN;
      this.onopen?.();
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      hooks.onSocketError(err);
      this.onerror?.({ type: 'error', message: err.message });
    });
    socket.on('close', (hadError: boolean | undefined) => {
      this.#readyState = StompSocketState.CLOSED;
      this.#parser.stop();
      this.onclose?.({ wasClean: hadError !== true, type: 'close', code: 1000 });
    });
  }

  get readyState(): number {
    return this.#readyState;
  }

  send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
    if (this.#readyState !== StompSocketState.OPEN) return;
    if (typeof data === 'string') this.#socket.write(data);
    else if (ArrayBuffer.isView(data)) this.#socket.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) this.#socket.write(new Uint8Array(data));
    // stompjs sends only strings and ArrayBuffers; a Blob would be a programming error.
    else throw new TypeError('FerryStompSocket.send: unsupported data');
  }

  close(): void {
    if (this.#readyState >= StompSocketState.CLOSING) return;
    this.#readyState = StompSocketState.CLOSING;
    this.#socket.end();
  }

  terminate(): void {
    this.#readyState = StompSocketState.CLOSING;
    this.#socket.destroy();
  }

  /** Drop the connection at once (heart-beat loss, protocol error, stop timeout). */
  destroy(): void {
    this.terminate();
  }

  #onData(chunk: Buffer): void {
    if (this.#parser.stopped) return;
    try {
      this.#parser.push(chunk);
    } catch (err) {
      this.#out = [];
      this.#hooks.onProtocolError(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const out = this.#out;
    this.#out = [];
    // Any byte from the broker counts as life for stompjs' heart-beat check: a chunk that
    // completed no frame (the middle of a large body) is passed on as one heart-beat EOL.
    const data = out.length === 0 ? EOL : out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out);
    this.onmessage?.({ data: toArrayBuffer(data) });
  }

  #onFrame(frame: StompFrame): void {
    if (frame.command === 'CONNECTED') {
      // CONNECTED fixes the version, and with it the escaping of every later frame. Ferry only
      // offers 1.2 (see session.ts); CONNECTED itself is never escaped.
      const v = frame.headers.find(([n]) => n === 'version')?.[1];
      this.#parser.version = v === '1.1' || v === '1.0' ? v : '1.2';
    }
    if (frame.command === 'MESSAGE') {
      this.#hooks.onMessageFrame(frame);
      this.#out.push(encodeFrame('MESSAGE', frame.headers, EMPTY, '1.2'));
    } else {
      this.#out.push(encodeFrame(frame.command, frame.headers, frame.body.length > 0 ? frame.body : undefined, '1.2'));
    }
  }
}

/** stompjs copies what it is given into a Uint8Array; hand it the exact bytes. */
function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
