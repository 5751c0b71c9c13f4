/** The AMQP 1.0 value model (§1.6): every value with its exact type, as the codec reads and writes it. */
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

export const str = (value: string): AmqpValue => ({ type: 'string', value });
export const sym = (value: string): AmqpValue => ({ type: 'symbol', value });
const ulong = (value: number | bigint): AmqpValue => ({ type: 'ulong', value: BigInt(value) });
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
