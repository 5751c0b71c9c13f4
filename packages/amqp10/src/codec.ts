/**
 * The AMQP 1.0 type system (AMQP 1.0 §1.6 "Type encodings"), as Ferry needs it: decode every
 * primitive with its exact type, and encode values back with the type they came with.
 *
 * Why our own codec and not rhea's Reader/Writer: rhea turns large longs/ulongs into raw
 * Buffers, symbols into strings, application-property types into plain JS numbers (so ubyte,
 * short and int collapse into one), and its writer once threw ERR_OUT_OF_RANGE on values it had
 * itself decoded (docs/mapping/amqp10.md). Keeping the type next to the value is the only way an
 * AMQP 1.0 → AMQP 1.0 route keeps a `short` a `short`.
 *
 * The decoder is bounds-checked and depth-limited: it reads input from the network.
 */
import { FerryError } from '@ferry/core';

export type FixedNumberType = 'ubyte' | 'ushort' | 'uint' | 'byte' | 'short' | 'int' | 'float' | 'double';
export type BigNumberType = 'ulong' | 'long';

export type AmqpValue =
  | { readonly type: 'null' }
  | { readonly type: 'boolean'; readonly value: boolean }
  | { readonly type: FixedNumberType; readonly value: number }
  | { readonly type: BigNumberType; readonly value: bigint }
  /** ms since the Unix epoch, signed 64-bit (§1.6.20) */
  | { readonly type: 'timestamp'; readonly value: bigint }
  /** a UTF-32 code point (§1.6.16) */
  | { readonly type: 'char'; readonly value: number }
  | { readonly type: 'uuid' | 'decimal32' | 'decimal64' | 'decimal128' | 'binary'; readonly value: Buffer }
  | { readonly type: 'string' | 'symbol'; readonly value: string }
  | { readonly type: 'list'; readonly value: readonly AmqpValue[] }
  | { readonly type: 'map'; readonly value: readonly (readonly [AmqpValue, AmqpValue])[] }
  | { readonly type: 'array'; readonly value: readonly AmqpValue[] }
  | { readonly type: 'described'; readonly descriptor: AmqpValue; readonly value: AmqpValue };

export const NULL: AmqpValue = { type: 'null' };

const MAX_DEPTH = 64;

function bad(message: string): FerryError {
  return new FerryError('PROTOCOL_ERROR', `AMQP 1.0 decode error: ${message}`, { permanent: true, details: { condition: 'amqp:decode-error' } });
}

interface Constructor {
  readonly code: number;
  readonly descriptor?: AmqpValue;
}

/** Reads AMQP 1.0 encoded values from a buffer, one after another. */
export class Decoder {
  #pos: number;
  readonly #buf: Buffer;

