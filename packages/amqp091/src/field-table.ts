import { FerryError, TypedNumber, isHeaderTable, type HeaderValue, type Headers, type ReadonlyHeaders } from '@ferry/core';

/**
 * AMQP 0-9-1 field tables ⇄ core header values.
 *
 * Field-table value types are those RabbitMQ uses (AMQP 0-9-1 errata, "field table types"):
 * t bool, b/B (u)int8, s/u (u)int16, I/i (u)int32, l int64, f float, d double, D decimal,
 * S long string, T timestamp, V void, x byte array, A array, F table.
 *
 * Incoming: amqplib 2.3.1 decodes every integer tag (b B s u I i l) and `f`/`d` to a plain JS
 * number and drops the tag, so the wire width cannot be known: those become plain `number`s
 * (core: "width not known"). On the way out amqplib encodes such a number as the smallest
 * signed integer that fits (b, s, I, l) or as a double, which is what it would do for any
 * amqplib relay. Timestamps (`T`) and decimals (`D`) keep their type (`Date`,
 * `TypedNumber('decimal')`), byte arrays become Buffers.
 *
 * Outgoing: typed values (TypedNumber, bigint, Date, binary) are written with amqplib's typed
 * form `{ '!': type, value }` (lib/codec.js), so an AMQP 1.0 `ubyte` stays `B` and a timestamp
 * stays `T`. A value out of its type's range falls back to the untyped encoding rather than
 * failing inside the codec.
 */

/** amqplib's typed-value form (lib/codec.js `encodeFieldValue`, "a trapdoor for specifying a type"). */
interface TypedFieldValue {
  readonly '!': string;
  readonly value: unknown;
}

type FieldValue =
  | string
  | number
  | boolean
  | null
  | Buffer
  | TypedFieldValue
  | readonly FieldValue[]
  | { readonly [key: string]: FieldValue };

export type FieldTable = Record<string, FieldValue>;

function isTyped(v: object): v is TypedFieldValue {
  return Object.hasOwn(v, '!') && typeof (v as { '!': unknown })['!'] === 'string' && Object.hasOwn(v, 'value');
}

/** One decoded amqplib field value → a core header value. */
function fromFieldValue(v: unknown): HeaderValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return new TypedNumber('long', v);
  if (Buffer.isBuffer(v)) return Buffer.from(v); // a copy: the decoded value is a view into the frame buffer
  if (Array.isArray(v)) return v.map((x: unknown) => fromFieldValue(x));
  if (typeof v === 'object') {
    if (isTyped(v)) {
      const value: unknown = v.value;
      if (v['!'] === 'timestamp' && typeof value === 'number') return new Date(value * 1000); // AMQP timestamps are seconds
      if (v['!'] === 'decimal' && typeof value === 'object' && value !== null) {
        const { places, digits } = value as { places?: unknown; digits?: unknown };
        if (typeof places === 'number' && typeof digits === 'number') return new TypedNumber('decimal', digits / 10 ** places);
      }
    }
    const out: Record<string, HeaderValue> = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromFieldValue(x);
    return out;
  }
  // What is left (a symbol, a function) is nothing amqplib's codec decodes: name its kind rather
  // than print a function's source into a header.
  return typeof v;
}

/** The decoded headers table of a message → ordered core headers. */
export function fromFieldTable(table: Readonly<Record<string, unknown>> | undefined, skip?: string): Headers {
  const headers: Headers = new Map();
  if (table === undefined) return headers;
  // for-in over the decoded table (a plain object of amqplib's, own enumerable keys only, in
  // insertion order for string keys): no array of entries per delivery
  for (const k in table) {
    if (k === skip || !Object.hasOwn(table, k)) continue;
    headers.set(k, fromFieldValue(table[k]));
  }
  return headers;
}

const RANGES: Readonly<Record<string, readonly [number, number]>> = {
  byte: [-0x80, 0x7f],
  ubyte: [0, 0xff],
  short: [-0x8000, 0x7fff],
  ushort: [0, 0xffff],
  int: [-0x80000000, 0x7fffffff],
  uint: [0, 0xffffffff],
};

