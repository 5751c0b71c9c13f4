import rhea from 'rhea';
import { dataSection } from '../test/rhea-message.js';
import { scanValue, scanValues } from './bounded-scan.js';
import { encode, str, sym, type AmqpValue } from './codec.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const fails = (b: Buffer): string => {
  try {
    scanValues(b);
  } catch (e) {
    return (e as Error).message;
  }
  return 'passed';
};

describe('scanValues: a region of N bytes decodes to at most N values', () => {
  it('passes what encoders write: rhea messages with every section, Ferry-encoded arrays, maps and described values', () => {
    const t = rhea.types;
    const msg = rhea.message.encode({
      message_id: 'm1',
      durable: true,
      application_properties: { a: t.wrap_ubyte(1), b: t.wrap_long(-1), c: 'x', d: t.wrap_array([1, 2, 3], 0x71, undefined) },
      message_annotations: { 'x-opt': t.wrap_symbol('s') },
      body: dataSection(Buffer.alloc(300, 7)),
    });
    expect(() => scanValues(msg)).not.toThrow();
    const values: AmqpValue[] = [
      { type: 'array', value: [{ type: 'null' }, { type: 'null' }, { type: 'null' }] },
      { type: 'array', value: Array.from({ length: 300 }, (_, i) => sym(`s${i}`)) },
      { type: 'map', value: [[str('k'), { type: 'list', value: [{ type: 'boolean', value: true }, { type: 'ulong', value: 1n << 40n }] }]] },
      { type: 'described', descriptor: { type: 'ulong', value: 0x75n }, value: { type: 'binary', value: Buffer.alloc(70_000) } },
    ];
    const all = Buffer.concat(values.map(encode));
    expect(() => scanValues(all)).not.toThrow();
    expect(scanValue(all)).toBe(encode(values[0] as AmqpValue).length);
  });

  it.each([
    ['array32 of 4,294,967,295 nulls', 'f0 00000005 ffffffff 40'],
    ['array8 of 255 nulls in 4 bytes', 'e0 02 ff 40'],
    ['array32 of uint0 larger than the region', 'f0 00000005 00000010 43'],
    ['array of fixed-width ints whose bytes do not add up', 'f0 00000009 00000003 71 00000001'],
    ['list32 of 4,294,967,295 items', 'd0 00000004 ffffffff'],
    ['list8 with more items than bytes', 'c0 03 05 40 40'],
    ['map with an odd count', 'c1 04 03 40 40 40'],
    ['map32 of 5×10⁷ entries', 'd1 00000008 02faf080 40404040'],
    ['a string longer than the region', 'a1 10 616263'],
    ['a size past the end', 'd0 00001000 00000001 40'],
    ['a list whose items overrun its size', 'c0 02 01 a1 05 6162636465'],
    ['an unknown type code', '33'],
    ['a descriptor of a descriptor', '00 00 53 10 40'],
    ['a data section whose vbin8 runs past the region', '00 53 75 a0 05 616263'],
    ['a data section whose vbin32 runs past the region', '00 53 75 b0 00000005 616263'],
    ['a data section whose vbin32 size is cut off', '00 53 75 b0 0000'],
    ['a whole data section, then one cut off', '00 53 75 a0 01 61 00 53 75 a0 02 61'],
    ['empty header and properties, then a data section cut off', '00 53 70 45 00 53 73 45 00 53 75 b0 00000100 6161'],
    ['an empty header, then an unknown type code', '00 53 70 45 33'],
    ['an empty header, then nulls in an array past the budget', '00 53 70 45 e0 02 ff 40'],
    ['a described empty list cut off', '00 53 70'],
  ])('%s: decode error', (_name, h) => {
    expect(fails(hex(h))).toMatch(/AMQP 1.0 decode error/);
  });

  it('data sections in every descriptor and binary encoding pass, alone and beside other sections', () => {
    expect(fails(hex('00 53 75 a0 00'))).toBe('passed');
    expect(fails(hex('00 53 75 a0 03 616263 00 53 75 b0 00000002 6465'))).toBe('passed');
    // the descriptor as a ulong (0x80), a header before, a footer map after
    expect(fails(hex('00 53 70 45 00 80 0000000000000075 a0 01 61 00 53 75 a0 01 62 00 53 78 c1 01 00'))).toBe('passed');
    // empty header and properties as rhea writes them (list0), then a data section
    expect(fails(hex('00 53 70 45 00 53 73 45 00 53 75 a0 02 6162'))).toBe('passed');
    // a binary under another descriptor is a value like any other
    expect(fails(hex('00 53 77 a0 02 6162'))).toBe('passed');
  });

  it('zero-width array elements are charged against the whole region: nested arrays cannot multiply', () => {
    // 200 arrays of 250 nulls each: 50,000 values from about 2 KB
    const inner = Array.from({ length: 200 }, () => hex('e0 02 fa 40'));
    const body = Buffer.concat(inner);
    const list = Buffer.concat([hex('d0'), Buffer.from([0, 0, (body.length + 4) >> 8, (body.length + 4) & 0xff]), hex('000000c8'), body]);
    expect(fails(list)).toMatch(/more values than bytes/);
    // a few nulls in an array, within the budget, are fine (§1.6.24 allows them)
    expect(fails(hex('c0 05 01 e0 02 02 40'))).toBe('passed');
  });

  it('bounds nesting depth', () => {
    let v = hex('45');
    for (let i = 0; i < 100; i++) {
      const h = Buffer.alloc(9);
      h[0] = 0xd0;
      h.writeUInt32BE(v.length + 4, 1);
      h.writeUInt32BE(1, 5);
      v = Buffer.concat([h, v]);
    }
    expect(fails(v)).toMatch(/nesting deeper/);
  });
});
