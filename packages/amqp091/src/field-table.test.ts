import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FerryError, TypedNumber, type HeaderValue, type Headers } from '@ferry/core';
import { fromFieldTable, headersToFieldTable } from './field-table.js';

// amqplib's own codec (not exported by the package): what goes on the wire for our field values.
const require = createRequire(import.meta.url);
const codec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
  encodeTable(buf: Buffer, val: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
};

function wire(headers: Headers): { bytes: Buffer; decoded: Record<string, unknown> } {
  const buf = Buffer.alloc(4096);
  const size = codec.encodeTable(buf, headersToFieldTable(headers), 0);
  const bytes = buf.subarray(0, size);
  return { bytes, decoded: codec.decodeFields(bytes.subarray(4)) };
}

/** the type tag written for a one-entry table with key `k` */
function tagOf(headers: Headers): string {
  const { bytes } = wire(headers);
  const keyLen = bytes[4] ?? 0;
  return String.fromCharCode(bytes[5 + keyLen] ?? 0);
}

describe('field tables: core header values → amqplib typed values', () => {
  it.each([
    [new TypedNumber('byte', -5), 'b'],
    [new TypedNumber('ubyte', 200), 'B'],
    [new TypedNumber('short', -300), 's'],
    [new TypedNumber('ushort', 60000), 'u'],
    [new TypedNumber('int', 5), 'I'],
    [new TypedNumber('uint', 4000000000), 'i'],
    [new TypedNumber('long', 5n), 'l'],
    [new TypedNumber('ulong', 7n), 'l'],
    [new TypedNumber('float', 1.5), 'f'],
    [new TypedNumber('double', 2), 'd'],
    [new TypedNumber('decimal', 12.34), 'D'],
    [12345678901234n, 'l'],
    [new Date(1_700_000_000_000), 'T'],
    [Buffer.from([1, 2, 3]), 'x'],
    [new Uint8Array([9]), 'x'],
    ['s', 'S'],
    [true, 't'],
    [null, 'V'],
    [[1, 'a'], 'A'],
    [{ nested: 1 }, 'F'],
    [7, 'b'], // width unknown: amqplib picks the smallest signed integer
    [1.25, 'd'],
  ] as const)('%p is written with tag %s', (value, tag) => {
    expect(tagOf(new Map([['k', value]]))).toBe(tag);
  });

  it('a value out of its type range falls back to the untyped encoding instead of throwing', () => {
    expect(tagOf(new Map([['k', new TypedNumber('ubyte', 300)]]))).toBe('s');
    expect(tagOf(new Map([['k', new TypedNumber('ulong', 2n ** 64n - 1n)]]))).toBe('S'); // no uint64 in field tables: exact digits
  });

  it('round-trips through amqplib: timestamps become Dates, decimals stay decimals, binary stays bytes, order kept', () => {
    const headers: Headers = new Map<string, HeaderValue>();
    headers.set('z-first', 'one');
    headers.set('when', new Date(1_700_000_000_000));
    headers.set('price', new TypedNumber('decimal', 12.34));
    headers.set('bin', Buffer.from('hi'));
    headers.set('list', [1, 'two', [true]]);
    headers.set('table', { a: { b: 'c' } });
    const back = fromFieldTable(wire(headers).decoded);
    expect([...back.keys()]).toEqual(['z-first', 'when', 'price', 'bin', 'list', 'table']);
    expect(back.get('when')).toEqual(new Date(1_700_000_000_000));
    expect(back.get('price')).toEqual(new TypedNumber('decimal', 12.34));
    expect(Buffer.from(back.get('bin') as Uint8Array).toString()).toBe('hi');
    expect(back.get('list')).toEqual([1, 'two', [true]]);
    expect(back.get('table')).toEqual({ a: { b: 'c' } });
  });

  it('drops the publish-id header on ingress', () => {
    expect([...fromFieldTable({ a: 1, 'x-ferry-publish-id': 'p.1' }, 'x-ferry-publish-id').keys()]).toEqual(['a']);
  });

  it('refuses what a field table cannot hold with a permanent error', () => {
    const long = 'k'.repeat(256);
    expect(() => headersToFieldTable(new Map([[long, 1]]))).toThrow(FerryError);
    expect(() => headersToFieldTable(new Map([['t', { '!': 'x' }]]))).toThrow(/"!"/);
    try {
      headersToFieldTable(new Map([[long, 1]]));
    } catch (err) {
      expect(FerryError.is(err, 'SINK_REJECTED') && err.permanent).toBe(true);
    }
  });
});
