/** The AMQP 1.0 decoder (§1.6): bounds-checked and depth-limited, since it reads input from the network. */
import { FerryError } from '@ferry/core';
import { NULL, type AmqpValue } from './amqp-value.js';

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
