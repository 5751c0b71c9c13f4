/**
 * AMQP 1.0 typed values ⇄ canonical header values (packages/core/src/headers.ts).
 * The table is docs/mapping/amqp10.md §"Application properties".
 */
import { isHeaderTable, TypedNumber, headerToString, type HeaderValue, type NumericType } from '@ferry/core';
import { uuidToString, type AmqpValue } from './codec.js';

/** AMQP 1.0 value → canonical: numbers keep their AMQP type in a TypedNumber. */
export function toHeaderValue(v: AmqpValue): HeaderValue {
  switch (v.type) {
    case 'null':
      return null;
    case 'boolean':
      return v.value;
    case 'ubyte':
    case 'ushort':
    case 'uint':
    case 'byte':
    case 'short':
    case 'int':
    case 'float':
    case 'double':
    case 'ulong':
    case 'long':
      return new TypedNumber(v.type, v.value);
    case 'timestamp':
      return new Date(Number(v.value));
    case 'char':
      return String.fromCodePoint(v.value);
    case 'uuid':
      return uuidToString(v.value);
    case 'binary':
    case 'decimal32':
    case 'decimal64':
    case 'decimal128':
      return v.value;
    case 'string':
    case 'symbol':
      return v.value;
    case 'list':
    case 'array':
      return v.value.map(toHeaderValue);
    case 'map': {
      const t: Record<string, HeaderValue> = {};
      for (const [k, x] of v.value) t[keyString(k)] = toHeaderValue(x);
      return t;
    }
    case 'described':
      return toHeaderValue(v.value);
  }
}

function keyString(k: AmqpValue): string {
  const h = toHeaderValue(k);
  return headerToString(h);
}

function numeric(type: NumericType, value: number | bigint): AmqpValue {
  switch (type) {
    case 'ulong':
    case 'long':
      return { type, value: BigInt(value) };
    case 'decimal':
      // AMQP 1.0 decimals are IEEE 754-2008 decimal encodings; 0-9-1's decimal has no exact
      // counterpart here, so it travels as a double (documented as lossy)
      return { type: 'double', value: Number(value) };
    default:
      return { type, value: Number(value) };
  }
}

/** A plain number: the smallest fitting signed integer type, else a double (core/headers.ts). */
function plainNumber(n: number): AmqpValue {
  if (!Number.isInteger(n)) return { type: 'double', value: n };
  if (n >= -128 && n <= 127) return { type: 'byte', value: n };
  if (n >= -32768 && n <= 32767) return { type: 'short', value: n };
  if (n >= -0x80000000 && n <= 0x7fffffff) return { type: 'int', value: n };
  if (Number.isSafeInteger(n)) return { type: 'long', value: BigInt(n) };
  return { type: 'double', value: n };
}

/**
 * Canonical → AMQP 1.0. `simple` restricts the result to the simple types application
 * properties allow (§3.2.5: "excluding map, list, and array types"): nested values become
 * their JSON text.
 */
export function toAmqpValue(h: HeaderValue, simple: boolean): AmqpValue {
  if (h === null) return { type: 'null' };
  if (typeof h === 'string') return { type: 'string', value: h };
  if (typeof h === 'boolean') return { type: 'boolean', value: h };
  if (typeof h === 'number') return plainNumber(h);
  if (typeof h === 'bigint') {
    return h >= -0x8000000000000000n && h <= 0x7fffffffffffffffn ? { type: 'long', value: h } : h > 0n && h <= 0xffffffffffffffffn ? { type: 'ulong', value: h } : { type: 'string', value: h.toString() };
  }
  if (h instanceof TypedNumber) return numeric(h.type, h.value);
  if (h instanceof Date) return { type: 'timestamp', value: BigInt(h.getTime()) };
  if (h instanceof Uint8Array) return { type: 'binary', value: Buffer.from(h.buffer, h.byteOffset, h.byteLength) };
  if (simple) return { type: 'string', value: headerToString(h) };
  if (Array.isArray(h)) return { type: 'list', value: (h as readonly HeaderValue[]).map((x) => toAmqpValue(x, false)) };
  if (isHeaderTable(h)) {
    return { type: 'map', value: Object.entries(h).map(([k, x]) => [{ type: 'string', value: k }, toAmqpValue(x, false)] as const) };
  }
  return { type: 'string', value: headerToString(h) };
}
