/** The AMQP 1.0 decoder (§1.6): bounds-checked and depth-limited, since it reads input from the network. */
import type { AmqpValue } from './amqp-value.js';
import { COMPOUND, decodeError, FIXED_READERS, VARIABLE_READERS } from './encodings.js';

const MAX_DEPTH = 64;

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

  /** Go on reading at `position`, past bytes the caller read itself (never back, never past the end). */
  skipTo(position: number): void {
    if (position < this.#pos || position > this.#buf.length) throw decodeError(`cannot skip from byte ${this.#pos} to ${position}`);
    this.#pos = position;
  }

  #need(n: number): void {
    if (n < 0 || this.#pos + n > this.#buf.length) throw decodeError(`truncated value at byte ${this.#pos} (needs ${n}, has ${this.remaining})`);
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
    if (depth > MAX_DEPTH) throw decodeError(`nesting deeper than ${MAX_DEPTH}`);
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
    if (inner === 0x00) throw decodeError('a descriptor of a descriptor is not supported');
    return { code: inner, descriptor };
  }

  #value(code: number, depth: number): AmqpValue {
    const fixed = FIXED_READERS[code];
    if (fixed !== undefined) {
      this.#need(fixed.width);
      const at = this.#pos;
      this.#pos += fixed.width;
      return fixed.read(this.#buf, at);
    }
    const variable = VARIABLE_READERS[code];
    if (variable !== undefined) return variable.read(this.#bytes(variable.wide ? this.#u32() : this.#u8()));
    switch (code) {
      case COMPOUND.list.code8:
      case COMPOUND.list.code32:
        return { type: 'list', value: this.#compound(code === COMPOUND.list.code8 ? 1 : 4, depth) };
      case COMPOUND.map.code8:
      case COMPOUND.map.code32: {
        const items = this.#compound(code === COMPOUND.map.code8 ? 1 : 4, depth);
        if (items.length % 2 !== 0) throw decodeError('map with an odd number of items');
        const pairs: (readonly [AmqpValue, AmqpValue])[] = [];
        for (let i = 0; i < items.length; i += 2) pairs.push([items[i] as AmqpValue, items[i + 1] as AmqpValue]);
        return { type: 'map', value: pairs };
      }
      case COMPOUND.array.code8:
      case COMPOUND.array.code32:
        return { type: 'array', value: this.#array(code === COMPOUND.array.code8 ? 1 : 4, depth) };
      default:
        throw decodeError(`unknown type code 0x${code.toString(16)} at byte ${this.#pos - 1}`);
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
    if (count > end - this.#pos) throw decodeError(`count ${count} larger than its ${size}-byte size`);
    return { end, count };
  }

  #compound(width: 1 | 4, depth: number): AmqpValue[] {
    const { end, count } = this.#sizeCount(width);
    const items: AmqpValue[] = [];
    for (let i = 0; i < count; i++) items.push(this.read(depth + 1));
    if (this.#pos !== end) throw decodeError(`compound size mismatch (ends at ${this.#pos}, declared ${end})`);
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
    if (this.#pos !== end) throw decodeError(`array size mismatch (ends at ${this.#pos}, declared ${end})`);
    return items;
  }
}

/** Decode exactly one value that fills `buf`. */
export function decodeOne(buf: Buffer): AmqpValue {
  const d = new Decoder(buf);
  const v = d.read();
  if (d.remaining !== 0) throw decodeError(`${d.remaining} trailing bytes`);
  return v;
}
