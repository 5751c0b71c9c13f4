/**
 * AMQP 1.0 message ⇄ GatewayMessage. The table, field by field, is docs/mapping/amqp10.md.
 *
 * Between two AMQP 1.0 ends Ferry forwards the ENCODED message untouched (meta.amqp10.encoded):
 * decoding and re-encoding loses types and has crashed relays before. The canonical fields
 * are still filled so other protocols can use the message. The sink compares them with what the
 * received bytes decode to (./unchanged.ts) to tell whether a route changed the message (headers
 * set or removed, for example); only then is the message encoded again from the canonical fields.
 */
import { createMessage, FerryError, HOPS_HEADER, NO_HEADERS, headerToString, hopsOf, TypedNumber, type GatewayMessage, type HeaderValue, type Headers, type MessageSource } from '@ferry/core';
import { uuidToString, type AmqpValue } from './codec.js';
import { buildMessage, encodeApplicationProperties, encodeHeader, parseMessage, type HeaderSection, type OutgoingMessage, type ParsedMessage } from './sections.js';
import { sameCanonical } from './unchanged.js';
import { toAmqpValue, toHeaderValue } from './values.js';

/** What meta.amqp10 holds; every field is optional so other adapters may write a subset. */
export interface Amqp10Meta {
  /** the exact bytes of the transfer payload as received (§2.7.5), all sections */
  readonly encoded?: Buffer;
  /** the transfer's message-format (§2.7.5); 0 is the standard AMQP 1.0 format */
  readonly format?: number;
  readonly bodyType?: 'none' | 'data' | 'value-string' | 'value-binary' | 'value' | 'sequence' | 'opaque';
  /** number of data sections when more than one was concatenated into the body */
  readonly dataSections?: number;
  /** for bodyType value / sequence: the encoded body section(s), equal to the body */
  readonly bodySection?: Buffer;
  readonly durable?: boolean;
  /** the AMQP 1.0 priority, 0–255, when it was set */
  readonly priority?: number;
  readonly ttl?: number;
  /** the encoded size of the header section at the start of `encoded`, for re-stamping its ttl */
  readonly headerBytes?: number;
  readonly firstAcquirer?: boolean;
  readonly deliveryCount?: number;
  readonly to?: string;
  readonly messageIdType?: string;
  readonly correlationIdType?: string;
  readonly absoluteExpiryTime?: number;
  readonly groupId?: string;
  readonly groupSequence?: number;
  readonly replyToGroupId?: string;
  /** message-annotations decoded for reading (keys as strings) */
  readonly messageAnnotations?: Readonly<Record<string, HeaderValue>>;
  /** the encoded message-annotations section, restored by an amqp10 sink */
  readonly messageAnnotationsEncoded?: Buffer;
  readonly deliveryAnnotations?: Readonly<Record<string, HeaderValue>>;
  readonly footer?: Buffer;
  /**
   * where the application-properties section is in `encoded`, [start, end) (empty when absent):
   * two numbers, not a pair, so a message in flight keeps no array for them
   */
  readonly applicationPropertiesStart?: number;
  readonly applicationPropertiesEnd?: number;
  /** the hop count (core hops.ts) the message arrived with; undefined without the header */
  readonly hopsReceived?: number;
}

export interface IngressContext {
  readonly connector: string;
  /** the link's address (the source address for routing) */
  readonly address: string;
  /** the transfer was pre-settled (§2.7.5 settled): at-most-once */
  readonly presettled: boolean;
  readonly format: number;
  readonly now?: number;
}

/** Where a link's messages entered Ferry: one object per link, shared by its messages (their source is readonly). */
export function linkSource(connector: string, address: string): MessageSource {
  return { connector, protocol: 'amqp10', address };
}

function idToString(v: AmqpValue): string {
  switch (v.type) {
    case 'uuid':
      return uuidToString(v.value);
    case 'binary':
      return v.value.toString('utf8');
    case 'ulong':
    case 'string':
    case 'symbol':
      return String(v.value);
    default:
      return headerToString(toHeaderValue(v));
  }
}

