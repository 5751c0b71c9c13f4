/**
 * The AMQP 1.0 type encodings (§1.6) as tables: each constructor code with its width and how its
 * bytes are read and written. The encoder picks an entry by type, the decoder by code; a type is
 * added here once and both know it.
 */
import { FerryError } from '@ferry/core';
import type { AmqpValue, BigNumberType, FixedNumberType } from './amqp-value.js';

/** A decode error: the peer sent bytes that are not AMQP 1.0 (§2.8.15 amqp:decode-error). */
export function decodeError(message: string): FerryError {
  return new FerryError('PROTOCOL_ERROR', `AMQP 1.0 decode error: ${message}`, { permanent: true, details: { condition: 'amqp:decode-error' } });
}

/** A fixed-width encoding of a value held as a JS number or bigint: constructor code, then `width` bytes. */
export interface FixedEncoding<V> {
  readonly code: number;
  readonly width: number;
  readonly read: (b: Buffer, at: number) => V;
  readonly write: (b: Buffer, v: V, at: number) => void;
}

/** Numeric types whose values are JS numbers, with the integer range each may hold. */
export interface NumberEncoding extends FixedEncoding<number> {
  /** [min, max] for the integer types; absent for float, double and char */
  readonly range?: readonly [number, number];
}

type NumberType = FixedNumberType | 'char';
type BigType = BigNumberType | 'timestamp';

/** §1.6.2–1.6.16: each number type's widest encoding, the one arrays use for every element. */
export const NUMBER: Readonly<Record<NumberType, NumberEncoding>> = {
  ubyte: { code: 0x50, width: 1, range: [0, 0xff], read: (b, at) => b.readUInt8(at), write: (b, v, at) => b.writeUInt8(v, at) },
  byte: { code: 0x51, width: 1, range: [-0x80, 0x7f], read: (b, at) => b.readInt8(at), write: (b, v, at) => b.writeInt8(v, at) },
  ushort: { code: 0x60, width: 2, range: [0, 0xffff], read: (b, at) => b.readUInt16BE(at), write: (b, v, at) => b.writeUInt16BE(v, at) },
  short: { code: 0x61, width: 2, range: [-0x8000, 0x7fff], read: (b, at) => b.readInt16BE(at), write: (b, v, at) => b.writeInt16BE(v, at) },
  uint: { code: 0x70, width: 4, range: [0, 0xffffffff], read: (b, at) => b.readUInt32BE(at), write: (b, v, at) => b.writeUInt32BE(v, at) },
  int: { code: 0x71, width: 4, range: [-0x80000000, 0x7fffffff], read: (b, at) => b.readInt32BE(at), write: (b, v, at) => b.writeInt32BE(v, at) },
  float: { code: 0x72, width: 4, read: (b, at) => b.readFloatBE(at), write: (b, v, at) => b.writeFloatBE(v, at) },
  char: { code: 0x73, width: 4, read: (b, at) => b.readUInt32BE(at), write: (b, v, at) => b.writeUInt32BE(v, at) },
  double: { code: 0x82, width: 8, read: (b, at) => b.readDoubleBE(at), write: (b, v, at) => b.writeDoubleBE(v, at) },
};

/** §1.6.10–1.6.20: the 64-bit types, JS bigints. */
export const BIG: Readonly<Record<BigType, FixedEncoding<bigint>>> = {
  ulong: { code: 0x80, width: 8, read: (b, at) => b.readBigUInt64BE(at), write: (b, v, at) => b.writeBigUInt64BE(v, at) },
  long: { code: 0x81, width: 8, read: (b, at) => b.readBigInt64BE(at), write: (b, v, at) => b.writeBigInt64BE(v, at) },
  timestamp: { code: 0x83, width: 8, read: (b, at) => b.readBigInt64BE(at), write: (b, v, at) => b.writeBigInt64BE(v, at) },
};

/** §1.6.7 smalluint, §1.6.9 smallint: one byte for a value that fits in it. */
export const SMALL_NUMBER: Readonly<Record<'uint' | 'int', NumberEncoding>> = {
  uint: { code: 0x52, width: 1, range: [0, 0xff], read: (b, at) => b.readUInt8(at), write: (b, v, at) => b.writeUInt8(v, at) },
  int: { code: 0x54, width: 1, range: [-0x80, 0x7f], read: (b, at) => b.readInt8(at), write: (b, v, at) => b.writeInt8(v, at) },
};

/** §1.6.11 smallulong, §1.6.13 smalllong: one byte for a value that fits in it. */
export const SMALL_BIG: Readonly<Record<'ulong' | 'long', FixedEncoding<bigint> & { readonly range: readonly [bigint, bigint] }>> = {
  ulong: { code: 0x53, width: 1, range: [0n, 0xffn], read: (b, at) => BigInt(b.readUInt8(at)), write: (b, v, at) => b.writeUInt8(Number(v), at) },
  long: { code: 0x55, width: 1, range: [-0x80n, 0x7fn], read: (b, at) => BigInt(b.readInt8(at)), write: (b, v, at) => b.writeInt8(Number(v), at) },
};

