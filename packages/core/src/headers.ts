/**
 * Header values with their types.
 *
 * AMQP 0-9-1 field tables and AMQP 1.0 application-properties carry typed values (int, long,
 * ubyte, timestamp, ...); MQTT user properties and STOMP headers carry only strings. The
 * canonical message keeps the richest form it was given, so an AMQP → AMQP path keeps the
 * types, and string-only protocols convert with {@link headerToString}.
 *
 * - `string`, `boolean`, `null`, `Uint8Array` (binary), `Date` (timestamp) are themselves.
 * - a plain `number` is a value whose wire width was not known (JSON-like); an integer is
 *   written as the smallest fitting signed integer type by typed protocols, else a double.
 * - `bigint` is a 64-bit integer.
 * - {@link TypedNumber} keeps an exact AMQP numeric type (ubyte, short, int, float, ...).
 * - arrays and {@link HeaderTable}s nest.
 */
export type NumericType =
  | 'byte'
  | 'ubyte'
  | 'short'
  | 'ushort'
  | 'int'
  | 'uint'
  | 'long'
  | 'ulong'
  | 'float'
  | 'double'
  | 'decimal';

export class TypedNumber {
  constructor(
    readonly type: NumericType,
    readonly value: number | bigint,
  ) {}

  toString(): string {
    return String(this.value);
  }
}

export interface HeaderTable {
  readonly [name: string]: HeaderValue;
}

export type HeaderValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Date
  | TypedNumber
  | readonly HeaderValue[]
  | HeaderTable;

/** Ordered headers: a Map keeps insertion order, which protocols that care about order preserve. */
export type Headers = Map<string, HeaderValue>;

/**
 * A message's headers, which nothing changes once the message is made: a route that changes
 * headers writes a copy. So messages can share one map (every message without headers shares
 * {@link NO_HEADERS}), and a message kept in flight holds no map of its own.
 */
export type ReadonlyHeaders = ReadonlyMap<string, HeaderValue>;

/**
 * A header map shared between messages. Its set/delete/clear throw, so code that casts the
 * readonly type away and writes to it fails at once instead of changing every message that
 * shares it.
 */
class SharedHeaders extends Map<string, HeaderValue> {
  override set(name: string): this {
    throw new TypeError(`shared message headers cannot be changed (setting ${name}): copy them first`);
  }

  override delete(name: string): boolean {
    throw new TypeError(`shared message headers cannot be changed (deleting ${name}): copy them first`);
  }

  override clear(): void {
    throw new TypeError('shared message headers cannot be changed (clearing them): copy them first');
  }
}

/** A shared, unchangeable header map holding `entries`. */
export function sharedHeaders(entries: Iterable<readonly [string, HeaderValue]>): ReadonlyHeaders {
  const map = new SharedHeaders();
  // Map.prototype.set, not the override: the map is filled once, here
  for (const [name, value] of entries) Map.prototype.set.call(map, name, value);
  return map;
}

/** The headers of every message that has none: one map, shared, never changed. */
export const NO_HEADERS: ReadonlyHeaders = sharedHeaders([]);

export function isHeaderTable(v: HeaderValue): v is HeaderTable {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Date) &&
    !(v instanceof TypedNumber)
  );
}

/**
 * The string form of a header value for string-only protocols (MQTT user properties, STOMP
 * headers) and templates. Binary is base64, a timestamp ISO 8601, tables and arrays JSON.
 * The conversion is documented in docs/mapping.md.
 */
export function headerToString(v: HeaderValue): string {
  if (typeof v === 'string') return v;
  if (v === null) return '';
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof TypedNumber) return String(v.value);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (x instanceof TypedNumber) return typeof x.value === 'bigint' ? x.value.toString() : x.value;
    if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
    return x;
  });
}