function annotations(v: AmqpValue | undefined): Record<string, HeaderValue> | undefined {
  if (v === undefined) return undefined;
  const h = toHeaderValue(v);
  return typeof h === 'object' && h !== null && !Array.isArray(h) && !(h instanceof Uint8Array) && !(h instanceof Date) && !(h instanceof TypedNumber)
    ? (h as Record<string, HeaderValue>)
    : undefined;
}

/** Decode an encoded AMQP 1.0 message into the canonical message. Throws a permanent PROTOCOL_ERROR on bad input. */
export function toGatewayMessage(encoded: Buffer, ctx: IngressContext): GatewayMessage {
  return fromTransfer(encoded, linkSource(ctx.connector, ctx.address), ctx.presettled, ctx.format, ctx.now);
}

/**
 * {@link toGatewayMessage} for a transfer on a link whose `source` (./inbound.ts) its messages
 * share: what a receiving link calls for each transfer, with no context object made for it.
 */
export function fromTransfer(encoded: Buffer, source: MessageSource, presettled: boolean, format: number, now?: number): GatewayMessage {
  if (format !== 0) {
    // a non-standard message format (§2.7.5): the payload is opaque; only another AMQP 1.0
    // end with the same format can read it
    const meta = { encoded, format, bodyType: 'opaque' } satisfies Amqp10Meta;
    return createMessage({ body: encoded, source, guarantee: presettled ? 'at-most-once' : 'at-least-once', meta: { amqp10: meta } });
  }
  const p = parseMessage(encoded);
  return fromParsed(p, encoded, source, presettled, now ?? Date.now());
}

/** A message's body and what meta.amqp10 says of it (bodyType, and the encoded section or the count of data sections). */
interface BodyOf {
  readonly body: Buffer;
  readonly bodyType: NonNullable<Amqp10Meta['bodyType']>;
  readonly contentType?: string | undefined;
  readonly dataSections?: number;
  readonly bodySection?: Buffer;
}

function bodyOf(b: ParsedMessage['body']): BodyOf {
  switch (b.kind) {
    case 'none':
      return { body: Buffer.alloc(0), bodyType: 'none' };
    case 'data':
      return b.chunks.length === 1 ? { body: b.chunks[0] as Buffer, bodyType: 'data' } : { body: Buffer.concat(b.chunks), bodyType: 'data', dataSections: b.chunks.length };
    case 'value': {
      const v = b.value;
      if (v.type === 'string') return { body: Buffer.from(v.value, 'utf8'), bodyType: 'value-string', contentType: 'text/plain' };
      if (v.type === 'binary') return { body: v.value, bodyType: 'value-binary' };
      // any other amqp-value (a map, a number, a list...): the body is the encoded section,
      // descriptor 0x00 0x53 0x77 included, so an amqp10 sink can restore it exactly
      return { body: b.raw, bodyType: 'value', bodySection: b.raw };
    }
    case 'sequence':
      return { body: b.raw, bodyType: 'sequence', bodySection: b.raw };
  }
}

