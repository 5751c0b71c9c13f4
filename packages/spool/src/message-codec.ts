import {
  FerryError,
  createMessage,
  NO_HEADERS,
  TypedNumber,
  type DeliveryGuarantee,
  type GatewayMessage,
  type Headers,
  type MessageSource,
  type NumericType,
  type Protocol,
} from '@ferry/core';

/**
 * A lossless binary form of a {@link GatewayMessage}, for keeping messages outside the process
 * (the durable spool). It is not a wire format: nothing outside Ferry reads it.
 *
 * Why not JSON: the body is bytes and must stay bytes (a JSON/base64 wrapper costs a third more
 * space and a re-encode), and header values carry types JSON has no words for (bigint, binary,
 * timestamps, AMQP's ubyte/short/... via TypedNumber, Map order). Every value is written with a
 * one-byte tag, so what comes back is the same JavaScript type that went in.
 *
 * Layout (all integers big-endian):
 *
 * ```
 * u8  version (= 1)
 * then field records until the end:  u8 field id, value
 * value = u8 tag, payload (see Tag)
 * ```
 *
 * Field ids are stable; a new optional field of the canonical message gets a new id, and a
 * decoder that meets an id it does not know fails loudly (CODEC_VERSION below is bumped
 * whenever an old decoder could misread a new record).
 */
export const CODEC_VERSION = 1;

/** A message as kept outside the process, with where it was going. */
export interface MessageEnvelope {
  readonly message: GatewayMessage;
  /** the sink's rendered `to` fields (templates filled) */
  readonly to?: Readonly<Record<string, unknown>> | undefined;
  /** the route that produced this destination, for logs */
  readonly route?: string | undefined;
}

const Field = {
  Body: 1,
  Headers: 2,
  ContentType: 3,
  ContentEncoding: 4,
  MessageId: 5,
  CorrelationId: 6,
  ReplyTo: 7,
  Timestamp: 8,
  ExpiresAt: 9,
  Priority: 10,
  Guarantee: 11,
  Retain: 12,
  Subject: 13,
  UserId: 14,
  Source: 15,
  Meta: 16,
  To: 17,
  Route: 18,
} as const;
type Field = (typeof Field)[keyof typeof Field];

const Tag = {
  Undefined: 0,
  Null: 1,
  False: 2,
  True: 3,
  /** u32 length, UTF-8 */
  String: 4,
  /** float64: keeps -0, NaN and ±Infinity */
  Number: 5,
  /** u32 length, signed decimal text: any size */
  BigInt: 6,
  /** u32 length, bytes; decodes to a Buffer */
  Buffer: 7,
  /** u32 length, bytes; decodes to a plain Uint8Array (not a Buffer) */
  Bytes: 8,
  /** float64 ms since the epoch (NaN for an invalid Date) */
  Date: 9,
  /** u8 index into NUMERIC_TYPES, then a Number or BigInt value */
  TypedNumber: 10,
  /** u32 count, values */
  Array: 11,
  /** u32 count, (String key, value) pairs: a plain object (HeaderTable, meta record) */
  Object: 12,
  /** u32 count, (value key, value) pairs: a Map, in insertion order (Headers) */
  Map: 13,
} as const;
type Tag = (typeof Tag)[keyof typeof Tag];

const NUMERIC_TYPES: readonly NumericType[] = ['byte', 'ubyte', 'short', 'ushort', 'int', 'uint', 'long', 'ulong', 'float', 'double', 'decimal'];
const PROTOCOLS: readonly Protocol[] = ['mqtt', 'amqp091', 'amqp10', 'stomp'];
/** nesting beyond this is refused: a cycle or a hostile structure must not blow the stack */
const MAX_DEPTH = 64;

function codecError(message: string, cause?: unknown): FerryError {
  return new FerryError('UNSUPPORTED', `message codec: ${message}`, { permanent: true, ...(cause === undefined ? {} : { cause }) });
}

/** Grows a list of chunks; one copy at the end. */
class Writer {
  readonly #chunks: Buffer[] = [];
  #size = 0;

  raw(b: Buffer): void {
    this.#chunks.push(b);
    this.#size += b.length;
  }

