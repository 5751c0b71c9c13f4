/**
 * The sections of an AMQP 1.0 message (AMQP 1.0 §3.2, "Message Format"): an annotated message
 * is header, delivery-annotations, message-annotations, properties, application-properties,
 * a body (one or more data sections, one or more amqp-sequence sections, or one amqp-value
 * section) and a footer, each a described type, in that order.
 *
 * `parseMessage` keeps each section's typed value AND the exact bytes it was encoded as, so
 * sections Ferry does not interpret (annotations, a non-binary amqp-value) can travel on
 * unchanged. `buildMessage` writes the sections back.
 */
import { FerryError } from '@ferry/core';
import { Decoder, descriptorCode, described, encode, NULL, type AmqpValue } from './codec.js';
import { dataSectionEnd, dataSectionStart } from './data-section.js';

const SECTION = {
  header: 0x70,
  deliveryAnnotations: 0x71,
  messageAnnotations: 0x72,
  properties: 0x73,
  applicationProperties: 0x74,
  data: 0x75,
  sequence: 0x76,
  value: 0x77,
  footer: 0x78,
} as const;

export interface HeaderSection {
  readonly durable?: boolean;
  /** 0–255 (§3.2.1), default 4 */
  readonly priority?: number;
  /** ms (§3.2.1) */
  readonly ttl?: number;
  readonly firstAcquirer?: boolean;
  readonly deliveryCount?: number;
}

interface PropertiesSection {
  readonly messageId?: AmqpValue;
  readonly userId?: Buffer;
  readonly to?: string;
  readonly subject?: string;
  readonly replyTo?: string;
  readonly correlationId?: AmqpValue;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  /** ms since the epoch */
  readonly absoluteExpiryTime?: number;
  readonly creationTime?: number;
  readonly groupId?: string;
  readonly groupSequence?: number;
  readonly replyToGroupId?: string;
}

/** A section whose bytes are kept as they came. */
interface RawSection {
  /** the whole described section, descriptor included */
  readonly raw: Buffer;
  readonly value: AmqpValue;
}

type Body =
  | { readonly kind: 'none' }
  | { readonly kind: 'data'; readonly chunks: readonly Buffer[] }
  /** one amqp-value section (§3.2.8) */
  | { readonly kind: 'value'; readonly value: AmqpValue; readonly raw: Buffer }
  /** one or more amqp-sequence sections (§3.2.7); `raw` is all of them, back to back */
  | { readonly kind: 'sequence'; readonly raw: Buffer };

export interface ParsedMessage {
  readonly header?: HeaderSection;
  /** the encoded size of the header section when it is the message's first section (§3.2) */
  readonly headerBytes?: number;
  readonly deliveryAnnotations?: RawSection;
  readonly messageAnnotations?: RawSection;
  readonly properties?: PropertiesSection;
  /** in wire order; keys are strings (§3.2.5) */
  readonly applicationProperties?: readonly (readonly [string, AmqpValue])[];
  /**
   * Where the application-properties section is in the bytes, [start, end): when there is none,
   * the empty span where §3.2's order puts it (before the body and footer).
   */
  readonly applicationPropertiesAt?: readonly [number, number];
  readonly body: Body;
  readonly footer?: RawSection;
}

function protocolError(message: string): FerryError {
  return new FerryError('PROTOCOL_ERROR', `AMQP 1.0 message: ${message}`, { permanent: true, details: { condition: 'amqp:decode-error' } });
}

function field(list: readonly AmqpValue[], i: number): AmqpValue | undefined {
  const v = list[i];
  return v === undefined || v.type === 'null' ? undefined : v;
}

function asBool(v: AmqpValue | undefined): boolean | undefined {
  return v?.type === 'boolean' ? v.value : undefined;
}

