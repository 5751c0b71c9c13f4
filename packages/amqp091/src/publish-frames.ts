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

/** the shortstr properties of the content header, in flag order, with their flag bits (§4.2.6.1) */
type ShortProperty = 'contentType' | 'contentEncoding' | 'correlationId' | 'replyTo' | 'expiration' | 'messageId' | 'type' | 'userId' | 'appId';

/** the byte length of a shortstr value, or -1 when amqplib would refuse it (not a string, 256 bytes or more) */
function shortLength(v: unknown): number {
  if (typeof v !== 'string') return -1;
  const n = Buffer.byteLength(v);
  return n < 256 ? n : -1;
}

/**
 * The encoded size of a field value as amqplib's encoder writes it (lib/codec.js
 * `encodeFieldValue`), for the values written here: a string is a long string (`S`), an integer
 * the smallest of a signed byte (`b`), short (`s`) or int (`I`) that holds it (Ferry's hop
 * count, `x-ferry-hops`, is one); -1 for anything else, which amqplib then writes.
 */
function valueSize(v: unknown): number {
  if (typeof v === 'string') return 1 + 4 + Buffer.byteLength(v);
  if (typeof v !== 'number' || !Number.isInteger(v)) return -1;
  if (v >= -0x80 && v < 0x80) return 1 + 1;
  if (v >= -0x8000 && v < 0x8000) return 1 + 2;
  if (v >= -0x80000000 && v < 0x80000000) return 1 + 4;
  return -1;
}

/**
 * The encoded length of a header table of such values, or -1 when a value is not one or a key is
 * too long: amqplib's encoder (lib/codec.js `encodeTable`) then writes it. Keys with an undefined
 * value are left out, as amqplib leaves them out.
 */
function tableLength(table: Readonly<Record<string, unknown>>): number {
  let n = 4;
  for (const key in table) {
    const v = table[key];
    if (v === undefined) continue;
    const size = valueSize(v);
    const k = Buffer.byteLength(key);
    if (size < 0 || k > 255) return -1;
    n += 1 + k + size;
  }
  return n;
}

/** write a value {@link valueSize} measured; returns the offset after it */
function writeValue(buf: Buffer, o: number, v: string | number): number {
  if (typeof v === 'string') {
    buf[o] = 0x53; // 'S', long string
    const n = Buffer.byteLength(v);
    buf.writeUInt32BE(n, o + 1);
    return o + 5 + buf.write(v, o + 5, n, 'utf8');
  }
  if (v >= -0x80 && v < 0x80) {
    buf[o] = 0x62; // 'b'
    buf.writeInt8(v, o + 1);
    return o + 2;
  }
  if (v >= -0x8000 && v < 0x8000) {
    buf[o] = 0x73; // 's'
    buf.writeInt16BE(v, o + 1);
    return o + 3;
  }
  buf[o] = 0x49; // 'I'
  buf.writeInt32BE(v, o + 1);
  return o + 5;
}

function writeShort(buf: Buffer, offset: number, v: string, len: number): number {
  buf[offset] = len;
  buf.write(v, offset + 1, len, 'utf8');
  return offset + 1 + len;
}

/**
 * The bytes amqplib's `Connection.sendMessage` writes for one basic.publish, its content header and
 * its body (lib/connection.js, lib/defs.js `encodeBasicPublish` and `encodeBasicProperties`), made
 * in one buffer with one pass over the properties, where amqplib makes four buffers and encodes
 * the header table into a scratch buffer first. Returns undefined where amqplib's own path is
 * needed: a publish of {@link ONE_BUFFER_BELOW} bytes or more, a header table with a value that is
 * neither a string nor an integer of 32 bits, or any value amqplib would refuse (it then throws as it always did). A unit test
 * compares the bytes with amqplib's for every property.
 */
