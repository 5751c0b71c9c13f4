import type { Options } from 'amqplib';

/**
 * The method fields and content properties of one basic.publish, every key present in one order,
 * as amqplib's encoder reads them (lib/defs.js `encodeBasicPublish`, `encodeBasicProperties`:
 * a property that is `undefined` is left out of the frame, its flag bit clear).
 */
export interface PublishFrame {
  readonly exchange: string;
  readonly routingKey: string;
  readonly mandatory: boolean;
  readonly immediate: false;
  readonly ticket: undefined;
  readonly contentType: string | undefined;
  readonly contentEncoding: string | undefined;
  readonly headers: Readonly<Record<string, unknown>> | undefined;
  readonly deliveryMode: 1 | 2 | undefined;
  readonly priority: number | undefined;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  readonly expiration: string | undefined;
  readonly messageId: string | undefined;
  readonly timestamp: number | undefined;
  readonly type: string | undefined;
  readonly userId: string | undefined;
  readonly appId: string | undefined;
  readonly clusterId: undefined;
}

/** `options` of amqplib's `publish`, as Ferry's sink builds them (no CC or BCC). */
export type FramedOptions = Omit<Options.Publish, 'headers' | 'CC' | 'BCC'> & { readonly headers?: Readonly<Record<string, unknown>> | undefined };

/**
 * A header written after the options' own table: `name`, a long string of `prefix` and the decimal
 * digits of a serial number given per publish (the publisher's publish id, its delivery tag at
 * the end), so that no string is made for it per publish. The table's own keys must not hold
 * `name`.
 */
export interface TrailingId {
  readonly name: string;
  readonly prefix: string;
}

/** the number of decimal digits of a non-negative integer */
function digitCount(v: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  return n;
}

/**
 * amqplib writes a publish whose three frames come to less than this in one buffer (lib/connection.js
 * `SINGLE_CHUNK_THRESHOLD`); a larger one in several writes, which this leaves to it.
 */
const ONE_BUFFER_BELOW = 2048;
const FRAME_END = 0xce;
/** frame type, channel, payload size (AMQP 0-9-1 §4.2.3, general frame format) */
const FRAME_HEADER = 7;
const CLASS_BASIC = 60;
const METHOD_PUBLISH = 40;

/** what {@link shortSize} gives for a property that is not set */
const UNSET = -1;
/** what {@link shortSize} gives for a value amqplib would refuse */
const REFUSED = -2;

/**
 * The UTF-8 byte length of `s`, counted here for an ASCII string: a publish's strings are short,
 * and a loop over them costs less than a call into Buffer.byteLength. A string with a character
 * past ASCII, or one too long to fit a one-buffer publish anyway, is left to Buffer.byteLength.
 * The length equals `s.length` exactly when `s` is ASCII (any other character takes 2 or more bytes
 * per UTF-16 unit), which {@link writeString} relies on.
 */
function utf8Length(s: string): number {
  const n = s.length;
  if (n >= ONE_BUFFER_BELOW) return Buffer.byteLength(s);
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return n;
}

/** write `s`, whose UTF-8 length {@link utf8Length} gave as `n`, at `o`; returns the offset after it */
function writeString(buf: Buffer, o: number, s: string, n: number): number {
  if (n !== s.length) return o + buf.write(s, o, n, 'utf8');
  for (let i = 0; i < n; i++) buf[o + i] = s.charCodeAt(i);
  return o + n;
}

/** the byte length of an optional shortstr value: UNSET, or REFUSED when amqplib would refuse it (not a string, 256 bytes or more) */
function shortSize(v: unknown): number {
  if (v === undefined) return UNSET;
  if (typeof v !== 'string') return REFUSED;
  const n = utf8Length(v);
  return n < 256 ? n : REFUSED;
}

