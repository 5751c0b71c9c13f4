import { Client, Versions, type IFrame, type IMessage, type StompConfig } from '@stomp/stompjs';
import { FerryError } from '@ferry/core';
import type { StompFrame } from '../frame/frame.js';
import { FerryStompSocket, type StompEndpoint } from './socket.js';

/**
 * One STOMP connection: one @stomp/stompjs Client, from TCP connect to close, never reused.
 * The connector makes a new session for every (re)connect, so everything that belongs to a
 * connection (receipts waited for, ack ids, the MESSAGE frames read by the socket) dies
 * with it, and a delivery from an old session can be recognised and left alone.
 *
 * stompjs' own reconnect is off (`reconnectDelay: 0`): the connector reconnects with core's
 * Backoff. stompjs still does the framing of what Ferry sends, the heart-beats and the
 * receipt bookkeeping.
 */
export interface SessionConfig {
  readonly endpoint: StompEndpoint;
  readonly connectHeaders: Readonly<Record<string, string>>;
  readonly heartBeat: { readonly outgoingMs: number; readonly incomingMs: number };
  readonly connectTimeoutMs: number;
  readonly maxFrameBytes: number;
  /** makes receipt ids unique across the connector's sessions */
  readonly id: number;
}

export interface ConnectedInfo {
  readonly server: string | undefined;
  readonly version: string;
  /** the heart-beat header of CONNECTED: what the broker sends, what it wants */
  readonly heartBeat: string | undefined;
}

export interface SessionEvents {
  connected(session: StompSession, info: ConnectedInfo): void;
  /** a MESSAGE, with headers decoded per STOMP 1.2 and the body as bytes */
  message(session: StompSession, frame: StompFrame): void;
  /** the connection is gone (or never came); `reason` is one line for the log */
  closed(session: StompSession, reason: string, wasConnected: boolean): void;
}

interface Pending {
  readonly kind: 'SEND' | 'SUBSCRIBE';
  readonly destination: string;
  readonly resolve: () => void;
  readonly reject: (err: FerryError) => void;
  readonly timer: NodeJS.Timeout;
}

type Phase = 'new' | 'connecting' | 'open' | 'closed';

/** Prefix words of destinations, never the name of what a broker ERROR complains about. */
const PREFIX_WORDS = new Set(['', 'queue', 'topic', 'exchange', 'amq', 'temp-queue', 'reply-queue']);

export class StompSession {
  readonly #cfg: SessionConfig;
  readonly #events: SessionEvents;
  readonly #client: Client;
  readonly #pending = new Map<string, Pending>();
  /** MESSAGE frames (headers and body) read by the socket, waiting for stompjs to dispatch them */
  readonly #frames: StompFrame[] = [];
  #phase: Phase = 'new';
  #socket: FerryStompSocket | undefined;
  #seq = 0;
  #socketError: Error | undefined;
  /** why we are closing, when we know better than the socket */
  #reason: string | undefined;
  /** the error pending receipts fail with when the connection goes */
  #failure: FerryError | undefined;
  #connectTimer: NodeJS.Timeout | undefined;
  /** terminate() was called: the socket is going; frames still buffered are not delivered */
  #terminating = false;
  readonly #closed: Promise<void>;
  #markClosed: () => void = () => undefined;