  constructor(buf: Buffer, offset = 0) {
    this.#buf = buf;
    this.#pos = offset;
  }

  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number): void {
    if (n < 0 || this.#pos + n > this.#buf.length) throw bad(`truncated value at byte ${this.#pos} (needs ${n}, has ${this.remaining})`);
  }

  #u8(): number {
    this.#need(1);
    return this.#buf.readUInt8(this.#pos++);
  }

  #bytes(n: number): Buffer {
    this.#need(n);
    const b = this.#buf.subarray(this.#pos, this.#pos + n);
    this.#pos += n;
    return b;
  }

  read(depth = 0): AmqpValue {
    if (depth > MAX_DEPTH) throw bad(`nesting deeper than ${MAX_DEPTH}`);
    const c = this.#ctor(depth);
    const v = this.#value(c.code, depth);
    return c.descriptor === undefined ? v : { type: 'described', descriptor: c.descriptor, value: v };
  }

  #ctor(depth: number): Constructor {
    const code = this.#u8();
    if (code !== 0x00) return { code };
    // §1.5: a described type constructor is 0x00, a descriptor value, then the constructor
    const descriptor = this.read(depth + 1);
    const inner = this.#u8();
    if (inner === 0x00) throw bad('a descriptor of a descriptor is not supported');
    return { code: inner, descriptor };
  }

  #value(code: number, depth: number): AmqpValue {
    const b = this.#buf;
    switch (code) {
      case 0x40:
        return NULL;
      case 0x41:
        return { type: 'boolean', value: true };
      case 0x42:
        return { type: 'boolean', value: false };
      case 0x56: {
        const v = this.#u8();
        if (v > 1) throw bad(`boolean byte ${v}`);
        return { type: 'boolean', value: v === 1 };
      }
      case 0x50:
        return { type: 'ubyte', value: this.#u8() };
      case 0x51:
        this.#need(1);
        return { type: 'byte', value: b.readInt8(this.#pos++) };
      case 0x60:
        this.#need(2);
        this.#pos += 2;
        return { type: 'ushort', value: b.readUInt16BE(this.#pos - 2) };
      case 0x61:
        this.#need(2);
        this.#pos += 2;
        return { type: 'short', value: b.readInt16BE(this.#pos - 2) };
      case 0x70:
        this.#need(4);
        this.#pos += 4;
        return { type: 'uint', value: b.readUInt32BE(this.#pos - 4) };
      case 0x52:
        return { type: 'uint', value: this.#u8() };
      case 0x43:
        return { type: 'uint', value: 0 };
      case 0x71:
        this.#need(4);
        this.#pos += 4;
        return { type: 'int', value: b.readInt32BE(this.#pos - 4) };
      case 0x54:
        this.#need(1);
        return { type: 'int', value: b.readInt8(this.#pos++) };
      case 0x80:
        this.#need(8);
        this.#pos += 8;
        return { type: 'ulong', value: b.readBigUInt64BE(this.#pos - 8) };
      case 0x53:
        return { type: 'ulong', value: BigInt(this.#u8()) };
      case 0x44:
        return { type: 'ulong', value: 0n };
      case 0x81:
        this.#need(8);
        this.#pos += 8;
        return { type: 'long', value: b.readBigInt64BE(this.#pos - 8) };
      case 0x55:
        this.#need(1);
        return { type: 'long', value: BigInt(b.readInt8(this.#pos++)) };
      case 0x72:
        this.#need(4);
        this.#pos += 4;
        return { type: 'float', value: b.readFloatBE(this.#pos - 4) };
      case 0x82:
        this.#need(8);
        this.#pos += 8;
        return { type: 'double', value: b.readDoubleBE(this.#pos - 8) };
      case 0x74:
        return { type: 'decimal32', value: this.#bytes(4) };
      case 0x84:
        return { type: 'decimal64', value: this.#bytes(8) };
      case 0x94:
        return { type: 'decimal128', value: this.#bytes(16) };
      case 0x73:
        this.#need(4);
        this.#pos += 4;
        return { type: 'char', value: b.readUInt32BE(this.#pos - 4) };
      case 0x83:
        this.#need(8);
        this.#pos += 8;
        return { type: 'timestamp', value: b.readBigInt64BE(this.#pos - 8) };
      case 0x98:
        return { type: 'uuid', value: this.#bytes(16) };
      case 0xa0:
        return { type: 'binary', value: this.#bytes(this.#u8()) };
      case 0xb0:
        return { type: 'binary', value: this.#bytes(this.#u32()) };
      case 0xa1:
        return { type: 'string', value: this.#bytes(this.#u8()).toString('utf8') };
      case 0xb1:
        return { type: 'string', value: this.#bytes(this.#u32()).toString('utf8') };
      case 0xa3:
        return { type: 'symbol', value: this.#bytes(this.#u8()).toString('ascii') };
      case 0xb3:
        return { type: 'symbol', value: this.#bytes(this.#u32()).toString('ascii') };
      case 0x45:
        return { type: 'list', value: [] };
      case 0xc0:
      case 0xd0:
        return { type: 'list', value: this.#compound(code === 0xc0 ? 1 : 4, depth) };
      case 0xc1:
      case 0xd1: {
        const items = this.#compound(code === 0xc1 ? 1 : 4, depth);
        if (items.length % 2 !== 0) throw bad('map with an odd number of items');
        const pairs: (readonly [AmqpValue, AmqpValue])[] = [];
        for (let i = 0; i < items.length; i += 2) pairs.push([items[i] as AmqpValue, items[i + 1] as AmqpValue]);
        return { type: 'map', value: pairs };
      }
      case 0xe0:
      case 0xf0:
        return { type: 'array', value: this.#array(code === 0xe0 ? 1 : 4, depth) };
      default:
        throw bad(`unknown type code 0x${code.toString(16)} at byte ${this.#pos - 1}`);
    }
  }

  #u32(): number {
    this.#need(4);
    this.#pos += 4;
    return this.#buf.readUInt32BE(this.#pos - 4);
  }

  #sizeCount(width: 1 | 4): { end: number; count: number } {
    const size = width === 1 ? this.#u8() : this.#u32();
    this.#need(size);
    const end = this.#pos + size;
    const count = width === 1 ? this.#u8() : this.#u32();
    // every item takes at least one byte: a count larger than the bytes left is a lie
    if (count > end - this.#pos) throw bad(`count ${count} larger than its ${size}-byte size`);
    return { end, count };
  }

  #compound(width: 1 | 4, depth: number): AmqpValue[] {
    const { end, count } = this.#sizeCount(width);
    const items: AmqpValue[] = [];
    for (let i = 0; i < count; i++) items.push(this.read(depth + 1));
    if (this.#pos !== end) throw bad(`compound size mismatch (ends at ${this.#pos}, declared ${end})`);
    return items;
  }

  #array(width: 1 | 4, depth: number): AmqpValue[] {
    const { end, count } = this.#sizeCount(width);
    const c = this.#ctor(depth + 1);
    const items: AmqpValue[] = [];
    for (let i = 0; i < count; i++) {
      const v = this.#value(c.code, depth + 1);
      items.push(c.descriptor === undefined ? v : { type: 'described', descriptor: c.descriptor, value: v });
    }
    if (this.#pos !== end) throw bad(`array size mismatch (ends at ${this.#pos}, declared ${end})`);
    return items;
  }
}

/** Decode exactly one value that fills `buf`. */
export function decodeOne(buf: Buffer): AmqpValue {
  const d = new Decoder(buf);
  const v = d.read();
  if (d.remaining !== 0) throw bad(`${d.remaining} trailing bytes`);
  return v;
}

// ---------------------------------------------------------------------------------------------
// encoding

function u8(n: number): Buffer {
  return Buffer.from([n]);
}

function withU32(code: number, n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = code;
  b.writeUInt32BE(n, 1);
  return b;
}

function variable(code8: number, code32: number, bytes: Buffer): Buffer {
  if (bytes.length <= 255) return Buffer.concat([Buffer.from([code8, bytes.length]), bytes]);
  return Buffer.concat([withU32(code32, bytes.length), bytes]);
}

function compound(code8: number, code32: number, count: number, body: Buffer): Buffer {
  // size counts the count field too (§1.6.22)
  if (body.length + 1 <= 255 && count <= 255) return Buffer.concat([Buffer.from([code8, body.length + 1, count]), body]);
  const h = Buffer.alloc(9);
  h[0] = code32;
  h.writeUInt32BE(body.length + 4, 1);
  h.writeUInt32BE(count, 5);
  return Buffer.concat([h, body]);
}

function checkInt(type: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${String(v)} is not a valid ${type}`, { permanent: true });
  }
}

/** Encode one value with the fixed-width constructor of its type (used inside arrays). */
function arrayElement(v: AmqpValue): { code: number; body: Buffer } {
  const full = encode(v);
  switch (v.type) {
    case 'uint':
    case 'ulong':
    case 'int':
    case 'long':
    case 'string':
    case 'symbol':
    case 'binary':
    case 'boolean':
    case 'list':
    case 'map': {
      // re-encode with the wide constructor so every element shares one constructor
      const wide = encodeWide(v);
      return { code: wide[0] as number, body: wide.subarray(1) };
    }
    default:
      return { code: full[0] as number, body: full.subarray(1) };
  }
}

function encodeWide(v: AmqpValue): Buffer {
  switch (v.type) {
    case 'uint': {
      const b = Buffer.alloc(5);
      b[0] = 0x70;
      b.writeUInt32BE(v.value, 1);
      return b;
    }
    case 'int': {
      const b = Buffer.alloc(5);
      b[0] = 0x71;
      b.writeInt32BE(v.value, 1);
      return b;
    }
    case 'ulong': {
      const b = Buffer.alloc(9);
      b[0] = 0x80;
      b.writeBigUInt64BE(v.value, 1);
      return b;
    }
    case 'long': {
      const b = Buffer.alloc(9);
      b[0] = 0x81;
      b.writeBigInt64BE(v.value, 1);
      return b;
    }
    case 'boolean':
      return Buffer.from([0x56, v.value ? 1 : 0]);
    case 'string':
      return Buffer.concat([withU32(0xb1, Buffer.byteLength(v.value)), Buffer.from(v.value, 'utf8')]);
    case 'symbol':
      return Buffer.concat([withU32(0xb3, v.value.length), Buffer.from(v.value, 'ascii')]);
    case 'binary':
      return Buffer.concat([withU32(0xb0, v.value.length), v.value]);
    case 'list': {
      const body = Buffer.concat(v.value.map(encode));
      const h = Buffer.alloc(9);
      h[0] = 0xd0;
      h.writeUInt32BE(body.length + 4, 1);
      h.writeUInt32BE(v.value.length, 5);
      return Buffer.concat([h, body]);
    }
    case 'map': {
      const body = Buffer.concat(v.value.flatMap(([k, x]) => [encode(k), encode(x)]));
      const h = Buffer.alloc(9);
      h[0] = 0xd1;
      h.writeUInt32BE(body.length + 4, 1);
      h.writeUInt32BE(v.value.length * 2, 5);
      return Buffer.concat([h, body]);
    }
    default:
      return encode(v);
  }
}

/** Encode a value with the smallest encoding of its exact type. */
export function encode(v: AmqpValue): Buffer {
  switch (v.type) {
    case 'null':
      return u8(0x40);
    case 'boolean':
      return u8(v.value ? 0x41 : 0x42);
    case 'ubyte':
      checkInt('ubyte', v.value, 0, 0xff);
      return Buffer.from([0x50, v.value]);
    case 'byte': {
      checkInt('byte', v.value, -128, 127);
      const b = Buffer.alloc(2);
      b[0] = 0x51;
      b.writeInt8(v.value, 1);
      return b;
    }
    case 'ushort': {
      checkInt('ushort', v.value, 0, 0xffff);
      const b = Buffer.alloc(3);
      b[0] = 0x60;
      b.writeUInt16BE(v.value, 1);
      return b;
    }
    case 'short': {
      checkInt('short', v.value, -32768, 32767);
      const b = Buffer.alloc(3);
      b[0] = 0x61;
      b.writeInt16BE(v.value, 1);
      return b;
    }
    case 'uint':
      checkInt('uint', v.value, 0, 0xffffffff);
      if (v.value === 0) return u8(0x43);
      if (v.value <= 255) return Buffer.from([0x52, v.value]);
      return encodeWide(v);
    case 'int': {
      checkInt('int', v.value, -0x80000000, 0x7fffffff);
      if (v.value >= -128 && v.value <= 127) {
        const b = Buffer.alloc(2);
        b[0] = 0x54;
        b.writeInt8(v.value, 1);
        return b;
      }
      return encodeWide(v);
    }
    case 'ulong':
      if (v.value < 0n || v.value > 0xffffffffffffffffn) throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${v.value} is not a ulong`, { permanent: true });
      if (v.value === 0n) return u8(0x44);
      if (v.value <= 255n) return Buffer.from([0x53, Number(v.value)]);
      return encodeWide(v);
    case 'long': {
      if (v.value < -0x8000000000000000n || v.value > 0x7fffffffffffffffn) throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${v.value} is not a long`, { permanent: true });
      if (v.value >= -128n && v.value <= 127n) {
        const b = Buffer.alloc(2);
        b[0] = 0x55;
        b.writeInt8(Number(v.value), 1);
        return b;
      }
      return encodeWide(v);
    }
    case 'float': {
      const b = Buffer.alloc(5);
      b[0] = 0x72;
      b.writeFloatBE(v.value, 1);
      return b;
    }
    case 'double': {
      const b = Buffer.alloc(9);
      b[0] = 0x82;
      b.writeDoubleBE(v.value, 1);
      return b;
    }
    case 'decimal32':
    case 'decimal64':
    case 'decimal128': {
      const [code, len] = v.type === 'decimal32' ? [0x74, 4] : v.type === 'decimal64' ? [0x84, 8] : [0x94, 16];
      if (v.value.length !== len) throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${v.type} needs ${len} bytes`, { permanent: true });
      return Buffer.concat([u8(code), v.value]);
    }
    case 'char': {
      const b = Buffer.alloc(5);
      b[0] = 0x73;
      b.writeUInt32BE(v.value, 1);
      return b;
    }
    case 'timestamp': {
      const b = Buffer.alloc(9);
      b[0] = 0x83;
      b.writeBigInt64BE(v.value, 1);
      return b;
    }
    case 'uuid':
      if (v.value.length !== 16) throw new FerryError('PROTOCOL_ERROR', 'AMQP 1.0 encode: uuid needs 16 bytes', { permanent: true });
      return Buffer.concat([u8(0x98), v.value]);
    case 'binary':
      return variable(0xa0, 0xb0, v.value);
    case 'string':
      return variable(0xa1, 0xb1, Buffer.from(v.value, 'utf8'));
    case 'symbol':
      return variable(0xa3, 0xb3, Buffer.from(v.value, 'ascii'));
    case 'list':
      if (v.value.length === 0) return u8(0x45);
      return compound(0xc0, 0xd0, v.value.length, Buffer.concat(v.value.map(encode)));
    case 'map':
      return compound(0xc1, 0xd1, v.value.length * 2, Buffer.concat(v.value.flatMap(([k, x]) => [encode(k), encode(x)])));
    case 'array': {
      const first = v.value[0];
      if (first === undefined) return compound(0xe0, 0xf0, 0, u8(0x40));
      const els = v.value.map(arrayElement);
      const code = els[0]?.code as number;
      if (els.some((e) => e.code !== code)) throw new FerryError('PROTOCOL_ERROR', 'AMQP 1.0 encode: array elements of different types', { permanent: true });
      const body = Buffer.concat([u8(code), ...els.map((e) => e.body)]);
      return compound(0xe0, 0xf0, els.length, body);
    }
    case 'described':
      return Buffer.concat([u8(0x00), encode(v.descriptor), encode(v.value)]);
  }
}

// convenience constructors -------------------------------------------------------------------

export const str = (value: string): AmqpValue => ({ type: 'string', value });
export const sym = (value: string): AmqpValue => ({ type: 'symbol', value });
export const ulong = (value: number | bigint): AmqpValue => ({ type: 'ulong', value: BigInt(value) });
export const uint = (value: number): AmqpValue => ({ type: 'uint', value });
export const bool = (value: boolean): AmqpValue => ({ type: 'boolean', value });
export const described = (code: number, value: AmqpValue): AmqpValue => ({ type: 'described', descriptor: ulong(code), value });

/** The numeric code of a descriptor (§1.5), mapping the symbolic forms of the message sections. */
export function descriptorCode(d: AmqpValue): number | undefined {
  if (d.type === 'ulong') return d.value <= 0xffffffffn ? Number(d.value) : undefined;
  if (d.type === 'symbol') return SYMBOLIC_DESCRIPTORS[d.value];
  return undefined;
}

const SYMBOLIC_DESCRIPTORS: Readonly<Record<string, number>> = {
  'amqp:header:list': 0x70,
  'amqp:delivery-annotations:map': 0x71,
  'amqp:message-annotations:map': 0x72,
  'amqp:properties:list': 0x73,
  'amqp:application-properties:map': 0x74,
  'amqp:data:binary': 0x75,
  'amqp:amqp-sequence:list': 0x76,
  'amqp:amqp-value:*': 0x77,
  'amqp:footer:map': 0x78,
};

/** Format a 16-byte uuid as 8-4-4-4-12 hex (RFC 4122). */
export function uuidToString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
