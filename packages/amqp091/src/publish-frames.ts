import { AMQP091_CORRELATION_HEADER, type GatewayMessage, type HeaderValue } from '@ferry/core';
import type { Options } from 'amqplib';
import { REPLY_TO_TOPIC_HEADER, correlationFits, metaOf, persistentOf, priorityOf, timestampOf, userIdOf } from './mapping.js';
import type { Amqp091To } from './options.js';

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
 * A header written after the message's own: `name`, a long string of `prefix` and the decimal
 * digits of a serial number given per publish (the publisher's publish id, its delivery tag at
 * the end), so that no string is made for it per publish.
 */
export interface TrailingId {
  readonly name: string;
  readonly prefix: string;
}

/** What the encoder is given once per publisher: what toPublish's context holds that does not change. */
export interface FramesContext {
  /** the user the connection authenticated as (toPublish's `username`) */
  readonly username: string | undefined;
  /** the connector's `replyToTopicHeader` */
  readonly replyToTopicHeader: boolean;
  /** the publish id a mandatory publish carries */
  readonly id: TrailingId;
}

/**
 * amqplib writes a publish whose three frames come to less than this in one buffer (lib/connection.js
 * `SINGLE_CHUNK_THRESHOLD`); a larger one in several writes, which this leaves to it.
 */
const ONE_BUFFER_BELOW = 2048;
/**
 * Room past the end of a publish's buffer's limit: a string or byte array is written only when it
 * ends at the limit or before, the fixed-size values after one (a header value, the delivery mode,
 * priority, expiration digits, timestamp: 37 bytes at most) may end in this room, and a publish of
 * {@link ONE_BUFFER_BELOW} bytes or more is refused once its size is known.
 */
const SLACK = 48;
/** the room {@link PublishFrames.encode} needs past its offset: a publish written whole and the slack */
export const PUBLISH_ROOM = ONE_BUFFER_BELOW + SLACK;
/** the longest method frame of basic.publish: frame header, class, method, ticket, two shortstrs, bits, frame end */
const METHOD_ROOM = 7 + 4 + 2 + 2 * 256 + 1 + 1;
const FRAME_END = 0xce;
/** frame type, channel, payload size (AMQP 0-9-1 §4.2.3, general frame format) */
const FRAME_HEADER = 7;
const CLASS_BASIC = 60;
const METHOD_PUBLISH = 40;
/** what a writer below returns for a value it does not write: the publish goes to amqplib */
const REFUSED = -1;

/** what {@link PublishFrames.encode} is given for a message without an expiration, or a publish without an id */
export const NONE = -1;

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

/** a safe integer as a signed 64-bit one (two's complement; an unsigned one for a non-negative value) */
function writeInt64(buf: Buffer, o: number, v: number): void {
  const high = Math.floor(v / 0x100000000);
  writeUInt32(buf, o, high);
  writeUInt32(buf, o + 4, v - high * 0x100000000);
}

/** where a string or byte array written into `buf` must end, at the latest */
function limitOf(buf: Buffer): number {
  return buf.length - SLACK;
}

/**
 * Write `s` as UTF-8 at `o`; returns the offset after it, or REFUSED when it would end past the
 * limit ({@link limitOf}). An ASCII string is written by its character codes (a publish's strings are short, and a
 * loop over them costs less than a call into Buffer.write); one with a character past ASCII by
 * Buffer.write.
 */
function putString(buf: Buffer, o: number, s: string): number {
  const n = s.length;
  if (o + n > limitOf(buf)) return REFUSED;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return putUtf8(buf, o, s);
    buf[o + i] = c;
  }
  return o + n;
}

function putUtf8(buf: Buffer, o: number, s: string): number {
  const n = Buffer.byteLength(s);
  if (o + n > limitOf(buf)) return REFUSED;
  return o + buf.write(s, o, n, 'utf8');
}

/** a shortstr (AMQP 0-9-1 §4.2.5.3: a length octet, at most 255 bytes); REFUSED for a longer one or a value that is not a string */
function putShort(buf: Buffer, o: number, s: unknown): number {
  if (typeof s !== 'string') return REFUSED;
  const end = putString(buf, o + 1, s);
  const n = end - o - 1;
  if (end < 0 || n > 255) return REFUSED;
  buf[o] = n;
  return end;
}