  constructor(cfg: SessionConfig, events: SessionEvents) {
    this.#cfg = cfg;
    this.#events = events;
    this.#closed = new Promise<void>((resolve) => {
      this.#markClosed = resolve;
    });
    // stompjs declares its configuration and header maps as classes (StompConfig, StompHeaders)
    // that it never constructs itself: it takes plain objects, typed here as what they are
    const connectHeaders: Record<string, string> = { ...cfg.connectHeaders };
    const config: Partial<StompConfig> = {
      webSocketFactory: () => {
        this.#socket = new FerryStompSocket(
          cfg.endpoint,
          {
            onMessageFrame: (f) => this.#frames.push(f),
            onProtocolError: (err) => this.terminate(`protocol error from the broker: ${err.message}`),
            onSocketError: (err) => {
              this.#socketError = err;
            },
          },
          { maxFrameBytes: cfg.maxFrameBytes },
        );
        return this.#socket;
      },
      // Only STOMP 1.2: it is the version whose escaping covers CR, LF, `:` and `\` in every
      // header (STOMP 1.2 §Value Encoding); stompjs escapes nothing on 1.0 and 1.1, where a
      // header value could then inject headers. RabbitMQ 3.x and ActiveMQ 5.x speak 1.2.
      stompVersions: new Versions([Versions.V1_2]),
      connectHeaders,
      heartbeatOutgoing: cfg.heartBeat.outgoingMs,
      heartbeatIncoming: cfg.heartBeat.incomingMs,
      // The connect timeout is ours (see open()): stompjs' own watcher outlives a failed
      // attempt by the whole timeout, a timer per attempt left behind.
      connectionTimeout: 0,
      reconnectDelay: 0,
      // Destroy the socket on heart-beat loss or connect timeout instead of a polite close that
      // a dead peer would never answer.
      discardWebsocketOnCommFailure: true,
      // stompjs' debug output holds whole frames, CONNECT's passcode included: never enabled.
      debug: () => undefined,
      onConnect: (frame: IFrame) => this.#onConnected(frame),
      onStompError: (frame: IFrame) => this.#onError(frame),
      onWebSocketClose: () => this.#onClosed(),
      onUnhandledMessage: (m: IMessage) => this.#onMessage(m),
      onUnhandledReceipt: () => undefined,
      onHeartbeatLost: () => {
        this.#reason ??= `no heart-beat from the broker for ${2 * cfg.heartBeat.incomingMs} ms`;
      },
    };
    this.#client = new Client(config);
  }

  get id(): number {
    return this.#cfg.id;
  }

  /** CONNECTED was received and the connection has not closed since */
  get isOpen(): boolean {
    return this.#phase === 'open' && !this.#terminating;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Connect (TCP, CONNECT, CONNECTED). Events tell how it went. */
  open(): void {
    if (this.#phase !== 'new') return;
    this.#phase = 'connecting';
    this.#connectTimer = setTimeout(() => {
      if (this.#phase === 'connecting') this.terminate(`no CONNECTED within ${this.#cfg.connectTimeoutMs} ms`);
    }, this.#cfg.connectTimeoutMs);
    this.#client.activate();
  }

  /**
   * SEND with a `receipt` header; resolves when the RECEIPT comes (STOMP 1.2 §RECEIPT: the
   * server processed the frame; RabbitMQ sends it once the message is confirmed, as a publisher
   * confirm). Rejects with SINK_REJECTED for an ERROR about it, SINK_TIMEOUT when no RECEIPT
   * came in `timeoutMs`, SINK_CLOSED when the connection went first.
   */
  send(destination: string, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<void> {
    return this.#withReceipt('SEND', destination, timeoutMs, (receipt) => {
      const sent: Record<string, string> = { ...headers, receipt };
      this.#client.publish({ destination, headers: sent, binaryBody: body });
    });
  }

  /** SUBSCRIBE with a receipt; resolves when the broker confirmed the subscription. */
  subscribe(id: string, destination: string, headers: Record<string, string>, timeoutMs: number): Promise<void> {
    return this.#withReceipt('SUBSCRIBE', destination, timeoutMs, (receipt) => {
      // Every subscription reports through onUnhandledMessage-like dispatch below: one handler.
      const sent: Record<string, string> = { ...headers, id, receipt };
      this.#client.subscribe(destination, (m) => this.#onMessage(m), sent);
    });
  }

  unsubscribe(id: string): void {
    if (!this.isOpen) return;
    this.#client.unsubscribe(id);
  }

  /** ACK (STOMP 1.2: `id` = the MESSAGE's `ack` header). False when the connection is gone. */
  ack(ackId: string, subscription: string): boolean {
    if (!this.isOpen) return false;
    this.#client.ack(ackId, subscription);
    return true;
  }

  nack(ackId: string, subscription: string, headers: Record<string, string> = {}): boolean {
    if (!this.isOpen) return false;
    this.#client.nack(ackId, subscription, headers);
    return true;
  }

  /** Drop the connection now (no DISCONNECT). */
  terminate(reason: string, failure?: FerryError): void {
    this.#reason ??= reason;
    if (failure !== undefined) this.#failure ??= failure;
    if (this.#phase === 'closed') return;
    this.#terminating = true;
    if (this.#socket !== undefined) this.#socket.destroy();
    else void this.#client.deactivate({ force: true });
  }

  /**
   * Graceful close: DISCONNECT with a receipt (STOMP 1.2 §DISCONNECT), so the broker has
   * processed every frame sent before; after `timeoutMs` the socket is destroyed.
   */
  async close(timeoutMs: number): Promise<void> {
    this.#reason ??= 'closed by Ferry';
    if (this.#phase === 'closed') return;
    if (this.#phase === 'new') {
      this.#phase = 'closed';
      this.#markClosed();
      return;
    }
    const force = setTimeout(() => this.#socket?.destroy(), timeoutMs);
    void this.#client.deactivate().catch(() => undefined);
    await this.#closed;
    clearTimeout(force);
  }

  #withReceipt(kind: Pending['kind'], destination: string, timeoutMs: number, transmit: (receipt: string) => void): Promise<void> {
    if (!this.isOpen) {
      return Promise.reject(new FerryError('NOT_CONNECTED', `not connected to the STOMP broker (${kind} to ${destination})`));
    }
    const receipt = `ferry-${this.#cfg.id}-${++this.#seq}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.delete(receipt)) {
          reject(new FerryError('SINK_TIMEOUT', `no RECEIPT for ${kind} to ${destination} within ${timeoutMs} ms`, { details: { receipt, destination } }));
        }
      }, timeoutMs);
      this.#pending.set(receipt, { kind, destination, resolve, reject, timer });
      this.#client.watchForReceipt(receipt, () => {
        const p = this.#pending.get(receipt);
        if (p === undefined) return;
        this.#pending.delete(receipt);
        clearTimeout(p.timer);
        p.resolve();
      });
      try {
        transmit(receipt);
      } catch (err) {
        this.#pending.delete(receipt);
        clearTimeout(timer);
        reject(new FerryError('NOT_CONNECTED', `${kind} to ${destination} could not be written: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      }
    });
  }

  #onConnected(frame: IFrame): void {
    if (this.#phase !== 'connecting') return;
    const version = frame.headers.version ?? '1.0';
    if (version !== Versions.V1_2) {
      // A broker that ignored accept-version: headers could not be escaped safely.
      this.terminate(`the broker answered STOMP ${version}; Ferry speaks only STOMP 1.2`);
      return;
    }
    this.#phase = 'open';
    clearTimeout(this.#connectTimer);
    this.#events.connected(this, { server: frame.headers.server, version, heartBeat: frame.headers['heart-beat'] });
  }

  #onMessage(m: IMessage): void {
    const raw = this.#frames.shift();
    if (!this.isOpen) return;
    if (raw === undefined || !sameAck(raw, m.headers.ack)) {
      // Cannot happen while stompjs reads the frames the socket re-encoded, in order; if it
      // does, no ack id can be trusted.
      this.terminate('internal: the MESSAGE dispatched by stompjs is not the one the socket read');
      return;
    }
    this.#events.message(this, raw);
  }

  /**
   * STOMP 1.2 §ERROR: the server closes the connection after it. The ERROR names the frame it
   * is about with `receipt-id` when that frame had a receipt; RabbitMQ 3.10 does not, so an
   * ERROR that names the destination of a waiting SEND (`no exchange 'x'`, `'/bogus/x' is not a
   * valid destination`) is taken to be about every SEND waiting for that destination.
   */
  #onError(frame: IFrame): void {
    const message = frame.headers.message ?? 'ERROR';
    const detail = Buffer.from(frame.binaryBody).toString('utf8').trim().slice(0, 500);
    const text = detail === '' ? message : `${message}: ${detail}`;
    const receiptId = frame.headers['receipt-id'];
    const refused = (p: Pending): FerryError =>
      new FerryError('SINK_REJECTED', `the broker refused ${p.kind} to ${p.destination}: ${text}`, { permanent: true, details: { destination: p.destination } });
    for (const [id, p] of [...this.#pending]) {
      if (id === receiptId || (receiptId === undefined && mentions(text, p.destination))) {
        this.#pending.delete(id);
        clearTimeout(p.timer);
        p.reject(refused(p));
      }
    }
    const connecting = this.#phase === 'connecting';
    this.terminate(
      connecting ? `the broker refused the connection: ${text}` : `ERROR from the broker: ${text}`,
      new FerryError('SINK_REJECTED', `the connection failed with an ERROR from the broker before the RECEIPT came: ${text}`),
    );
  }

  #onClosed(): void {
    if (this.#phase === 'closed') return;
    const wasConnected = this.#phase === 'open';
    this.#phase = 'closed';
    clearTimeout(this.#connectTimer);
    this.#markClosed();
    this.#frames.length = 0;
    const reason =
      this.#reason ??
      (this.#socketError !== undefined ? `socket error: ${this.#socketError.message}` : 'connection closed by the broker');
    const failure = this.#failure ?? new FerryError('SINK_CLOSED', `the STOMP connection was lost before the RECEIPT came (${reason})`);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(failure);
    }
    this.#pending.clear();
    // stompjs keeps its Client active until told otherwise; it has no socket left to close.
    void this.#client.deactivate().catch(() => undefined);
    this.#events.closed(this, reason, wasConnected);
  }
}

function sameAck(raw: StompFrame, stompjsAck: string | undefined): boolean {
  const rawAck = raw.headers.find(([n]) => n === 'ack')?.[1];
  if (rawAck === stompjsAck) return true;
  // stompjs trims and mis-unescapes; only an id it would have changed may differ.
  return rawAck !== undefined && (rawAck.includes('\\') || rawAck !== rawAck.trim());
}

/** Does a broker's error text name this destination, or the exchange/queue inside it? */
function mentions(text: string, destination: string): boolean {
  if (text.includes(`'${destination}'`)) return true;
  return destination
    .split('/')
    .filter((s) => !PREFIX_WORDS.has(s))
    .some((s) => text.includes(`'${s}'`));
}