/** §1.6.17–1.6.19 decimals, §1.6.21 uuid: fixed-width runs of bytes, kept as they are. */
export const FIXED_BYTES: Readonly<Record<'decimal32' | 'decimal64' | 'decimal128' | 'uuid', { readonly code: number; readonly width: number }>> = {
  decimal32: { code: 0x74, width: 4 },
  decimal64: { code: 0x84, width: 8 },
  decimal128: { code: 0x94, width: 16 },
  uuid: { code: 0x98, width: 16 },
};

/** A variable-width encoding (§1.6.22–1.6.24): a length (one byte, or four), then the bytes. */
export interface VariableEncoding {
  readonly code8: number;
  readonly code32: number;
  /** how a string value is turned into its bytes; undefined for binary */
  readonly text: BufferEncoding | undefined;
  readonly read: (bytes: Buffer) => AmqpValue;
}

export const VARIABLE: Readonly<Record<'binary' | 'string' | 'symbol', VariableEncoding>> = {
  binary: { code8: 0xa0, code32: 0xb0, text: undefined, read: (bytes) => ({ type: 'binary', value: bytes }) },
  string: { code8: 0xa1, code32: 0xb1, text: 'utf8', read: (bytes) => ({ type: 'string', value: bytes.toString('utf8') }) },
  symbol: { code8: 0xa3, code32: 0xb3, text: 'ascii', read: (bytes) => ({ type: 'symbol', value: bytes.toString('ascii') }) },
};

/** §1.6.25–1.6.27: size and count (one byte each, or four), then the items. */
export const COMPOUND: Readonly<Record<'list' | 'map' | 'array', { readonly code8: number; readonly code32: number }>> = {
  list: { code8: 0xc0, code32: 0xd0 },
  map: { code8: 0xc1, code32: 0xd1 },
  array: { code8: 0xe0, code32: 0xf0 },
};

/** §1.6.1 null, §1.6.2 true/false, §1.6.7 uint0, §1.6.11 ulong0, §1.6.22 list0: the code is the whole value. */
export const ZERO_WIDTH = { null: 0x40, true: 0x41, false: 0x42, uint0: 0x43, ulong0: 0x44, list0: 0x45 } as const;

/** §1.6.2: the one-byte boolean, 0x00 false and 0x01 true; arrays of booleans use it. */
export const BOOLEAN = 0x56;

/** How the decoder reads the value after a code that is neither variable-width nor compound. */
export interface FixedReader {
  readonly width: number;
  readonly read: (b: Buffer, at: number) => AmqpValue;
}

/** a value made afresh at each read, as every other reader makes its own */
const constant = (make: () => AmqpValue): FixedReader => ({ width: 0, read: make });

/** The fixed-width readers by constructor code, built from the tables above. */
export const FIXED_READERS: readonly (FixedReader | undefined)[] = (() => {
  const t: (FixedReader | undefined)[] = new Array<FixedReader | undefined>(256).fill(undefined);
  const z = ZERO_WIDTH;
  t[z.null] = constant(() => ({ type: 'null' }));
  t[z.true] = constant(() => ({ type: 'boolean', value: true }));
  t[z.false] = constant(() => ({ type: 'boolean', value: false }));
  t[z.uint0] = constant(() => ({ type: 'uint', value: 0 }));
  t[z.ulong0] = constant(() => ({ type: 'ulong', value: 0n }));
  t[z.list0] = constant(() => ({ type: 'list', value: [] }));
  t[BOOLEAN] = {
    width: 1,
    read: (b, at) => {
      const v = b.readUInt8(at);
      if (v > 1) throw decodeError(`boolean byte ${v}`);
      return { type: 'boolean', value: v === 1 };
    },
  };
  const numbers = (type: NumberType | 'uint' | 'int', e: NumberEncoding): void => {
    t[e.code] = { width: e.width, read: (b, at) => ({ type, value: e.read(b, at) }) };
  };
  for (const [type, e] of Object.entries(NUMBER) as [NumberType, NumberEncoding][]) numbers(type, e);
  for (const [type, e] of Object.entries(SMALL_NUMBER) as ['uint' | 'int', NumberEncoding][]) numbers(type, e);
  const bigs = (type: BigType, e: FixedEncoding<bigint>): void => {
    t[e.code] = { width: e.width, read: (b, at) => ({ type, value: e.read(b, at) }) };
  };
  for (const [type, e] of Object.entries(BIG) as [BigType, FixedEncoding<bigint>][]) bigs(type, e);
  for (const [type, e] of Object.entries(SMALL_BIG) as ['ulong' | 'long', FixedEncoding<bigint>][]) bigs(type, e);
  for (const [type, e] of Object.entries(FIXED_BYTES) as [keyof typeof FIXED_BYTES, { code: number; width: number }][]) {
    t[e.code] = { width: e.width, read: (b, at) => ({ type, value: b.subarray(at, at + e.width) }) };
  }
  return t;
})();

/** The variable-width readers by constructor code, with the width of their length. */
export const VARIABLE_READERS: readonly ({ readonly wide: boolean; readonly read: (bytes: Buffer) => AmqpValue } | undefined)[] = (() => {
  const t = new Array<{ readonly wide: boolean; readonly read: (bytes: Buffer) => AmqpValue } | undefined>(256).fill(undefined);
  for (const e of Object.values(VARIABLE)) {
    t[e.code8] = { wide: false, read: e.read };
    t[e.code32] = { wide: true, read: e.read };
  }
  return t;
})();