  u8(n: number): void {
    this.raw(Buffer.from([n]));
  }

  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    this.raw(b);
  }

  f64(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(n);
    this.raw(b);
  }

  bytes(b: Uint8Array): void {
    this.u32(b.byteLength);
    this.raw(Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  text(s: string): void {
    this.bytes(Buffer.from(s, 'utf8'));
  }

  finish(): Buffer {
    return Buffer.concat(this.#chunks, this.#size);
  }
}

class Reader {
  #pos = 0;
  constructor(readonly buf: Buffer) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  #need(n: number): void {
    if (this.#pos + n > this.buf.length) throw codecError(`truncated input: need ${n} bytes at offset ${this.#pos}, ${this.buf.length - this.#pos} left`);
  }

  u8(): number {
    this.#need(1);
    return this.buf[this.#pos++] as number;
  }

  u32(): number {
    this.#need(4);
    const n = this.buf.readUInt32BE(this.#pos);
    this.#pos += 4;
    return n;
  }

  f64(): number {
    this.#need(8);
    const n = this.buf.readDoubleBE(this.#pos);
    this.#pos += 8;
    return n;
  }

  /** a copy: the decoded message must not pin (or alias) the store's buffer */
  bytes(): Buffer {
    const n = this.u32();
    this.#need(n);
    const out = Buffer.from(this.buf.subarray(this.#pos, this.#pos + n));
    this.#pos += n;
    return out;
  }

  text(): string {
    const n = this.u32();
    this.#need(n);
    const s = this.buf.toString('utf8', this.#pos, this.#pos + n);
    this.#pos += n;
    return s;
  }
}

function writeValue(w: Writer, v: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw codecError(`values nested deeper than ${MAX_DEPTH}`);
  if (v === undefined) return w.u8(Tag.Undefined);
  if (v === null) return w.u8(Tag.Null);
  switch (typeof v) {
    case 'boolean':
      return w.u8(v ? Tag.True : Tag.False);
    case 'string':
      w.u8(Tag.String);
      return w.text(v);
    case 'number':
      w.u8(Tag.Number);
      return w.f64(v);
    case 'bigint':
      w.u8(Tag.BigInt);
      return w.text(v.toString());
    case 'object':
      break;
    default:
      throw codecError(`cannot keep a value of type ${typeof v}`);
  }
  if (Buffer.isBuffer(v)) {
    w.u8(Tag.Buffer);
    return w.bytes(v);
  }
  if (v instanceof Uint8Array) {
    w.u8(Tag.Bytes);
    return w.bytes(v);
  }
  if (v instanceof Date) {
    w.u8(Tag.Date);
    return w.f64(v.getTime());
  }
  if (v instanceof TypedNumber) {
    const i = NUMERIC_TYPES.indexOf(v.type);
    if (i < 0) throw codecError(`unknown numeric type ${JSON.stringify(v.type)}`);
    w.u8(Tag.TypedNumber);
    w.u8(i);
    return writeValue(w, v.value, depth + 1);
  }
  if (Array.isArray(v)) {
    w.u8(Tag.Array);
    w.u32(v.length);
    for (const x of v as readonly unknown[]) writeValue(w, x, depth + 1);
    return;
  }
  if (v instanceof Map) {
    w.u8(Tag.Map);
    w.u32(v.size);
    for (const [k, x] of v as Map<unknown, unknown>) {
      writeValue(w, k, depth + 1);
      writeValue(w, x, depth + 1);
    }
    return;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
    throw codecError(`cannot keep an instance of ${typeof name === 'string' ? name : 'an unknown class'}`);
  }
  const entries = Object.entries(v as Record<string, unknown>);
  w.u8(Tag.Object);
  w.u32(entries.length);
  for (const [k, x] of entries) {
    w.text(k);
    writeValue(w, x, depth + 1);
  }
}

function readValue(r: Reader, depth: number): unknown {
  if (depth > MAX_DEPTH) throw codecError(`values nested deeper than ${MAX_DEPTH}`);
  const tag = r.u8();
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.String:
      return r.text();
    case Tag.Number:
      return r.f64();
    case Tag.BigInt: {
      const s = r.text();
      try {
        return BigInt(s);
      } catch (err) {
        throw codecError(`bad bigint ${JSON.stringify(s)}`, err);
      }
    }
    case Tag.Buffer:
      return r.bytes();
    case Tag.Bytes: {
      const b = r.bytes();
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case Tag.Date:
      return new Date(r.f64());
    case Tag.TypedNumber: {
      const type = NUMERIC_TYPES[r.u8()];
      if (type === undefined) throw codecError('unknown numeric type index');
      const value = readValue(r, depth + 1);
      if (typeof value !== 'number' && typeof value !== 'bigint') throw codecError(`a ${type} holds a ${typeof value}`);
      return new TypedNumber(type, value);
    }
    case Tag.Array: {
      const n = r.u32();
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(readValue(r, depth + 1));
      return out;
    }
    case Tag.Map: {
      const n = r.u32();
      const out = new Map<unknown, unknown>();
      for (let i = 0; i < n; i++) {
        const k = readValue(r, depth + 1);
        out.set(k, readValue(r, depth + 1));
      }
      return out;
    }
    case Tag.Object: {
      const n = r.u32();
      // no prototype games: a key "__proto__" is an own property like any other
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = r.text();
        Object.defineProperty(out, k, { value: readValue(r, depth + 1), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    default:
      throw codecError(`unknown value tag ${tag}`);
  }
}

function field(w: Writer, id: Field, v: unknown): void {
  if (v === undefined) return;
  w.u8(id);
  writeValue(w, v, 0);
}

/**
 * Encode a message (and where it was going) into one Buffer. The body is copied in raw.
 * Throws FerryError UNSUPPORTED (permanent) for a value it cannot keep exactly (a function,
 * a class instance other than Buffer/Uint8Array/Date/TypedNumber/Map, nesting deeper than 64).
 */
export function encodeMessage(env: MessageEnvelope): Buffer {
  const m = env.message;
  const w = new Writer();
  w.u8(CODEC_VERSION);
  // the body first and as raw bytes (Tag.Buffer): never JSON, never re-encoded
  field(w, Field.Body, m.body);
  field(w, Field.Headers, m.headers);
  field(w, Field.ContentType, m.contentType);
  field(w, Field.ContentEncoding, m.contentEncoding);
  field(w, Field.MessageId, m.messageId);
  field(w, Field.CorrelationId, m.correlationId);
  field(w, Field.ReplyTo, m.replyTo);
  field(w, Field.Timestamp, m.timestamp);
  field(w, Field.ExpiresAt, m.expiresAt);
  field(w, Field.Priority, m.priority);
  field(w, Field.Guarantee, m.guarantee);
  field(w, Field.Retain, m.retain);
  field(w, Field.Subject, m.subject);
  field(w, Field.UserId, m.userId);
  field(w, Field.Source, { connector: m.source.connector, protocol: m.source.protocol, address: m.source.address });
  field(w, Field.Meta, m.meta);
  field(w, Field.To, env.to);
  field(w, Field.Route, env.route);
  return w.finish();
}

function must<T>(v: unknown, check: (x: unknown) => x is T, what: string): T {
  if (!check(v)) throw codecError(`field ${what} has the wrong type`);
  return v;
}

const isString = (x: unknown): x is string => typeof x === 'string';
const isNumber = (x: unknown): x is number => typeof x === 'number';
const isBoolean = (x: unknown): x is boolean => typeof x === 'boolean';
const isBuffer = (x: unknown): x is Buffer => Buffer.isBuffer(x);
const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x) && Object.getPrototypeOf(x) === Object.prototype;
const isHeaders = (x: unknown): x is Headers => x instanceof Map && [...x.keys()].every(isString);
const isGuarantee = (x: unknown): x is DeliveryGuarantee => x === 'at-least-once' || x === 'at-most-once';
const isCorrelation = (x: unknown): x is string | Buffer => isString(x) || isBuffer(x);
const isSource = (x: unknown): x is MessageSource =>
  isRecord(x) && isString(x['connector']) && isString(x['address']) && PROTOCOLS.includes(x['protocol'] as Protocol);

/** Decode what {@link encodeMessage} wrote. Throws FerryError UNSUPPORTED on anything else. */
export function decodeMessage(buf: Buffer): MessageEnvelope {
  const r = new Reader(buf);
  const version = r.u8();
  if (version !== CODEC_VERSION) throw codecError(`unknown format version ${version} (this build reads ${CODEC_VERSION})`);
  const m: { -readonly [K in keyof GatewayMessage]?: GatewayMessage[K] } = {};
  let to: Record<string, unknown> | undefined;
  let route: string | undefined;
  while (!r.done) {
    const id = r.u8() as Field;
    const v = readValue(r, 0);
    switch (id) {
      case Field.Body:
        m.body = must(v, isBuffer, 'body');
        break;
      case Field.Headers: {
        const headers = must(v, isHeaders, 'headers');
        // a replayed message without headers shares the one empty map, as a received one does
        m.headers = headers.size === 0 ? NO_HEADERS : headers;
        break;
      }
      case Field.ContentType:
        m.contentType = must(v, isString, 'contentType');
        break;
      case Field.ContentEncoding:
        m.contentEncoding = must(v, isString, 'contentEncoding');
        break;
      case Field.MessageId:
        m.messageId = must(v, isString, 'messageId');
        break;
      case Field.CorrelationId:
        m.correlationId = must(v, isCorrelation, 'correlationId');
        break;
      case Field.ReplyTo:
        m.replyTo = must(v, isString, 'replyTo');
        break;
      case Field.Timestamp:
        m.timestamp = must(v, isNumber, 'timestamp');
        break;
      case Field.ExpiresAt:
        m.expiresAt = must(v, isNumber, 'expiresAt');
        break;
      case Field.Priority:
        m.priority = must(v, isNumber, 'priority');
        break;
      case Field.Guarantee:
        m.guarantee = must(v, isGuarantee, 'guarantee');
        break;
      case Field.Retain:
        m.retain = must(v, isBoolean, 'retain');
        break;
      case Field.Subject:
        m.subject = must(v, isString, 'subject');
        break;
      case Field.UserId:
        m.userId = must(v, isString, 'userId');
        break;
      case Field.Source:
        m.source = must(v, isSource, 'source');
        break;
      case Field.Meta:
        m.meta = must(v, isRecord, 'meta');
        break;
      case Field.To:
        to = must(v, isRecord, 'to');
        break;
      case Field.Route:
        route = must(v, isString, 'route');
        break;
      default:
        throw codecError(`unknown field id ${String(id)}`);
    }
  }
  if (m.body === undefined || m.source === undefined || m.guarantee === undefined || m.retain === undefined) {
    throw codecError('a required field (body, source, guarantee, retain) is missing');
  }
  // through createMessage: a replayed message has the one shape every message has
  const message = createMessage({ ...m, body: m.body, guarantee: m.guarantee, retain: m.retain, source: m.source });
  return { message, ...(to === undefined ? {} : { to }), ...(route === undefined ? {} : { route }) };
}