/** the decimal digits of a non-negative safe integer */
function putDigits(buf: Buffer, o: number, v: number): number {
  let n = 1;
  for (let x = v; x >= 10; x = Math.floor(x / 10)) n++;
  // from the last: the lowest digit is written first (without `%`, which V8 computes by a call
  // to fmod for a number it does not know to be a small integer)
  for (let i = o + n - 1, x = v; i >= o; i--) {
    const q = Math.floor(x / 10);
    buf[i] = 0x30 + (x - q * 10);
    x = q;
  }
  return o + n;
}

/** a long string field value (`S`) */
function putLongString(buf: Buffer, o: number, s: string): number {
  buf[o] = 0x53; // 'S'
  const end = putString(buf, o + 5, s);
  if (end >= 0) writeUInt32(buf, o + 1, end - o - 5);
  return end;
}

/**
 * One header value as amqplib's encoder writes what toPublish makes of it (field-table.ts gives a
 * string, number, boolean, null or byte array to amqplib as it is; lib/codec.js
 * `encodeFieldValue`): a string a long string (`S`); an integer the smallest of a signed byte
 * (`b`), short (`s`), int (`I`) or long (`l`) that holds it; another number below 2^50 a double
 * (`d`); a boolean `t`; null void (`V`); a byte array `x`. REFUSED for anything else, whose typed
 * form amqplib writes (a bigint, a Date, a TypedNumber, an array, a table), and for a number
 * amqplib writes as a long without holding it in one (past 2^53, NaN, ±Infinity).
 */
function putValue(buf: Buffer, o: number, v: HeaderValue): number {
  if (typeof v === 'string') return putLongString(buf, o, v);
  if (typeof v === 'number') {
    if (Number.isInteger(v)) {
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
      if (v >= -0x80000000 && v < 0x80000000) {
        buf[o] = 0x49; // 'I'
        writeUInt32(buf, o + 1, v);
        return o + 5;
      }
      if (!Number.isSafeInteger(v)) return REFUSED;
      buf[o] = 0x6c; // 'l'
      writeInt64(buf, o + 1, v);
      return o + 9;
    }
    // amqplib's `isFloatingPoint`: a fraction below 2^50 is a double (one above is written as a long, and throws)
    if (!(Math.abs(v) < 0x4000000000000)) return REFUSED;
    buf[o] = 0x64; // 'd'
    buf.writeDoubleBE(v, o + 1);
    return o + 9;
  }
  if (typeof v === 'boolean') {
    buf[o] = 0x74; // 't'
    buf[o + 1] = v ? 1 : 0;
    return o + 2;
  }
  if (v === null) {
    buf[o] = 0x56; // 'V'
    return o + 1;
  }
  if (v instanceof Uint8Array) {
    const end = o + 5 + v.length;
    if (end > limitOf(buf)) return REFUSED;
    buf[o] = 0x78; // 'x'
    writeUInt32(buf, o + 1, v.length);
    buf.set(v, o + 5);
    return end;
  }
  return REFUSED;
}

/** a header's name and value; REFUSED for a value {@link putValue} refuses */
function putField(buf: Buffer, o: number, key: string, v: HeaderValue): number {
  const p = putShort(buf, o, key);
  return p < 0 ? REFUSED : putValue(buf, p, v);
}

/**
 * Whether toPublish's table (a plain object) would hold `key` in another place than the Map
 * does, or not as a key of its own: an array index (a string of digits) comes before every
 * other key of an object whatever the order it was set in, and `__proto__` sets the prototype.
 * Any key starting with a digit is counted as one.
 */
function movedInObject(key: string): boolean {
  const c = key.charCodeAt(0);
  return (c >= 0x30 && c <= 0x39) || key === '__proto__';
}

/**
 * The frames of one basic.publish of a message, the bytes amqplib's `Connection.sendMessage`
 * writes for the options toPublish makes of it (mapping.ts; lib/connection.js, lib/defs.js
 * `encodeBasicPublish` and `encodeBasicProperties`, lib/codec.js), made without those options:
 * the properties and the header table are read from the message and written in one pass, with
 * the body after them, into the caller's buffer (the publisher's buffer of the turn's writes,
 * turn-frames.ts), their sizes and flags patched in after.
 *
 * The method frame of the last destination is kept: a publish to the same exchange and routing
 * key copies it and writes only its mandatory bit (the one field of the method frame that is the
 * route's own).
 *
 * {@link encode} returns {@link REFUSED} where toPublish and amqplib are needed: a publish of
 * {@link ONE_BUFFER_BELOW} bytes or more, a header value {@link putValue} refuses, a header whose
 * place in toPublish's table is not its place in the message, a header of the name of one this
 * adds, or a value toPublish or amqplib refuses (a shortstr past 255 bytes). A unit test compares
 * the bytes with amqplib's.
 */