function fromParsed(p: ParsedMessage, encoded: Buffer, source: MessageSource, presettled: boolean, now: number): GatewayMessage {
  // the usual body, one data section, is taken without a BodyOf made for it
  const single = p.body.kind === 'data' && p.body.chunks.length === 1 ? p.body.chunks[0] : undefined;
  const b = single === undefined ? bodyOf(p.body) : undefined;
  const body = b === undefined ? (single as Buffer) : b.body;
  const at = p.applicationPropertiesAt;
  // every field a message usually has, in one literal: the object keeps them in itself (fields
  // added after it is made go to a second, out-of-object array)
  const meta: Record<string, unknown> = {
    encoded,
    format: 0,
    bodyType: b === undefined ? 'data' : b.bodyType,
    // rhea, for one, writes a header section (an empty list) before every message
    headerBytes: p.headerBytes,
    applicationPropertiesStart: at?.[0],
    applicationPropertiesEnd: at?.[1],
  };
  if (b?.dataSections !== undefined) meta.dataSections = b.dataSections;
  if (b?.bodySection !== undefined) meta.bodySection = b.bodySection;
  const contentType = p.properties?.contentType ?? b?.contentType;
  const h = p.header;
  if (h?.durable !== undefined) meta.durable = h.durable;
  if (h?.priority !== undefined) meta.priority = h.priority;
  if (h?.ttl !== undefined) meta.ttl = h.ttl;
  if (h?.firstAcquirer !== undefined) meta.firstAcquirer = h.firstAcquirer;
  if (h?.deliveryCount !== undefined) meta.deliveryCount = h.deliveryCount;
  const pr = p.properties ?? {};
  if (pr.to !== undefined) meta.to = pr.to;
  if (pr.messageId !== undefined) meta.messageIdType = pr.messageId.type;
  if (pr.correlationId !== undefined) meta.correlationIdType = pr.correlationId.type;
  if (pr.absoluteExpiryTime !== undefined) meta.absoluteExpiryTime = pr.absoluteExpiryTime;
  if (pr.groupId !== undefined) meta.groupId = pr.groupId;
  if (pr.groupSequence !== undefined) meta.groupSequence = pr.groupSequence;
  if (pr.replyToGroupId !== undefined) meta.replyToGroupId = pr.replyToGroupId;
  if (p.messageAnnotations !== undefined) {
    meta.messageAnnotations = annotations(p.messageAnnotations.value);
    meta.messageAnnotationsEncoded = p.messageAnnotations.raw;
  }
  if (p.deliveryAnnotations !== undefined) meta.deliveryAnnotations = annotations(p.deliveryAnnotations.value);
  if (p.footer !== undefined) meta.footer = p.footer.raw;

  const headers: Headers = new Map();
  for (const [k, v] of p.applicationProperties ?? []) headers.set(k, toHeaderValue(v));
  if (headers.has(HOPS_HEADER)) meta.hopsReceived = hopsOf(headers);

  // ttl is relative (§3.2.1): converted at ingress so time inside Ferry counts against it;
  // absolute-expiry-time (§3.2.4) is used when there is no ttl
  const expiresAt = h?.ttl !== undefined ? now + h.ttl : pr.absoluteExpiryTime;
  const correlationId = pr.correlationId === undefined ? undefined : pr.correlationId.type === 'binary' ? pr.correlationId.value : idToString(pr.correlationId);
  // through createMessage, which gives every message one shape whoever builds it
  return createMessage({
    body,
    // a transfer without application-properties keeps no map of its own while it is in flight
    headers: headers.size === 0 ? NO_HEADERS : headers,
    contentType,
    contentEncoding: pr.contentEncoding,
    messageId: pr.messageId === undefined ? undefined : idToString(pr.messageId),
    correlationId,
    replyTo: pr.replyTo,
    timestamp: pr.creationTime,
    expiresAt,
    // canonical priority is 0–9 (AMQP 0-9-1); the full 0–255 value stays in meta
    priority: h?.priority === undefined ? undefined : Math.min(h.priority, 9),
    subject: pr.subject,
    userId: pr.userId?.toString('utf8'),
    guarantee: presettled ? 'at-most-once' : 'at-least-once',
    source,
    meta: { amqp10: meta },
  });
}

function amqp10Meta(m: GatewayMessage): Amqp10Meta {
  return m.meta.amqp10 ?? {};
}

/**
 * The encoded message and its message-format, as an amqp10 sink sends it. `header`, when set,
 * describes the first section of `bytes` as it is: a sender puts `stampTtl(out, now)` on the
 * wire, never `bytes` itself, so the ttl is the time left when the transfer leaves.
 */
export interface Outgoing {
  readonly bytes: Buffer;
  readonly format: number;
  /** true when the bytes are the ones received (at most the header's ttl re-stamped) */
  readonly passThrough: boolean;
  /** the message's absolute expiry; a sink that holds the message drops it once passed */
  readonly expiresAt?: number | undefined;
  /**
   * The header section at the start of `bytes` when it carries a ttl: {@link stampTtl} writes
   * it again with the time left when the message actually leaves (AMQP 1.0 §3.2.1).
   */
  readonly header?: { readonly fields: HeaderSection; readonly bytes: number } | undefined;
}