/** amqplib's names for the integer tags (lib/codec.js). */
const AMQPLIB_INT: Readonly<Record<string, string>> = {
  byte: 'byte',
  ubyte: 'unsignedbyte',
  short: 'short',
  ushort: 'unsignedshort',
  int: 'int',
  uint: 'unsignedint',
};

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function typedNumber(n: TypedNumber): FieldValue {
  const { type, value } = n;
  const range = RANGES[type];
  if (range !== undefined) {
    const num = Number(value);
    if (Number.isInteger(num) && num >= range[0] && num <= range[1]) return { '!': AMQPLIB_INT[type] ?? type, value: num };
    return untypedNumber(value);
  }
  switch (type) {
    case 'long':
    case 'ulong': {
      // RabbitMQ field tables have no unsigned 64-bit type; an ulong that fits int64 goes as `l`.
      let big: bigint | undefined;
      try {
        big = BigInt(value);
      } catch {
        big = undefined;
      }
      if (big !== undefined && big >= INT64_MIN && big <= INT64_MAX) return { '!': 'long', value: big };
      return untypedNumber(value);
    }
    case 'float':
      return { '!': 'float', value: Number(value) };
    case 'double':
      return { '!': 'double', value: Number(value) };
    case 'decimal':
      return decimal(Number(value));
  }
  return untypedNumber(value);
}

function untypedNumber(value: number | bigint): FieldValue {
  if (typeof value === 'bigint') {
    if (value >= INT64_MIN && value <= INT64_MAX) return { '!': 'long', value };
    // beyond int64: no field-table integer can hold it; keep its digits exactly as a string
    return value.toString();
  }
  return value;
}

/** AMQP decimal: `places` (octet) decimal places and an unsigned 32-bit `digits`. */
function decimal(n: number): FieldValue {
  if (Number.isFinite(n) && n >= 0) {
    for (let places = 0; places <= 10; places++) {
      const digits = Math.round(n * 10 ** places);
      if (digits > 0xffffffff) break;
      if (Math.abs(digits / 10 ** places - n) < Number.EPSILON * Math.max(1, n)) return { '!': 'decimal', value: { places, digits } };
    }
  }
  return { '!': 'double', value: n };
}

/** One core header value → amqplib's field value. Throws FerryError (permanent) when it cannot be encoded. */
function toFieldValue(v: HeaderValue, path: string): FieldValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return untypedNumber(v);
  if (v instanceof TypedNumber) return typedNumber(v);
  if (v instanceof Date) return { '!': 'timestamp', value: Math.floor(v.getTime() / 1000) };
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return (v as readonly HeaderValue[]).map((x, i) => toFieldValue(x, `${path}[${i}]`));
  if (isHeaderTable(v)) return toFieldTable(Object.entries(v), path);
  throw new FerryError('SINK_REJECTED', `header ${path}: value cannot be written to an AMQP field table`, { permanent: true });
}

function toFieldTable(entries: Iterable<[string, HeaderValue]>, path: string): FieldTable {
  const out: FieldTable = {};
  for (const [k, x] of entries) {
    const p = path === '' ? k : `${path}.${k}`;
    // Field-table keys are shortstr: at most 255 bytes (AMQP 0-9-1 §4.2.5.3).
    // (a key of 85 UTF-16 units or fewer is at most 255 bytes: no unit takes more than 3)
    if (k.length > 85 && Buffer.byteLength(k) > 255) {
      throw new FerryError('SINK_REJECTED', `header ${p}: name longer than 255 bytes (AMQP 0-9-1 field names are shortstr)`, { permanent: true });
    }
    // amqplib reads a table that has its own '!' key as a typed value: it cannot be written as a table.
    if (k === '!' && path !== '') {
      throw new FerryError('SINK_REJECTED', `header ${path}: a nested table with a key "!" cannot be encoded by amqplib`, { permanent: true });
    }
    out[k] = toFieldValue(x, p);
  }
  return out;
}

/** Core headers → the `headers` field table of basic properties. */
export function headersToFieldTable(headers: ReadonlyHeaders): FieldTable {
  return toFieldTable(headers.entries(), '');
}