function asNumber(v: AmqpValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v.type === 'ubyte' || v.type === 'ushort' || v.type === 'uint' || v.type === 'int' || v.type === 'short' || v.type === 'byte') return v.value;
  if (v.type === 'ulong' || v.type === 'long' || v.type === 'timestamp') return Number(v.value);
  return undefined;
}

function asString(v: AmqpValue | undefined): string | undefined {
  return v?.type === 'string' || v?.type === 'symbol' ? v.value : undefined;
}

function asList(v: AmqpValue, what: string): readonly AmqpValue[] {
  if (v.type !== 'list') throw protocolError(`${what} is a ${v.type}, expected a list`);
  return v.value;
}

function parseHeader(v: AmqpValue): HeaderSection {
  const l = asList(v, 'header');
  const h: { -readonly [K in keyof HeaderSection]: HeaderSection[K] } = {};
  const durable = asBool(field(l, 0));
  if (durable !== undefined) h.durable = durable;
  const priority = asNumber(field(l, 1));
  if (priority !== undefined) h.priority = priority;
  const ttl = asNumber(field(l, 2));
  if (ttl !== undefined) h.ttl = ttl;
  const fa = asBool(field(l, 3));
  if (fa !== undefined) h.firstAcquirer = fa;
  const dc = asNumber(field(l, 4));
  if (dc !== undefined) h.deliveryCount = dc;
  return h;
}

function parseProperties(v: AmqpValue): PropertiesSection {
  const l = asList(v, 'properties');
  const p: { -readonly [K in keyof PropertiesSection]: PropertiesSection[K] } = {};
  const set = <K extends keyof PropertiesSection>(k: K, x: PropertiesSection[K] | undefined): void => {
    if (x !== undefined) p[k] = x;
  };
  set('messageId', field(l, 0));
  const uid = field(l, 1);
  set('userId', uid?.type === 'binary' ? uid.value : undefined);
  set('to', asString(field(l, 2)));
  set('subject', asString(field(l, 3)));
  set('replyTo', asString(field(l, 4)));
  set('correlationId', field(l, 5));
  set('contentType', asString(field(l, 6)));
  set('contentEncoding', asString(field(l, 7)));
  set('absoluteExpiryTime', asNumber(field(l, 8)));
  set('creationTime', asNumber(field(l, 9)));
  set('groupId', asString(field(l, 10)));
  set('groupSequence', asNumber(field(l, 11)));
  set('replyToGroupId', asString(field(l, 12)));
  return p;
}

function parseApplicationProperties(v: AmqpValue): (readonly [string, AmqpValue])[] {
  if (v.type !== 'map') throw protocolError(`application-properties is a ${v.type}, expected a map`);
  return v.value.map(([k, x]) => {
    // §3.2.5: the keys are strings
    if (k.type !== 'string' && k.type !== 'symbol') throw protocolError(`application-properties key of type ${k.type}`);
    return [k.value, x] as const;
  });
}

/** A header or properties section with no field set: one object, never changed (its fields are readonly). */
const NO_FIELDS: HeaderSection & PropertiesSection = Object.freeze({});

/** The body of a message before any body section is read: one object, never changed. */
const NO_BODY: Body = Object.freeze({ kind: 'none' });

/**
 * Split an encoded message (the payload of a transfer, §2.7.5) into its sections. The sections
 * senders write most (a header or properties as an empty list, data sections) are read here from
 * the bytes; a Decoder is made only for a section that needs it.
 */