/**
 * `out.bytes` with the header's ttl set to the time left at `now` (at least 1 ms). §3.2.1: an
 * intermediary that transmits a message received with a ttl SHOULD send the reduced ttl, so
 * messages die even in a delivery loop. Only the header section changes; every other section
 * (properties, application-properties, annotations, body) stays the bytes it was.
 */
export function stampTtl(out: Outgoing, now: number): Buffer {
  if (out.header === undefined || out.expiresAt === undefined) return out.bytes;
  const ttl = Math.max(1, Math.min(0xffffffff, Math.floor(out.expiresAt - now)));
  if (ttl === out.header.fields.ttl) return out.bytes;
  return Buffer.concat([encodeHeader({ ...out.header.fields, ttl }), out.bytes.subarray(out.header.bytes)]);
}

export interface EgressOptions {
  /** the address the message goes to (written as properties.to) */
  readonly to: string;
  readonly now?: number;
}

/** The message as an AMQP 1.0 sink sends it. */
export function toAmqp10(m: GatewayMessage, opts: EgressOptions): Outgoing {
  const meta = amqp10Meta(m);
  const now = opts.now ?? Date.now();
  if (Buffer.isBuffer(meta.encoded) && receivedUnchanged(m, meta, meta.encoded)) {
    // the header as received, when it has a ttl to count down (an opaque format has no sections)
    const header =
      meta.ttl !== undefined && meta.headerBytes !== undefined && (meta.format ?? 0) === 0
        ? { fields: receivedHeader(meta), bytes: meta.headerBytes }
        : undefined;
    // the bytes as received (the sender stamps the ttl when the transfer leaves, stampTtl), with
    // the hop count this passage added: loop protection must count AMQP 1.0 hops too
    return { bytes: withHopCount(m, meta), format: meta.format ?? 0, passThrough: true, expiresAt: m.expiresAt, header };
  }
  if (meta.format !== undefined && meta.format !== 0) {
    throw new FerryError('UNSUPPORTED', `an AMQP 1.0 message of format ${meta.format} cannot be changed by a route (its payload is opaque)`, { permanent: true });
  }
  const { bytes, header } = encodeCanonical(m, meta, now, opts);
  return { bytes, format: 0, passThrough: false, expiresAt: m.expiresAt, header };
}

/**
 * The received bytes with the application property `x-ferry-hops` set to the message's hop count
 * when a route changed it: only the application-properties section is written again (every other
 * property in it keeps its encoded type); every other section stays the bytes it was.
 */
function withHopCount(m: GatewayMessage, meta: Amqp10Meta): Buffer {
  const encoded = meta.encoded as Buffer;
  const start = meta.applicationPropertiesStart;
  const end = meta.applicationPropertiesEnd;
  if (!m.headers.has(HOPS_HEADER) || start === undefined || end === undefined || (meta.format ?? 0) !== 0) return encoded;
  const hops = hopsOf(m.headers);
  if (hops === meta.hopsReceived) return encoded;
  const entries = start < end ? [...(parseMessage(encoded.subarray(start, end)).applicationProperties ?? [])] : [];
  const value = toAmqpValue(hops, true);
  const i = entries.findIndex(([k]) => k === HOPS_HEADER);
  if (i >= 0) entries[i] = [HOPS_HEADER, value];
  else entries.push([HOPS_HEADER, value]);
  return Buffer.concat([encoded.subarray(0, start), encodeApplicationProperties(entries), encoded.subarray(end)]);
}

/**
 * Whether `m` is still the message `encoded` decodes to (./unchanged.ts): the bytes were received
 * and no route changed a field the sink writes from. Bytes that no longer decode are never sent.
 */
function receivedUnchanged(m: GatewayMessage, meta: Amqp10Meta, encoded: Buffer): boolean {
  let received: GatewayMessage;
  try {
    // the guarantee is the message's own (no route changes it); `now` only sets the expiry, which is not compared
    received = toGatewayMessage(encoded, { connector: m.source.connector, address: m.source.address, presettled: m.guarantee === 'at-most-once', format: meta.format ?? 0, now: 0 });
  } catch {
    return false;
  }
  return sameCanonical(m, received);
}