/**
 * The encoded size of a field value as amqplib's encoder writes it (lib/codec.js
 * `encodeFieldValue`), for the values written here: a string is a long string (`S`), an integer
 * the smallest of a signed byte (`b`), short (`s`) or int (`I`) that holds it (Ferry's hop
 * count, `x-ferry-hops`, is one); -1 for anything else, which amqplib then writes.
 */
function valueSize(v: unknown): number {
  if (typeof v === 'string') return 1 + 4 + utf8Length(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) return -1;
  if (v >= -0x80 && v < 0x80) return 1 + 1;
  if (v >= -0x8000 && v < 0x8000) return 1 + 2;
  if (v >= -0x80000000 && v < 0x80000000) return 1 + 4;
  return -1;
}

/**
 * The encoded length of a header table of such values, or -1 when a value is not one or a key is
 * too long: amqplib's encoder (lib/codec.js `encodeTable`) then writes it. Keys with an undefined
 * value are left out, as amqplib leaves them out. 0 for an object without a key, which amqplib's
 * `publish` as {@link publishFrame} calls it sends as no table at all.
 */
function tableLength(table: Readonly<Record<string, unknown>>): number {
  let n = 4;
  let any = false;
  for (const key in table) {
    any = true;
    const v = table[key];
    if (v === undefined) continue;
    const size = valueSize(v);
    const k = utf8Length(key);
    if (size < 0 || k > 255) return -1;
    n += 1 + k + size;
  }
  return any ? n : 0;
}

function writeUInt16(buf: Buffer, o: number, v: number): void {
  buf[o] = v >>> 8;
  buf[o + 1] = v & 0xff;
}

/** an unsigned 32-bit integer, or a signed one's two's complement */
function writeUInt32(buf: Buffer, o: number, v: number): void {
  buf[o] = (v >>> 24) & 0xff;
  buf[o + 1] = (v >>> 16) & 0xff;
  buf[o + 2] = (v >>> 8) & 0xff;
  buf[o + 3] = v & 0xff;
}

/** a non-negative safe integer as an unsigned 64-bit one */
function writeUInt64(buf: Buffer, o: number, v: number): void {
  writeUInt32(buf, o, Math.floor(v / 0x100000000));
  writeUInt32(buf, o + 4, v >>> 0);
}

/** write a value {@link valueSize} measured; returns the offset after it */
function writeValue(buf: Buffer, o: number, v: string | number): number {
  if (typeof v === 'string') {
    buf[o] = 0x53; // 'S', long string
    const n = utf8Length(v);
    writeUInt32(buf, o + 1, n);
    return writeString(buf, o + 5, v, n);
  }
  if (v >= -0x80 && v < 0x80) {
    buf[o] = 0x62; // 'b'
    buf[o + 1] = v & 0xff;
    return o + 2;
  }
  if (v >= -0x8000 && v < 0x8000) {
    buf[o] = 0x73; // 's'
    writeUInt16(buf, o + 1, v & 0xffff);
    return o + 3;
  }
  buf[o] = 0x49; // 'I'
  writeUInt32(buf, o + 1, v);
  return o + 5;
}

/** a shortstr property {@link shortSize} measured as `n` (UNSET: nothing written) */
function writeShort(buf: Buffer, o: number, v: string | undefined, n: number): number {
  if (v === undefined || n < 0) return o;
  buf[o] = n;
  return writeString(buf, o + 1, v, n);
}

/** the size a shortstr property {@link shortSize} measured adds to the properties */
function shortBytes(n: number): number {
  return n < 0 ? 0 : 1 + n;
}

/**
 * The bytes amqplib's `Connection.sendMessage` writes for one basic.publish, its content header and
 * its body (lib/connection.js, lib/defs.js `encodeBasicPublish` and `encodeBasicProperties`), for
 * the options amqplib's `publish` takes as {@link publishFrame} reads them, made in one buffer with
 * one pass over the properties, where amqplib makes four buffers and encodes the header table into
 * a scratch buffer first. Returns undefined where amqplib's own path is needed: a publish of
 * {@link ONE_BUFFER_BELOW} bytes or more, a header table with a value that is neither a string nor
 * an integer of 32 bits, or any value amqplib would refuse (it then throws as it always did). A
 * unit test compares the bytes with amqplib's for every property.
 */
