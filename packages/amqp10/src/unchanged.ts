/**
 * Whether a route changed a message received over AMQP 1.0, field by field: an amqp10 sink sends
 * the bytes as received only while every canonical field it would write from is still what
 * those bytes decode to (docs/mapping/amqp10.md, "pass-through").
 *
 * The comparison runs at the sink, against the message the received bytes decode to again, so
 * a message bound for any other protocol pays nothing for it at ingress.
 */
import { HOPS_HEADER, TypedNumber, type GatewayMessage, type HeaderValue } from '@ferry/core';

/** Same value, same kind: a TypedNumber's type, a number against a bigint, a Date, bytes, nested lists and maps. */
function sameHeader(a: HeaderValue, b: HeaderValue): boolean {
  if (a === b) return true;
  if (a instanceof TypedNumber) return b instanceof TypedNumber && a.type === b.type && String(a.value) === String(b.value);
  if (typeof a === 'number') return typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  if (a instanceof Date) return b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof Uint8Array) return b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  if (Array.isArray(a)) {
    const x = a as readonly HeaderValue[];
    return Array.isArray(b) && x.length === b.length && x.every((v, i) => sameHeader(v, (b as readonly HeaderValue[])[i] as HeaderValue));
  }
  if (a === null || typeof a !== 'object' || b === null || typeof b !== 'object') return false;
  if (b instanceof TypedNumber || b instanceof Date || b instanceof Uint8Array || Array.isArray(b)) return false;
  const ea = Object.entries(a);
  const eb = Object.entries(b as Readonly<Record<string, HeaderValue>>);
  return ea.length === eb.length && ea.every(([k, v], i) => eb[i]?.[0] === k && sameHeader(v, eb[i][1]));
}

/** The headers in order, the hop count left out (every route counts one more; the sink writes it). */
function sameHeaders(a: GatewayMessage['headers'], b: GatewayMessage['headers']): boolean {
  const ea = [...a].filter(([k]) => k !== HOPS_HEADER);
  const eb = [...b].filter(([k]) => k !== HOPS_HEADER);
  return ea.length === eb.length && ea.every(([k, v], i) => eb[i]?.[0] === k && sameHeader(v, eb[i][1]));
}

function sameCorrelation(a: GatewayMessage['correlationId'], b: GatewayMessage['correlationId']): boolean {
  if (Buffer.isBuffer(a)) return Buffer.isBuffer(b) && a.equals(b);
  return !Buffer.isBuffer(b) && a === b;
}

/**
 * True when `m` carries every field an amqp10 sink writes from as `received` (the message its
 * received bytes decode to) has it: headers but the hop count, content type and encoding,
 * message and correlation id, reply-to, timestamp, priority, subject, user id, and the body
 * bytes. Expiry is left out: the sink writes the time left in any case (stampTtl).
 */
export function sameCanonical(m: GatewayMessage, received: GatewayMessage): boolean {
  return (
    m.contentType === received.contentType &&
    m.contentEncoding === received.contentEncoding &&
    m.messageId === received.messageId &&
    m.replyTo === received.replyTo &&
    m.timestamp === received.timestamp &&
    m.priority === received.priority &&
    m.subject === received.subject &&
    m.userId === received.userId &&
    m.guarantee === received.guarantee &&
    sameCorrelation(m.correlationId, received.correlationId) &&
    m.body.equals(received.body) &&
    sameHeaders(m.headers, received.headers)
  );
}