export class PublishFrames {
  readonly #channel: number;
  readonly #ctx: FramesContext;
  /** the method frame of the last destination is written here */
  readonly #methodBuf = Buffer.allocUnsafe(METHOD_ROOM + SLACK);
  /** that method frame, the bytes a publish copies; undefined when there is none */
  #methodFrame: Buffer | undefined;
  /** its destination */
  #exchange = '';
  #routingKey = '';

  constructor(channel: number, ctx: FramesContext) {
    this.#channel = channel;
    this.#ctx = ctx;
  }

  /**
   * Write the frames of publishing `m` to `to` into `buf` from `at`, with an `expiration`
   * property of that many ms (or {@link NONE}), and the trailing publish id with the digits of
   * `serial` (or NONE); `buf` has {@link PUBLISH_ROOM} bytes from `at`. Returns the offset after
   * them, or {@link REFUSED} (what was written past `at` is then of no use).
   */
  encode(m: GatewayMessage, to: Amqp091To, expiration: number, serial: number, buf: Buffer, at: number): number {
    const method = this.#method(to.exchange, to.routingKey);
    if (method === undefined) return REFUSED;
    buf.set(method, at);
    const header = at + method.length;
    // the immediate bit (2) stays clear: RabbitMQ refuses it (NOT_IMPLEMENTED), amqplib never sets it
    buf[header - 2] = to.mandatory ? 1 : 0;

    // content header frame (type 2): class, weight 0, body size, property flags, properties
    // (§4.2.6.1), its size and flags written once the properties are
    const channel = this.#channel;
    const content = m.body;
    buf[header] = 2;
    writeUInt16(buf, header + 1, channel);
    writeUInt16(buf, header + 7, CLASS_BASIC);
    writeUInt16(buf, header + 9, 0);
    // the body size, below ONE_BUFFER_BELOW: its upper 32 bits are 0
    writeUInt32(buf, header + 11, 0);
    writeUInt32(buf, header + 15, content.length);
    let p = header + 21;
    let flags = 0;
    const meta = metaOf(m);
    if (m.contentType !== undefined) {
      p = putShort(buf, p, m.contentType);
      flags |= 0x8000;
    }
    if (m.contentEncoding !== undefined && p >= 0) {
      p = putShort(buf, p, m.contentEncoding);
      flags |= 0x4000;
    }
    if (p < 0) return REFUSED;

    // a correlation id that is no shortstr goes into a header (mapping.ts correlationFits)
    const correlation = m.correlationId;
    const correlationHeader = correlation === undefined || correlationFits(correlation) ? undefined : correlation;
    const replyToHeader = this.#ctx.replyToTopicHeader && m.replyTo !== undefined && m.source.protocol === 'mqtt' ? m.replyTo : undefined;
    const headers = m.headers;
    // toPublish's table: the message's headers, then the correlation and reply-to headers; the id
    // after them. toPublish sets those on its table, which would put one the message holds already
    // in that header's place.
    if (headers.size !== 0 || correlationHeader !== undefined || replyToHeader !== undefined || serial !== NONE) {
      if (correlationHeader !== undefined && headers.has(AMQP091_CORRELATION_HEADER)) return REFUSED;
      if (replyToHeader !== undefined && headers.has(REPLY_TO_TOPIC_HEADER)) return REFUSED;
      if (serial !== NONE && headers.has(this.#ctx.id.name)) return REFUSED;
      const table = p;
      p += 4;
      for (const [key, v] of headers) {
        if (movedInObject(key)) return REFUSED;
        p = putField(buf, p, key, v);
        if (p < 0) return REFUSED;
      }
      if (correlationHeader !== undefined) p = putField(buf, p, AMQP091_CORRELATION_HEADER, correlationHeader);
      if (replyToHeader !== undefined && p >= 0) p = putField(buf, p, REPLY_TO_TOPIC_HEADER, replyToHeader);
      if (serial !== NONE && p >= 0) p = this.#id(buf, p, serial);
      if (p < 0) return REFUSED;
      writeUInt32(buf, table, p - table - 4);
      flags |= 0x2000;
    }
    // delivery mode: toPublish always gives `persistent`, 2 persistent and 1 not
    buf[p++] = persistentOf(m, meta, to.persistent) ? 2 : 1;
    flags |= 0x1000;
    const priority = priorityOf(m);
    if (priority !== undefined) {
      buf[p++] = priority;
      flags |= 0x0800;
    }
    if (correlation !== undefined && correlationHeader === undefined) {
      p = putShort(buf, p, correlation);
      flags |= 0x0400;
    }
    if (m.replyTo !== undefined && p >= 0) {
      p = putShort(buf, p, m.replyTo);
      flags |= 0x0200;
    }
    if (p < 0) return REFUSED;
    if (expiration !== NONE) {
      // a string of the decimal digits of ms (RabbitMQ per-message TTL)
      const end = putDigits(buf, p + 1, expiration);
      buf[p] = end - p - 1;
      p = end;
      flags |= 0x0100;
    }
    if (m.messageId !== undefined) {
      p = putShort(buf, p, m.messageId);
      flags |= 0x0080;
    }
    const timestamp = timestampOf(m);
    if (timestamp !== undefined && p >= 0) {
      if (!Number.isSafeInteger(timestamp)) return REFUSED;
      writeInt64(buf, p, timestamp);
      p += 8;
      flags |= 0x0040;
    }
    if (meta.type !== undefined && p >= 0) {
      p = putShort(buf, p, meta.type);
      flags |= 0x0020;
    }
    const userId = userIdOf(m, this.#ctx.username);
    if (userId !== undefined && p >= 0) {
      p = putShort(buf, p, userId);
      flags |= 0x0010;
    }
    if (meta.appId !== undefined && p >= 0) {
      p = putShort(buf, p, meta.appId);
      flags |= 0x0008;
    }
    if (p < 0) return REFUSED;
    buf[p++] = FRAME_END;
    writeUInt32(buf, header + 3, p - header - FRAME_HEADER - 1);
    writeUInt16(buf, header + 19, flags);

    // body frame (type 3), none for an empty body
    const bodyFrame = content.length > 0 ? FRAME_HEADER + content.length + 1 : 0;
    const end = p + bodyFrame;
    if (end - at >= ONE_BUFFER_BELOW) return REFUSED;
    if (bodyFrame > 0) {
      buf[p] = 3;
      writeUInt16(buf, p + 1, channel);
      writeUInt32(buf, p + 3, content.length);
      buf.set(content, p + FRAME_HEADER);
      buf[end - 1] = FRAME_END;
    }
    return end;
  }

  /**
   * The method frame (type 1) of basic.publish to this destination, written unless it is the
   * last one: ticket 0, exchange, routing key, the bits (the caller's), frame end. Undefined for
   * a name that is no shortstr.
   */
  #method(exchange: string, routingKey: string): Buffer | undefined {
    const last = this.#methodFrame;
    if (last !== undefined && exchange === this.#exchange && routingKey === this.#routingKey) return last;
    const buf = this.#methodBuf;
    this.#methodFrame = undefined;
    buf[0] = 1;
    writeUInt16(buf, 1, this.#channel);
    writeUInt16(buf, 7, CLASS_BASIC);
    writeUInt16(buf, 9, METHOD_PUBLISH);
    writeUInt16(buf, 11, 0);
    let p = putShort(buf, 13, exchange);
    if (p >= 0) p = putShort(buf, p, routingKey);
    if (p < 0) return undefined;
    // the bits octet, written per publish
    p++;
    buf[p++] = FRAME_END;
    writeUInt32(buf, 3, p - FRAME_HEADER - 1);
    this.#exchange = exchange;
    this.#routingKey = routingKey;
    // a copy of its own: the bits octet is written in the publish's buffer, not here
    this.#methodFrame = Buffer.from(buf.subarray(0, p));
    return this.#methodFrame;
  }

  /** the trailing id: its name, and a long string of its prefix and the serial's digits */
  #id(buf: Buffer, o: number, serial: number): number {
    const id = this.#ctx.id;
    let p = putShort(buf, o, id.name);
    if (p < 0) return REFUSED;
    const start = p;
    buf[p] = 0x53; // 'S'
    p = putString(buf, p + 5, id.prefix);
    if (p < 0) return REFUSED;
    p = putDigits(buf, p, serial);
    writeUInt32(buf, start + 1, p - start - 5);
    return p;
  }
}