export function encodePublishFrames(
  channel: number,
  exchange: string,
  routingKey: string,
  o: FramedOptions,
  content: Buffer,
  id?: TrailingId,
  serial = 0,
): Buffer | undefined {
  const exchangeSize = shortSize(exchange);
  const routingKeySize = shortSize(routingKey);
  if (exchangeSize < 0 || routingKeySize < 0) return undefined;
  const methodSize = 2 + 2 + 2 + 1 + exchangeSize + 1 + routingKeySize + 1;

  const contentType = shortSize(o.contentType);
  const contentEncoding = shortSize(o.contentEncoding);
  const correlationId = shortSize(o.correlationId);
  const replyTo = shortSize(o.replyTo);
  const expirationValue = o.expiration === undefined ? undefined : String(o.expiration);
  const expiration = shortSize(expirationValue);
  const messageId = shortSize(o.messageId);
  const type = shortSize(o.type);
  const userId = shortSize(o.userId);
  const appId = shortSize(o.appId);
  if (
    contentType === REFUSED ||
    contentEncoding === REFUSED ||
    correlationId === REFUSED ||
    replyTo === REFUSED ||
    expiration === REFUSED ||
    messageId === REFUSED ||
    type === REFUSED ||
    userId === REFUSED ||
    appId === REFUSED
  ) {
    return undefined;
  }
  let props =
    shortBytes(contentType) +
    shortBytes(contentEncoding) +
    shortBytes(correlationId) +
    shortBytes(replyTo) +
    shortBytes(expiration) +
    shortBytes(messageId) +
    shortBytes(type) +
    shortBytes(userId) +
    shortBytes(appId);
  // the property flags, in the order of §4.2.6.1 (clusterId, 0x0004, Ferry's sink never sets)
  let flags =
    (contentType >= 0 ? 0x8000 : 0) |
    (contentEncoding >= 0 ? 0x4000 : 0) |
    (correlationId >= 0 ? 0x0400 : 0) |
    (replyTo >= 0 ? 0x0200 : 0) |
    (expiration >= 0 ? 0x0100 : 0) |
    (messageId >= 0 ? 0x0080 : 0) |
    (type >= 0 ? 0x0020 : 0) |
    (userId >= 0 ? 0x0010 : 0) |
    (appId >= 0 ? 0x0008 : 0);
  // as amqplib's `publish` sends them (publishFrame): a table only with a key, the delivery mode from `persistent`
  let table = o.headers === undefined ? 0 : tableLength(o.headers);
  if (table < 0) return undefined;
  const headers = table > 0 ? o.headers : undefined;
  let idName = 0;
  let idPrefix = 0;
  let idDigits = 0;
  if (id !== undefined) {
    if (!Number.isSafeInteger(serial) || serial < 0) return undefined;
    idName = utf8Length(id.name);
    idPrefix = utf8Length(id.prefix);
    idDigits = digitCount(serial);
    if (idName > 255) return undefined;
    // the table's 4-byte length when the options gave no table; then the key and its long string ('S')
    table = (table > 0 ? table : 4) + 1 + idName + 1 + 4 + idPrefix + idDigits;
  }
  if (table > 0) {
    props += table;
    flags |= 0x2000;
  }
  const deliveryMode = o.persistent === undefined ? 0 : o.persistent ? 2 : 1;
  if (deliveryMode !== 0) {
    props += 1;
    flags |= 0x1000;
  }
  const priority = o.priority;
  if (priority !== undefined) {
    if (!Number.isInteger(priority) || priority < 0 || priority > 255) return undefined;
    props += 1;
    flags |= 0x0800;
  }
  const timestamp = o.timestamp;
  if (timestamp !== undefined) {
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) return undefined;
    props += 8;
    flags |= 0x0040;
  }

  const headerSize = 2 + 2 + 8 + 2 + props;
  const bodyFrame = content.length > 0 ? FRAME_HEADER + content.length + 1 : 0;
  const total = FRAME_HEADER + methodSize + 1 + FRAME_HEADER + headerSize + 1 + bodyFrame;
  if (total >= ONE_BUFFER_BELOW) return undefined;

  const buf = Buffer.allocUnsafe(total);
  // method frame (type 1): basic.publish, ticket 0, exchange, routing key, mandatory and immediate bits
  buf[0] = 1;
  writeUInt16(buf, 1, channel);
  writeUInt32(buf, 3, methodSize);
  writeUInt16(buf, 7, CLASS_BASIC);
  writeUInt16(buf, 9, METHOD_PUBLISH);
  writeUInt16(buf, 11, 0);
  let p = writeShort(buf, 13, exchange, exchangeSize);
  p = writeShort(buf, p, routingKey, routingKeySize);
  // the immediate bit (2) stays clear: RabbitMQ refuses it (NOT_IMPLEMENTED), amqplib never sets it
  buf[p++] = o.mandatory === true ? 1 : 0;
  buf[p++] = FRAME_END;

  // content header frame (type 2): class, weight 0, body size, property flags, properties
  const header = p;
  buf[p] = 2;
  writeUInt16(buf, p + 1, channel);
  writeUInt32(buf, p + 3, headerSize);
  writeUInt16(buf, p + 7, CLASS_BASIC);
  writeUInt16(buf, p + 9, 0);
  // the body size, below ONE_BUFFER_BELOW: its upper 32 bits are 0
  writeUInt32(buf, p + 11, 0);
  writeUInt32(buf, p + 15, content.length);
  writeUInt16(buf, p + 19, flags);
  p = header + 21;
  p = writeShort(buf, p, o.contentType, contentType);
  p = writeShort(buf, p, o.contentEncoding, contentEncoding);
  if (table > 0) {
    writeUInt32(buf, p, table - 4);
    p += 4;
    if (headers !== undefined) {
      for (const key in headers) {
        const v = headers[key];
        // tableLength let only strings and integers through
        if (typeof v !== 'string' && typeof v !== 'number') continue;
        const k = utf8Length(key);
        buf[p] = k;
        p = writeValue(buf, writeString(buf, p + 1, key, k), v);
      }
    }
    if (id !== undefined) {
      buf[p] = idName;
      p = writeString(buf, p + 1, id.name, idName);
      buf[p] = 0x53; // 'S', long string
      writeUInt32(buf, p + 1, idPrefix + idDigits);
      p = writeString(buf, p + 5, id.prefix, idPrefix);
      // the digits from the last: the serial's lowest digit is written first
      p += idDigits;
      for (let i = p - 1, x = serial; i >= p - idDigits; i--, x = Math.floor(x / 10)) buf[i] = 0x30 + (x % 10);
    }
  }
  if (deliveryMode !== 0) buf[p++] = deliveryMode;
  if (priority !== undefined) buf[p++] = priority;
  p = writeShort(buf, p, o.correlationId, correlationId);
  p = writeShort(buf, p, o.replyTo, replyTo);
  p = writeShort(buf, p, expirationValue, expiration);
  p = writeShort(buf, p, o.messageId, messageId);
  if (timestamp !== undefined) {
    writeUInt64(buf, p, timestamp);
    p += 8;
  }
  p = writeShort(buf, p, o.type, type);
  p = writeShort(buf, p, o.userId, userId);
  p = writeShort(buf, p, o.appId, appId);
  buf[p++] = FRAME_END;

  // body frame (type 3), none for an empty body
  if (bodyFrame > 0) {
    buf[p] = 3;
    writeUInt16(buf, p + 1, channel);
    writeUInt32(buf, p + 3, content.length);
    buf.set(content, p + FRAME_HEADER);
    buf[p + FRAME_HEADER + content.length] = FRAME_END;
  }
  return buf;
}