export function encodePublishFrames(channel: number, f: PublishFrame, content: Buffer): Buffer | undefined {
  const exchange = shortLength(f.exchange);
  const routingKey = shortLength(f.routingKey);
  if (exchange < 0 || routingKey < 0) return undefined;
  const methodSize = 2 + 2 + 2 + 1 + exchange + 1 + routingKey + 1;

  let props = 0;
  let flags = 0;
  const lengths: Partial<Record<ShortProperty, number>> = {};
  const short = (name: ShortProperty, bit: number): boolean => {
    const v = f[name];
    if (v === undefined) return true;
    const n = shortLength(v);
    if (n < 0) return false;
    lengths[name] = n;
    props += 1 + n;
    flags |= bit;
    return true;
  };
  if (!short('contentType', 0x8000) || !short('contentEncoding', 0x4000)) return undefined;
  let table = -1;
  if (f.headers !== undefined) {
    table = tableLength(f.headers);
    if (table < 0) return undefined;
    props += table;
    flags |= 0x2000;
  }
  if (f.deliveryMode !== undefined) {
    props += 1;
    flags |= 0x1000;
  }
  if (f.priority !== undefined) {
    if (!Number.isInteger(f.priority) || f.priority < 0 || f.priority > 255) return undefined;
    props += 1;
    flags |= 0x0800;
  }
  if (!short('correlationId', 0x0400) || !short('replyTo', 0x0200) || !short('expiration', 0x0100) || !short('messageId', 0x0080)) return undefined;
  if (f.timestamp !== undefined) {
    if (!Number.isSafeInteger(f.timestamp) || f.timestamp < 0) return undefined;
    props += 8;
    flags |= 0x0040;
  }
  if (!short('type', 0x0020) || !short('userId', 0x0010) || !short('appId', 0x0008)) return undefined;
  // clusterId is never set by Ferry's sink (PublishFrame types it undefined)

  const headerSize = 2 + 2 + 8 + 2 + props;
  const bodyFrame = content.length > 0 ? FRAME_HEADER + content.length + 1 : 0;
  const total = FRAME_HEADER + methodSize + 1 + FRAME_HEADER + headerSize + 1 + bodyFrame;
  if (total >= ONE_BUFFER_BELOW) return undefined;

  const buf = Buffer.allocUnsafe(total);
  // method frame (type 1): basic.publish, ticket 0, exchange, routing key, mandatory and immediate bits
  buf[0] = 1;
  buf.writeUInt16BE(channel, 1);
  buf.writeUInt32BE(methodSize, 3);
  buf.writeUInt16BE(CLASS_BASIC, 7);
  buf.writeUInt16BE(METHOD_PUBLISH, 9);
  buf.writeUInt16BE(0, 11);
  let o = writeShort(buf, 13, f.exchange, exchange);
  o = writeShort(buf, o, f.routingKey, routingKey);
  // the immediate bit (2) stays clear: PublishFrame never sets it
  buf[o++] = f.mandatory ? 1 : 0;
  buf[o++] = FRAME_END;

  // content header frame (type 2): class, weight 0, body size, property flags, properties
  const header = o;
  buf[o] = 2;
  buf.writeUInt16BE(channel, o + 1);
  buf.writeUInt32BE(headerSize, o + 3);
  buf.writeUInt16BE(CLASS_BASIC, o + 7);
  buf.writeUInt16BE(0, o + 9);
  buf.writeBigUInt64BE(BigInt(content.length), o + 11);
  buf.writeUInt16BE(flags, o + 19);
  o = header + 21;
  if (f.contentType !== undefined) o = writeShort(buf, o, f.contentType, lengths.contentType ?? 0);
  if (f.contentEncoding !== undefined) o = writeShort(buf, o, f.contentEncoding, lengths.contentEncoding ?? 0);
  if (f.headers !== undefined) {
    buf.writeUInt32BE(table - 4, o);
    o += 4;
    for (const key in f.headers) {
      const v = f.headers[key];
      // tableLength let only strings and integers through
      if (typeof v !== 'string' && typeof v !== 'number') continue;
      const k = Buffer.byteLength(key);
      buf[o] = k;
      o = writeValue(buf, o + 1 + buf.write(key, o + 1, k, 'utf8'), v);
    }
  }
  if (f.deliveryMode !== undefined) buf[o++] = f.deliveryMode;
  if (f.priority !== undefined) buf[o++] = f.priority;
  if (f.correlationId !== undefined) o = writeShort(buf, o, f.correlationId, lengths.correlationId ?? 0);
  if (f.replyTo !== undefined) o = writeShort(buf, o, f.replyTo, lengths.replyTo ?? 0);
  if (f.expiration !== undefined) o = writeShort(buf, o, f.expiration, lengths.expiration ?? 0);
  if (f.messageId !== undefined) o = writeShort(buf, o, f.messageId, lengths.messageId ?? 0);
  if (f.timestamp !== undefined) {
    buf.writeBigUInt64BE(BigInt(f.timestamp), o);
    o += 8;
  }
  if (f.type !== undefined) o = writeShort(buf, o, f.type, lengths.type ?? 0);
  if (f.userId !== undefined) o = writeShort(buf, o, f.userId, lengths.userId ?? 0);
  if (f.appId !== undefined) o = writeShort(buf, o, f.appId, lengths.appId ?? 0);
  buf[o++] = FRAME_END;

  // body frame (type 3), none for an empty body
  if (bodyFrame > 0) {
    buf[o] = 3;
    buf.writeUInt16BE(channel, o + 1);
    buf.writeUInt32BE(content.length, o + 3);
    content.copy(buf, o + FRAME_HEADER);
    buf[o + FRAME_HEADER + content.length] = FRAME_END;
  }
  return buf;
}
