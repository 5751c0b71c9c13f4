import { CORRELATION_ENCODING_HEADER, correlationFromField, correlationToText, createMessage, headerToString, type GatewayMessage, type Headers } from '@ferry/core';
import { escapeHeader } from '../frame/escape.js';
import type { HeaderEntry } from '../frame/frame.js';
import type { BrokerFlavor } from './flavor.js';

/**
 * GatewayMessage ↔ STOMP headers for the `stomp` client connector. docs/mapping/stomp.md,
 * section "stomp (client)", is the table of this file.
 */

/** Frame-level headers: never taken from, nor given to, application headers. */
const FRAME_HEADERS = ['destination', 'receipt', 'receipt-id', 'content-length', 'transaction', 'subscription', 'message-id', 'ack', 'id', 'redelivered'];

/**
 * Headers each broker interprets on SEND. An application header with one of these names is
 * dropped, never sent: `priority: high` would make RabbitMQ fail the frame, and `x-max-length`
 * on a SEND to `/queue/q` is a queue argument to RabbitMQ (rabbitmq_stomp `?HEADER_ARGUMENTS`).
 */
const INTERPRETED: Record<BrokerFlavor, readonly string[]> = {
  rabbitmq: [
    'content-type',
    'content-encoding',
    'persistent',
    'priority',
    'correlation-id',
    'reply-to',
    'expiration',
    'amqp-message-id',
    'timestamp',
    'user-id',
    'durable',
    'auto-delete',
    'exclusive',
    'x-dead-letter-exchange',
    'x-dead-letter-routing-key',
    'x-expires',
    'x-max-length',
    'x-max-length-bytes',
    'x-max-age',
    'x-max-priority',
    'x-message-ttl',
    'x-queue-name',
    'x-queue-type',
    'x-stream-max-segment-size-bytes',
  ],
  activemq: ['content-type', 'content-encoding', 'persistent', 'priority', 'correlation-id', 'reply-to', 'expires', 'timestamp', 'type', 'transformation', 'JMSXGroupID', 'JMSXGroupSeq'],
  generic: ['content-type', 'content-encoding', 'persistent', 'priority', 'correlation-id', 'reply-to', 'expires'],
};

const reserved: Record<BrokerFlavor, ReadonlySet<string>> = {
  rabbitmq: new Set([...FRAME_HEADERS, ...INTERPRETED.rabbitmq]),
  activemq: new Set([...FRAME_HEADERS, ...INTERPRETED.activemq]),
  generic: new Set([...FRAME_HEADERS, ...INTERPRETED.generic]),
};

function isReserved(name: string, flavor: BrokerFlavor): boolean {
  return reserved[flavor].has(name) || (flavor === 'activemq' && name.startsWith('activemq.'));
}

// eslint-disable-next-line no-control-regex -- NUL is exactly what we remove
const NUL = /\u0000/g;

export interface OutboundHeaders {
  /**
   * Header name (already escaped for STOMP 1.2) → raw value. @stomp/stompjs escapes values on a
   * 1.2 connection but writes names as given, so names are escaped here and values are not.
   */
  readonly headers: Record<string, string>;
  /** application headers left out (reserved names, duplicates, empty names) */
  readonly dropped: readonly string[];
}

export interface OutboundOptions {
  readonly flavor: BrokerFlavor;
  /** the route's `persistent`; default: the message's guarantee */
  readonly persistent?: boolean | undefined;
  readonly now: number;
}

/**
 * The headers of a SEND for `msg` (without `destination` and `receipt`, which the sink adds).
 * No value can end its line or the frame: names are escaped here, values by stompjs (1.2), and
 * NUL, which no STOMP version can escape, is removed from both.
 */
export function toSendHeaders(msg: GatewayMessage, opts: OutboundOptions): OutboundHeaders {
  const { flavor } = opts;
  const out: Record<string, string> = {};
  const dropped: string[] = [];
  const put = (name: string, value: string): void => {
    const n = escapeHeader(name, '1.2', true, true);
    if (n === undefined || Object.prototype.hasOwnProperty.call(out, n)) {
      dropped.push(name);
      return;
    }
    out[n] = value.replace(NUL, '');
  };

  if (msg.contentType !== undefined) put('content-type', msg.contentType);
  if (msg.contentEncoding !== undefined) put('content-encoding', msg.contentEncoding);
  if (msg.correlationId !== undefined) {
    // STOMP headers are text without NUL: a binary id goes as base64, marked so the way back restores it
    const c = correlationToText(msg.correlationId);
    put('correlation-id', c.value);
    if (c.encoding !== undefined) put(CORRELATION_ENCODING_HEADER, c.encoding);
  }
  if (msg.replyTo !== undefined) put('reply-to', msg.replyTo);
  if (msg.priority !== undefined && Number.isFinite(msg.priority)) put('priority', String(Math.max(0, Math.min(9, Math.round(msg.priority)))));
  put('persistent', String(opts.persistent ?? msg.guarantee === 'at-least-once'));
  if (flavor === 'rabbitmq') {
    // RabbitMQ refuses `message-id` on SEND (rabbitmq_stomp `?HEADERS_NOT_ON_SEND`); the AMQP
    // message-id property travels as `amqp-message-id`.
    if (msg.messageId !== undefined) put('amqp-message-id', msg.messageId);
    // `expiration` is the AMQP per-message TTL in ms, relative; Ferry keeps an absolute expiry.
    if (msg.expiresAt !== undefined) put('expiration', String(Math.max(0, Math.round(msg.expiresAt - opts.now))));
    // AMQP 0-9-1 timestamps are seconds since the epoch.
    if (msg.timestamp !== undefined) put('timestamp', String(Math.floor(msg.timestamp / 1000)));
  } else if (msg.expiresAt !== undefined) {
    // ActiveMQ (JMSExpiration) and most STOMP servers: `expires`, absolute ms since the epoch.
    put('expires', String(Math.round(msg.expiresAt)));
  }

  for (const [name, value] of msg.headers) {
    if (isReserved(name, flavor)) {
      dropped.push(name);
      continue;
    }
    put(name, headerToString(value));
  }
  return { headers: out, dropped };
}

