import { randomBytes } from 'node:crypto';
import type { Headers, ReadonlyHeaders } from './headers.js';

/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/, the Recommendation, version 00): the
 * `traceparent` and `tracestate` headers travel with a message in each protocol's application
 * headers (MQTT 5 user properties, AMQP 0-9-1 headers, AMQP 1.0 application-properties, STOMP
 * headers), so one trace follows it device → Ferry → broker → Ferry → consumer. Names are
 * lower case, as §3.2 and §3.3 write them.
 */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

export interface TraceParent {
  readonly version: string;
  /** 32 lower-case hex digits, not all zero */
  readonly traceId: string;
  /** 16 lower-case hex digits, not all zero */
  readonly parentId: string;
  readonly flags: string;
}

// §3.2: version-traceid-parentid-flags; a later version may append fields after a '-' (§3.2.4)
const FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO = /^0+$/;

/** Parse a `traceparent` value; undefined when it is not valid (§3.2.2 – §3.2.4). */
export function parseTraceParent(value: string): TraceParent | undefined {
  const m = FORMAT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, parentId, flags, more] = m as unknown as [string, string, string, string, string, string | undefined];
  // §3.2.2.1: version ff is invalid, and version 00 has exactly four fields
  if (version === 'ff' || (version === '00' && more !== undefined)) return undefined;
  // §3.2.2.3, §3.2.2.4: an all-zero trace-id or parent-id is invalid
  if (ZERO.test(traceId) || ZERO.test(parentId)) return undefined;
  return { version, traceId, parentId, flags };
}

/** A new `traceparent` (version 00, random trace-id and parent-id), sampled or not (§3.2.2.5). */
export function newTraceParent(sampled: boolean, random: (n: number) => Buffer = randomBytes): string {
  let traceId = random(16).toString('hex');
  let parentId = random(8).toString('hex');
  // the odds are 2^-128 and 2^-64, but an all-zero id is invalid and must not be sent
  if (ZERO.test(traceId)) traceId = '00000000000000000000000000000001';
  if (ZERO.test(parentId)) parentId = '0000000000000001';
  return `00-${traceId}-${parentId}-${sampled ? '01' : '00'}`;
}

/**
 * The headers of a message that Ferry starts a trace for when it carries none: a valid
 * `traceparent` is kept as it is (Ferry records no span of its own, so it does not claim to be
 * the parent); a missing or invalid one is replaced by a new trace, and `tracestate` is then
 * dropped, since it belongs to the trace that was not understood (§3.3.1: a vendor that cannot
 * parse traceparent MUST NOT use tracestate). Returns `headers` itself when nothing changes.
 */
export function startTrace(headers: ReadonlyHeaders, sampled: boolean, random?: (n: number) => Buffer): ReadonlyHeaders {
  const v = headers.get(TRACEPARENT);
  if (typeof v === 'string' && parseTraceParent(v) !== undefined) return headers;
  const out: Headers = new Map(headers);
  out.delete(TRACESTATE);
  out.set(TRACEPARENT, newTraceParent(sampled, random));
  return out;
}