export function parseMessage(bytes: Buffer): ParsedMessage {
  // every field in one literal: the object gets its shape once, not one change per section read
  const out: {
    header: HeaderSection | undefined;
    headerBytes: number | undefined;
    deliveryAnnotations: RawSection | undefined;
    messageAnnotations: RawSection | undefined;
    properties: PropertiesSection | undefined;
    applicationProperties: (readonly [string, AmqpValue])[] | undefined;
    applicationPropertiesAt: readonly [number, number] | undefined;
    body: Body;
    footer: RawSection | undefined;
  } = { header: undefined, headerBytes: undefined, deliveryAnnotations: undefined, messageAnnotations: undefined, properties: undefined, applicationProperties: undefined, applicationPropertiesAt: undefined, body: NO_BODY, footer: undefined };
  let data: Buffer[] | undefined;
  let sequences: Buffer[] | undefined;
  let d: Decoder | undefined;
  let pos = 0;
  while (pos < bytes.length) {
    const start = pos;
    const dataEnd = dataSectionEnd(bytes, start, bytes.length);
    if (dataEnd >= 0) {
      // a data section (§3.2.6) in the encoding senders write: the binary is a view of the bytes,
      // no value objects made for it; the same checks as below
      if (out.body.kind !== 'none' && out.body.kind !== 'data') throw protocolError('data section after another body kind');
      data ??= [];
      data.push(bytes.subarray(dataSectionStart(bytes, start), dataEnd));
      if (out.body.kind === 'none') out.body = { kind: 'data', chunks: data };
      out.applicationPropertiesAt ??= [start, start];
      pos = dataEnd;
      continue;
    }
    if (start + 4 <= bytes.length && bytes[start] === 0x00 && bytes[start + 1] === 0x53 && bytes[start + 3] === 0x45) {
      // a header or properties section as an empty list (list0, §1.6.22), as rhea writes them
      // for a message without those fields: every field absent
      const code = bytes[start + 2];
      if (code === SECTION.header || code === SECTION.properties) {
        if (code === SECTION.properties) out.properties = NO_FIELDS;
        else {
          out.header = NO_FIELDS;
          if (start === 0) out.headerBytes = 4;
        }
        pos = start + 4;
        continue;
      }
    }
    d ??= new Decoder(bytes);
    d.skipTo(start);
    const s = d.read();
    pos = d.position;
    if (s.type !== 'described') throw protocolError(`expected a described section at byte ${start}, got a ${s.type}`);
    const code = descriptorCode(s.descriptor);
    const v = s.value;
    switch (code) {
      case SECTION.header:
        out.header = parseHeader(v);
        if (start === 0) out.headerBytes = pos;
        break;
      case SECTION.deliveryAnnotations:
        out.deliveryAnnotations = { raw: bytes.subarray(start, pos), value: v };
        break;
      case SECTION.messageAnnotations:
        out.messageAnnotations = { raw: bytes.subarray(start, pos), value: v };
        break;
      case SECTION.properties:
        out.properties = parseProperties(v);
        break;
      case SECTION.applicationProperties:
        out.applicationProperties = parseApplicationProperties(v);
        out.applicationPropertiesAt = [start, pos];
        break;
      case SECTION.data:
        if (v.type !== 'binary') throw protocolError(`data section holds a ${v.type}, expected binary`);
        if (out.body.kind !== 'none' && out.body.kind !== 'data') throw protocolError('data section after another body kind');
        data ??= [];
        data.push(v.value);
        out.body = { kind: 'data', chunks: data };
        break;
      case SECTION.sequence:
        if (out.body.kind !== 'none' && out.body.kind !== 'sequence') throw protocolError('amqp-sequence section after another body kind');
        sequences ??= [];
        sequences.push(bytes.subarray(start, pos));
        out.body = { kind: 'sequence', raw: Buffer.concat(sequences) };
        break;
      case SECTION.value:
        if (out.body.kind !== 'none') throw protocolError('more than one body section with an amqp-value');
        out.body = { kind: 'value', value: v, raw: bytes.subarray(start, pos) };
        break;
      case SECTION.footer:
        out.footer = { raw: bytes.subarray(start, pos), value: v };
        break;
      default:
        throw protocolError(`unknown section descriptor at byte ${start}`);
    }
    // the body and footer follow the application-properties (§3.2): without that section, it goes here
    const afterProperties = code === SECTION.data || code === SECTION.sequence || code === SECTION.value || code === SECTION.footer;
    if (afterProperties && out.applicationPropertiesAt === undefined) out.applicationPropertiesAt = [start, start];
  }
  out.applicationPropertiesAt ??= [bytes.length, bytes.length];
  return out;
}

