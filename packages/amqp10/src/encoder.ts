/** The AMQP 1.0 encoder (§1.6): each value with the smallest encoding of its exact type. */
import { FerryError } from '@ferry/core';
import type { AmqpValue } from './amqp-value.js';
import { BIG, BOOLEAN, COMPOUND, FIXED_BYTES, NUMBER, SMALL_BIG, SMALL_NUMBER, VARIABLE, ZERO_WIDTH, type FixedEncoding, type NumberEncoding, type VariableEncoding } from './encodings.js';

/** §1.6.10, §1.6.12: the values a ulong and a long hold (a bigint may hold more) */
const BIG_RANGE = { ulong: [0n, 0xffffffffffffffffn], long: [-0x8000000000000000n, 0x7fffffffffffffffn] } as const;

function u8(n: number): Buffer {
  return Buffer.from([n]);
}

function withU32(code: number, n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = code;
  b.writeUInt32BE(n, 1);
  return b;
}

function fixed<V>(e: FixedEncoding<V>, v: V): Buffer {
  // every byte is written below: no need to zero them first
  const b = Buffer.allocUnsafe(1 + e.width);
  b[0] = e.code;
  e.write(b, v, 1);
  return b;
}

function variable(e: VariableEncoding, bytes: Buffer, wide: boolean): Buffer {
  if (!wide && bytes.length <= 255) return Buffer.concat([Buffer.from([e.code8, bytes.length]), bytes]);
  return Buffer.concat([withU32(e.code32, bytes.length), bytes]);
}

function compound(e: { readonly code8: number; readonly code32: number }, count: number, body: Buffer, wide: boolean): Buffer {
  // size counts the count field too (§1.6.22)
  if (!wide && body.length + 1 <= 255 && count <= 255) return Buffer.concat([Buffer.from([e.code8, body.length + 1, count]), body]);
  const h = Buffer.alloc(9);
  h[0] = e.code32;
  h.writeUInt32BE(body.length + 4, 1);
  h.writeUInt32BE(count, 5);
  return Buffer.concat([h, body]);
}

/** A number of a type with a range (the integers) must be a whole number inside it. */
function checked(type: string, e: NumberEncoding, v: number): number {
  if (e.range !== undefined && (!Number.isInteger(v) || v < e.range[0] || v > e.range[1])) {
    throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${String(v)} is not a valid ${type}`, { permanent: true });
  }
  return v;
}

function fits<V extends number | bigint>(range: readonly [V, V] | undefined, v: V): boolean {
  return range !== undefined && v >= range[0] && v <= range[1];
}

/** Encode one value with the fixed-width constructor of its type (used inside arrays). */
function arrayElement(v: AmqpValue): { code: number; body: Buffer } {
  // the wide constructors where a type has several, so every element shares one constructor
  const full = encodeAs(v, true);
  return { code: full[0] as number, body: full.subarray(1) };
}

/**
 * Encode a value: with its smallest encoding, or `wide`, with the one constructor of its type
 * that holds every value (§1.6.26: an array's elements share a single constructor).
 */
function encodeAs(v: AmqpValue, wide: boolean): Buffer {
  switch (v.type) {
    case 'null':
      return u8(ZERO_WIDTH.null);
    case 'boolean':
      if (wide) return Buffer.from([BOOLEAN, v.value ? 1 : 0]);
      return u8(v.value ? ZERO_WIDTH.true : ZERO_WIDTH.false);
    case 'uint':
    case 'int': {
      const value = checked(v.type, NUMBER[v.type], v.value);
      if (wide) return fixed(NUMBER[v.type], value);
      if (v.type === 'uint' && value === 0) return u8(ZERO_WIDTH.uint0);
      return fixed(fits(SMALL_NUMBER[v.type].range, value) ? SMALL_NUMBER[v.type] : NUMBER[v.type], value);
    }
    case 'ubyte':
    case 'byte':
    case 'ushort':
    case 'short':
    case 'float':
    case 'double':
    case 'char':
      return fixed(NUMBER[v.type], checked(v.type, NUMBER[v.type], v.value));
    case 'ulong':
    case 'long':
      if (!fits(BIG_RANGE[v.type], v.value)) throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${v.value} is not a ${v.type}`, { permanent: true });
      if (wide) return fixed(BIG[v.type], v.value);
      if (v.type === 'ulong' && v.value === 0n) return u8(ZERO_WIDTH.ulong0);
      return fixed(fits(SMALL_BIG[v.type].range, v.value) ? SMALL_BIG[v.type] : BIG[v.type], v.value);
    case 'timestamp':
      return fixed(BIG.timestamp, v.value);
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
    case 'uuid': {
      const e = FIXED_BYTES[v.type];
      if (v.value.length !== e.width) throw new FerryError('PROTOCOL_ERROR', `AMQP 1.0 encode: ${v.type} needs ${e.width} bytes`, { permanent: true });
      return Buffer.concat([u8(e.code), v.value]);
    }
    case 'binary':
      return variable(VARIABLE.binary, v.value, wide);
    case 'string':
    case 'symbol': {
      const e = VARIABLE[v.type];
      return variable(e, Buffer.from(v.value, e.text), wide);
    }
    case 'list':
      if (!wide && v.value.length === 0) return u8(ZERO_WIDTH.list0);
      return compound(COMPOUND.list, v.value.length, Buffer.concat(v.value.map(encode)), wide);
    case 'map':
      return compound(COMPOUND.map, v.value.length * 2, Buffer.concat(v.value.flatMap(([k, x]) => [encode(k), encode(x)])), wide);
    case 'array': {
      if (v.value.length === 0) return compound(COMPOUND.array, 0, u8(ZERO_WIDTH.null), false);
      const els = v.value.map(arrayElement);
      const code = els[0]?.code as number;
      if (els.some((e) => e.code !== code)) throw new FerryError('PROTOCOL_ERROR', 'AMQP 1.0 encode: array elements of different types', { permanent: true });
      const body = Buffer.concat([u8(code), ...els.map((e) => e.body)]);
      return compound(COMPOUND.array, els.length, body, false);
    }
    case 'described':
      return Buffer.concat([u8(0x00), encode(v.descriptor), encode(v.value)]);
  }
}

/** Encode a value with the smallest encoding of its exact type. */
export function encode(v: AmqpValue): Buffer {
  return encodeAs(v, false);
}