function receivedHeader(meta: Amqp10Meta): HeaderSection {
  const h: { -readonly [K in keyof HeaderSection]: HeaderSection[K] } = {};
  if (meta.durable !== undefined) h.durable = meta.durable;
  if (meta.priority !== undefined) h.priority = meta.priority;
  if (meta.ttl !== undefined) h.ttl = meta.ttl;
  if (meta.firstAcquirer !== undefined) h.firstAcquirer = meta.firstAcquirer;
  if (meta.deliveryCount !== undefined) h.deliveryCount = meta.deliveryCount;
  return h;
}

function messageIdValue(id: string, type: string | undefined): AmqpValue {
  // restore a ulong id that was one at ingress; every other id is written as a string
  if (type === 'ulong' && /^\d+$/.test(id)) return { type: 'ulong', value: BigInt(id) };
  return { type: 'string', value: id };
}

function encodeCanonical(m: GatewayMessage, meta: Amqp10Meta, now: number, opts: EgressOptions): { bytes: Buffer; header: Outgoing['header'] } {
  const ttl = m.expiresAt === undefined ? undefined : Math.max(1, Math.min(0xffffffff, Math.floor(m.expiresAt - now)));
  const priority = meta.priority ?? m.priority;
  const header: HeaderSection = {
    // durable: what the AMQP 1.0 sender said, else at-least-once messages are durable
    durable: meta.durable ?? m.guarantee === 'at-least-once',
    ...(priority === undefined ? {} : { priority: Math.max(0, Math.min(255, Math.round(priority))) }),
    ...(ttl === undefined ? {} : { ttl }),
  };
  const headerSection = encodeHeader(header);
  const out: OutgoingMessage = {
    header: headerSection,
    ...(meta.messageAnnotationsEncoded === undefined ? {} : { messageAnnotationsRaw: meta.messageAnnotationsEncoded }),
    properties: {
      ...(m.messageId === undefined ? {} : { messageId: messageIdValue(m.messageId, meta.messageIdType) }),
      // user-id is not written: brokers check it against the authenticated user (§3.2.4), and
      // Ferry authenticates as itself, so a forwarded user-id would be refused
      to: opts.to,
      ...(m.subject === undefined ? {} : { subject: m.subject }),
      ...(m.replyTo === undefined ? {} : { replyTo: m.replyTo }),
      ...(m.correlationId === undefined
        ? {}
        : { correlationId: Buffer.isBuffer(m.correlationId) ? { type: 'binary', value: m.correlationId } : messageIdValue(m.correlationId, meta.correlationIdType) }),
      ...(m.contentType === undefined ? {} : { contentType: m.contentType }),
      ...(m.contentEncoding === undefined ? {} : { contentEncoding: m.contentEncoding }),
      ...(m.expiresAt === undefined ? {} : { absoluteExpiryTime: m.expiresAt }),
      ...(m.timestamp === undefined ? {} : { creationTime: m.timestamp }),
      ...(meta.groupId === undefined ? {} : { groupId: meta.groupId }),
      ...(meta.groupSequence === undefined ? {} : { groupSequence: meta.groupSequence }),
      ...(meta.replyToGroupId === undefined ? {} : { replyToGroupId: meta.replyToGroupId }),
    },
    applicationProperties: [...m.headers].map(([k, v]) => [k, toAmqpValue(v, true)] as const),
    body:
      // an amqp-value / amqp-sequence body that is still the section it came as goes back as
      // that section; everything else is ONE data section with the exact bytes (never an
      // amqp-value: RabbitMQ hands an amqp-value string to 0-9-1 consumers AMQP-encoded)
      (meta.bodyType === 'value' || meta.bodyType === 'sequence') && Buffer.isBuffer(meta.bodySection) && meta.bodySection.equals(m.body)
        ? { kind: 'raw', raw: meta.bodySection }
        : { kind: 'data', bytes: m.body },
  };
  // the header is the first section buildMessage writes: its size lets stampTtl replace it
  return { bytes: buildMessage(out), header: ttl === undefined ? undefined : { fields: header, bytes: headerSection.length } };
}
