/** The AMQP 1.0 encoder (§1.6): each value with the smallest encoding of its exact type. */
import { FerryError } from '@ferry/core';
import type { AmqpValue } from './amqp-value.js';

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
