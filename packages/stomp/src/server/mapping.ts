import { CORRELATION_ENCODING_HEADER, correlationFromField, correlationToText, createMessage, NO_HEADERS, headerToString, type GatewayMessage, type HeaderValue } from '@ferry/core';
import type { HeaderEntry } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import type { InboundSendContent } from './session.js';
import type { SharedSendParts } from './shared-send-parts.js';

/**
 * STOMP headers ⇄ canonical fields, for the stomp-listener (docs/mapping/stomp.md, section
 * "stomp-listener"). STOMP headers are strings; typed values from AMQP are written with
 * `headerToString` (numbers as decimal, binary base64, timestamps ISO 8601, tables JSON).
 *
 * The MESSAGE header `message-id` is the listener's own delivery id (it must be unique per
 * delivery: STOMP 1.0/1.1 ACKs name it), so the canonical `messageId` travels as
 * `ferry-message-id`; a SEND's `message-id` (or, failing that, `ferry-message-id`) becomes
 * `messageId`.
 */
const MESSAGE_ID_HEADER = 'ferry-message-id';

const DIGITS = /^\d{1,15}$/;

/** the decimal a header holds (at most 15 digits, so exact as a number), else undefined */
function decimal(v: string | undefined): number | undefined {
  return v !== undefined && DIGITS.test(v) ? Number(v) : undefined;
}

/**
 * A client SEND as a canonical message. The first occurrence of a repeated header wins
 * (STOMP 1.2 §Repeated Header Entries): one pass over the headers, each mapped one kept in its
 * own variable, every other one copied once into the message's headers. With `shared`, the
 * message's source and meta are those of the connector's last SEND when they are the same.
 */
export function sendToMessage(send: InboundSendContent, connector: string, shared?: SharedSendParts): GatewayMessage {
  const headers = new Map<string, HeaderValue>();
  let contentType: string | undefined;
  let contentEncoding: string | undefined;
  let messageId: string | undefined;
  let ferryMessageId: string | undefined;
  let correlation: string | undefined;
  let replyTo: string | undefined;
  let expiresText: string | undefined;
  let priorityText: string | undefined;
  let persistent: string | undefined;
  let timestampText: string | undefined;
  let subject: string | undefined;
  for (const [n, v] of send.headers) {
    switch (n) {
      case 'content-type':
        contentType ??= v;
        break;
      case 'content-encoding':
        contentEncoding ??= v;
        break;
      case 'message-id':
        messageId ??= v;
        break;
      case MESSAGE_ID_HEADER:
        ferryMessageId ??= v;
        break;
      case 'correlation-id':
        correlation ??= v;
        break;
      case 'reply-to':
        replyTo ??= v;
        break;
      case 'expires':
        expiresText ??= v;
        break;
      case 'priority':
        priorityText ??= v;
        break;
      case 'persistent':
        persistent ??= v;
        break;
      case 'timestamp':
        timestampText ??= v;
        break;
      case 'subject':
        subject ??= v;
        break;
      default:
        if (!headers.has(n)) headers.set(n, v);
    }
  }
  const priority = decimal(priorityText);
  const expires = decimal(expiresText);
  // A priority outside 0-9 or a non-numeric one stays a plain header rather than being guessed.
  if (priorityText !== undefined && (priority === undefined || priority > 9)) headers.set('priority', priorityText);
  // a binary id (or text with NUL) came as base64, marked (core correlation.ts); this takes the
  // marker out of the headers, before their size is read below
  const correlationId = correlationFromField(correlation, headers);
  return createMessage({
    body: send.body,
    // a SEND without application headers keeps no map of its own while it is in flight
    headers: headers.size === 0 ? NO_HEADERS : headers,
    contentType,
    contentEncoding,
    messageId: messageId ?? ferryMessageId,
    correlationId,
    replyTo,
    // ActiveMQ style: `expires` is an absolute time in ms since the epoch; 0 means never.
    expiresAt: expires !== undefined && expires > 0 ? expires : undefined,
    priority: priority !== undefined && priority <= 9 ? priority : undefined,
    timestamp: decimal(timestampText),
    subject,
    userId: send.login,
    guarantee: send.confirmed ? 'at-least-once' : 'at-most-once',
    retain: false,
    source: shared?.source(send.destination) ?? { connector, protocol: 'stomp', address: send.destination },
    meta:
      persistent !== undefined
        ? { stomp: { version: send.version, session: send.sessionId, persistent: persistent === 'true' } }
        : (shared?.meta(send.version, send.sessionId) ?? { stomp: { version: send.version, session: send.sessionId } }),
  });
}

/** the headers messageToBroker writes from a message's fields */
const MAPPED_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-encoding', MESSAGE_ID_HEADER, 'correlation-id', CORRELATION_ENCODING_HEADER, 'reply-to', 'expires', 'priority', 'timestamp', 'subject', 'persistent']);

function writtenBefore(headers: readonly HeaderEntry[], end: number, name: string): boolean {
  for (let i = 0; i < end; i++) if ((headers[i] as HeaderEntry)[0] === name) return true;
  return false;
}

/** A canonical message as a message of the listener's broker, for `destination`. */
export function messageToBroker(msg: GatewayMessage, destination: string): BrokerMessage {
  const headers: HeaderEntry[] = [];
  if (msg.contentType !== undefined) headers.push(['content-type', msg.contentType]);
  if (msg.contentEncoding !== undefined) headers.push(['content-encoding', msg.contentEncoding]);
  if (msg.messageId !== undefined) headers.push([MESSAGE_ID_HEADER, msg.messageId]);
  if (msg.correlationId !== undefined) {
    // STOMP headers are text without NUL: a binary id goes as base64, marked so the way back restores it
    const correlation = correlationToText(msg.correlationId);
    headers.push(['correlation-id', correlation.value]);
    if (correlation.encoding !== undefined) headers.push([CORRELATION_ENCODING_HEADER, correlation.encoding]);
  }
  if (msg.replyTo !== undefined) headers.push(['reply-to', msg.replyTo]);
  if (msg.expiresAt !== undefined) headers.push(['expires', String(msg.expiresAt)]);
  if (msg.priority !== undefined) headers.push(['priority', String(Math.max(0, Math.min(9, Math.round(msg.priority))))]);
  if (msg.timestamp !== undefined) headers.push(['timestamp', String(msg.timestamp)]);
  if (msg.subject !== undefined) headers.push(['subject', msg.subject]);
  const stompMeta = msg.meta.stomp;
  if (stompMeta !== undefined && typeof stompMeta['persistent'] === 'boolean') headers.push(['persistent', String(stompMeta['persistent'])]);
  // an application header by the name of one written above is not copied (the field wins);
  // the few written are searched in place, no set per message
  const fields = headers.length;
  for (const [name, value] of msg.headers) {
    if (MAPPED_HEADERS.has(name) && writtenBefore(headers, fields, name)) continue;
    headers.push([name, headerToString(value)]);
  }
  return { destination, headers, body: msg.body, expiresAt: msg.expiresAt, redelivered: false };
}