export interface OutgoingMessage {
  /** the encoded header section ({@link encodeHeader}), written first */
  readonly header?: Buffer;
  /** an encoded message-annotations section, written as is */
  readonly messageAnnotationsRaw?: Buffer;
  readonly properties: PropertiesSection;
  readonly applicationProperties: readonly (readonly [string, AmqpValue])[];
  /** `data`: one data section (§3.2.6); `raw`: encoded body sections written as is */
  readonly body: { readonly kind: 'data'; readonly bytes: Buffer } | { readonly kind: 'raw'; readonly raw: Buffer };
}

/** A composite's list with trailing nulls dropped (§1.4: absent trailing fields may be omitted). */
function trimmed(fields: AmqpValue[]): AmqpValue {
  let n = fields.length;
  while (n > 0 && fields[n - 1]?.type === 'null') n--;
  return { type: 'list', value: fields.slice(0, n) };
}

const opt = <T>(x: T | undefined, f: (x: T) => AmqpValue): AmqpValue => (x === undefined ? NULL : f(x));

/** The header section (§3.2.1): its five fields with their types, absent ones as null (their defaults). */
export function encodeHeader(h: HeaderSection): Buffer {
  return encode(
    described(
      SECTION.header,
      trimmed([
        opt(h.durable, (value) => ({ type: 'boolean', value })),
        opt(h.priority, (value) => ({ type: 'ubyte', value })),
        opt(h.ttl, (value) => ({ type: 'uint', value })),
        opt(h.firstAcquirer, (value) => ({ type: 'boolean', value })),
        opt(h.deliveryCount, (value) => ({ type: 'uint', value })),
      ]),
    ),
  );
}

/** The application-properties section (§3.2.5): a map with string keys. */
export function encodeApplicationProperties(entries: readonly (readonly [string, AmqpValue])[]): Buffer {
  return encode(described(SECTION.applicationProperties, { type: 'map', value: entries.map(([k, v]) => [{ type: 'string', value: k }, v] as const) }));
}

/** Encode a message, sections in the order §3.2 requires. */
export function buildMessage(m: OutgoingMessage): Buffer {
  const parts: Buffer[] = [];
  if (m.header !== undefined) parts.push(m.header);
  if (m.messageAnnotationsRaw !== undefined) parts.push(m.messageAnnotationsRaw);
  const p = m.properties;
  const s = (value: string): AmqpValue => ({ type: 'string', value });
  const sy = (value: string): AmqpValue => ({ type: 'symbol', value });
  const ts = (ms: number): AmqpValue => ({ type: 'timestamp', value: BigInt(Math.trunc(ms)) });
  const props = trimmed([
    p.messageId ?? NULL,
    opt(p.userId, (value) => ({ type: 'binary', value })),
    opt(p.to, s),
    opt(p.subject, s),
    opt(p.replyTo, s),
    p.correlationId ?? NULL,
    opt(p.contentType, sy),
    opt(p.contentEncoding, sy),
    opt(p.absoluteExpiryTime, ts),
    opt(p.creationTime, ts),
    opt(p.groupId, s),
    opt(p.groupSequence, (value) => ({ type: 'uint', value })),
    opt(p.replyToGroupId, s),
  ]);
  if (props.type === 'list' && props.value.length > 0) parts.push(encode(described(SECTION.properties, props)));
  if (m.applicationProperties.length > 0) parts.push(encodeApplicationProperties(m.applicationProperties));
  if (m.body.kind === 'data') parts.push(encode(described(SECTION.data, { type: 'binary', value: m.body.bytes })));
  else parts.push(m.body.raw);
  return Buffer.concat(parts);
}