/** What the source knows about a MESSAGE besides its frame. */
export interface InboundContext {
  readonly connector: string;
  readonly flavor: BrokerFlavor;
  /** the destination subscribed to, used when a MESSAGE names none */
  readonly subscribedTo: string;
  readonly ack: 'client-individual' | 'auto';
  readonly now: number;
}

/** STOMP-only facts of a received MESSAGE, kept under `meta.stomp`. */
interface StompMeta {
  readonly subscription: string | undefined;
  readonly messageId: string | undefined;
  readonly ack: string | undefined;
  readonly redelivered?: boolean;
  readonly persistent?: boolean;
  readonly destination: string;
}

function first(headers: readonly HeaderEntry[]): Map<string, string> {
  // STOMP 1.2 §Repeated Header Entries: only the first entry of a name counts.
  const m = new Map<string, string>();
  for (const [n, v] of headers) if (!m.has(n)) m.set(n, v);
  return m;
}

function int(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?[0-9]{1,16}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

function bool(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

/** A MESSAGE frame (decoded headers, body bytes) → the canonical message. */
export function fromMessageFrame(headers: readonly HeaderEntry[], body: Buffer, ctx: InboundContext): GatewayMessage {
  const h = first(headers);
  const used = new Set<string>(FRAME_HEADERS);
  const take = (name: string): string | undefined => {
    const v = h.get(name);
    if (v !== undefined) used.add(name);
    return v;
  };

  const destination = take('destination') ?? ctx.subscribedTo;
  const contentType = take('content-type');
  const contentEncoding = take('content-encoding');
  const correlationId = take('correlation-id');
  let replyTo = take('reply-to');
  // RabbitMQ writes an AMQP reply_to that is not a STOMP destination as `/reply-queue/<name>`
  // (rabbitmq_stomp); the canonical replyTo is the AMQP name, as an amqp091 source gives it.
  if (ctx.flavor === 'rabbitmq' && replyTo?.startsWith('/reply-queue/') === true) replyTo = replyTo.slice('/reply-queue/'.length);
  const persistent = bool(take('persistent'));
  const redelivered = bool(h.get('redelivered'));

  let priority = int(h.get('priority'));
  if (priority !== undefined) {
    used.add('priority');
    priority = Math.max(0, Math.min(9, priority));
  }

  let messageId: string | undefined;
  let expiresAt: number | undefined;
  let timestamp: number | undefined;
  let userId: string | undefined;
  if (ctx.flavor === 'rabbitmq') {
    // The STOMP `message-id` of RabbitMQ is its own delivery handle (T_sub@@session@@n); the
    // application's id is the AMQP property, `amqp-message-id`.
    messageId = take('amqp-message-id');
    const ttl = int(h.get('expiration'));
    if (ttl !== undefined && ttl >= 0) {
      used.add('expiration');
      expiresAt = ctx.now + ttl;
    }
    const ts = int(h.get('timestamp'));
    if (ts !== undefined) {
      used.add('timestamp');
      timestamp = ts * 1000;
    }
    userId = take('user-id');
  } else {
    messageId = h.get('message-id');
    const exp = int(h.get('expires'));
    if (exp !== undefined) {
      used.add('expires');
      // JMSExpiration 0 means "never".
      if (exp > 0) expiresAt = exp;
    }
    if (ctx.flavor === 'activemq') {
      const ts = int(h.get('timestamp'));
      if (ts !== undefined) {
        used.add('timestamp');
        timestamp = ts;
      }
    }
  }

  const appHeaders: Headers = new Map();
  for (const [name, value] of h) if (!used.has(name)) appHeaders.set(name, value);

  const stomp: StompMeta = {
    subscription: h.get('subscription'),
    messageId: h.get('message-id'),
    ack: h.get('ack'),
    destination,
    ...(redelivered === undefined ? {} : { redelivered }),
    ...(persistent === undefined ? {} : { persistent }),
  };

  return createMessage({
    body,
    headers: appHeaders,
    contentType,
    contentEncoding,
    messageId,
    correlationId: correlationFromField(correlationId, appHeaders),
    replyTo,
    timestamp,
    expiresAt,
    priority,
    userId,
    guarantee: ctx.ack === 'auto' ? 'at-most-once' : 'at-least-once',
    source: { connector: ctx.connector, protocol: 'stomp', address: destination },
    meta: { stomp: { ...stomp } },
  });
}
