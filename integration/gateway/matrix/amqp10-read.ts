/**
 * Reads a received AMQP 1.0 message from its encoded bytes with rhea's own type reader
 * (lib/types.js Reader), independently of Ferry's codec: every value with the AMQP type it was
 * encoded as (§1.6), section by section (§3.2). rhea's decoded message would hide the types
 * (a ubyte, an int and a long all become one JS number).
 */
import rhea from 'rhea';

/** A value as the wire had it: its AMQP type name and the JS value rhea read. */
export interface Wire {
  readonly type: string;
  readonly value: unknown;
}

export interface Amqp10Sections {
  /** header fields by name (§3.2.1), only those present (not null) */
  readonly header: Readonly<Record<string, Wire>>;
  readonly deliveryAnnotations: boolean;
  readonly messageAnnotations: boolean;
  /** properties by name (§3.2.4), only those present */
  readonly properties: Readonly<Record<string, Wire>>;
  readonly applicationProperties: Readonly<Record<string, Wire>>;
  readonly data: readonly Buffer[];
  /** amqp-value / amqp-sequence sections: a sink that must send one data section never should */
  readonly otherBodySections: number;
  readonly footer: boolean;
}

/** AMQP 1.0 type of an encoding code (§1.6.*), for the codes a message's values use. */
const TYPE_OF_CODE: Readonly<Record<number, string>> = {
  0x40: 'null', 0x41: 'boolean', 0x42: 'boolean', 0x56: 'boolean',
  0x50: 'ubyte', 0x51: 'byte', 0x60: 'ushort', 0x61: 'short',
  0x70: 'uint', 0x52: 'uint', 0x43: 'uint', 0x71: 'int', 0x54: 'int',
  0x80: 'ulong', 0x53: 'ulong', 0x44: 'ulong', 0x81: 'long', 0x55: 'long',
  0x72: 'float', 0x82: 'double', 0x83: 'timestamp', 0x98: 'uuid',
  0xa0: 'binary', 0xb0: 'binary', 0xa1: 'string', 0xb1: 'string', 0xa3: 'symbol', 0xb3: 'symbol',
};

const HEADER_FIELDS = ['durable', 'priority', 'ttl', 'first-acquirer', 'delivery-count'] as const;
const PROPERTY_FIELDS = [
  'message-id', 'user-id', 'to', 'subject', 'reply-to', 'correlation-id', 'content-type', 'content-encoding',
  'absolute-expiry-time', 'creation-time', 'group-id', 'group-sequence', 'reply-to-group-id',
] as const;

/** rhea's Typed (its typings leave the Reader and its values out) */
interface Typed {
  readonly type: { readonly typecode: number };
  readonly value: unknown;
  readonly descriptor?: { readonly value: unknown };
}

function wire(t: Typed): Wire {
  return { type: TYPE_OF_CODE[t.type.typecode] ?? `0x${t.type.typecode.toString(16)}`, value: t.value };
}

function fields(names: readonly string[], list: unknown): Record<string, Wire> {
  const out: Record<string, Wire> = {};
  (list as Typed[]).forEach((t, i) => {
    const name = names[i];
    if (name !== undefined && t.type.typecode !== 0x40) out[name] = wire(t);
  });
  return out;
}

export function readAmqp10(raw: Buffer): Amqp10Sections {
  const { Reader } = rhea.types as unknown as { Reader: new (b: Buffer) => { remaining(): number; read(): Typed } };
  const reader = new Reader(raw);
  let header: Record<string, Wire> = {};
  let properties: Record<string, Wire> = {};
  const applicationProperties: Record<string, Wire> = {};
  const data: Buffer[] = [];
  let deliveryAnnotations = false;
  let messageAnnotations = false;
  let otherBodySections = 0;
  let footer = false;
  while (reader.remaining() > 0) {
    const s = reader.read();
    switch (Number(s.descriptor?.value)) {
      case 0x70:
        header = fields(HEADER_FIELDS, s.value);
        break;
      case 0x71:
        deliveryAnnotations = true;
        break;
      case 0x72:
        messageAnnotations = true;
        break;
      case 0x73:
        properties = fields(PROPERTY_FIELDS, s.value);
        break;
      case 0x74: {
        const kv = s.value as Typed[];
        for (let i = 0; i + 1 < kv.length; i += 2) applicationProperties[String(kv[i]!.value)] = wire(kv[i + 1]!);
        break;
      }
      case 0x75:
        data.push(Buffer.from(s.value as Buffer));
        break;
      case 0x76:
      case 0x77:
        otherBodySections++;
        break;
      case 0x78:
        footer = true;
        break;
    }
  }
  return { header, deliveryAnnotations, messageAnnotations, properties, applicationProperties, data, otherBodySections, footer };
}

const rawOf = new WeakMap<object, Buffer>();
let installed = false;

/**
 * Remember the bytes of every message rhea decodes in this process, so a test receiver can read
 * them (rhea hands the encoded message to no handler). Ferry's own amqp10 connectors wrap the
 * same function for the same reason (packages/amqp10/src/rhea-seam.ts); the two wrappers chain.
 */
export function captureRaw(): void {
  if (installed) return;
  installed = true;
  const util: { decode: (typeof rhea.message)['decode'] } = rhea.message;
  const original = util.decode;
  util.decode = (buffer: Buffer) => {
    const msg = original.call(util, buffer);
    rawOf.set(msg, buffer);
    return msg;
  };
}

export function rawMessage(message: object): Buffer | undefined {
  return rawOf.get(message);
}
