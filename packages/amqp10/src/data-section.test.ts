import { dataSectionEnd, dataSectionStart } from './data-section.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('dataSectionEnd / dataSectionStart: a data section (§3.2.6) as 00 53 75 and a vbin8 or vbin32', () => {
  it.each([
    ['vbin8', '00 53 75 a0 03 616263', 5],
    ['vbin8, empty', '00 53 75 a0 00', 5],
    ['vbin32', '00 53 75 b0 00000002 6465', 8],
  ])('%s: the binary\'s bounds', (_name, h, start) => {
    const b = Buffer.concat([hex('45'), hex(h), hex('45')]);
    const end = dataSectionEnd(b, 1, b.length);
    expect(end).toBe(b.length - 1);
    expect(dataSectionStart(b, 1)).toBe(1 + start);
    expect(b.subarray(dataSectionStart(b, 1), end)).toEqual(hex(h).subarray(start));
  });

  it.each([
    ['a vbin8 past the end', '00 53 75 a0 05 616263'],
    ['a vbin32 past the end', '00 53 75 b0 00000005 616263'],
    ['a vbin32 size cut off', '00 53 75 b0 0000'],
    ['a string in the section', '00 53 75 a1 01 61'],
    ['another descriptor', '00 53 77 a0 01 61'],
    ['the descriptor as a ulong', '00 80 0000000000000075 a0 01 61'],
    ['four bytes only', '00 53 75 a0'],
  ])('%s: -1', (_name, h) => {
    expect(dataSectionEnd(hex(h), 0, hex(h).length)).toBe(-1);
  });

  it('ends within the region it is given, not the buffer', () => {
    const b = hex('00 53 75 a0 03 616263');
    expect(dataSectionEnd(b, 0, b.length - 1)).toBe(-1);
    expect(dataSectionEnd(b, 0, b.length)).toBe(b.length);
  });
});
