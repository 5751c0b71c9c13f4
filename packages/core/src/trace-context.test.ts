import { TypedNumber } from './headers.js';
import { hopsOf, withHops } from './hops.js';
import { newTraceParent, parseTraceParent, startTrace } from './trace-context.js';

describe('W3C traceparent', () => {
  it('parses version 00 and a later version with more fields; refuses what §3.2 calls invalid', () => {
    expect(parseTraceParent('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')).toEqual({
      version: '00',
      traceId: '0af7651916cd43dd8448eb211c80319c',
      parentId: 'b7ad6b7169203331',
      flags: '01',
    });
    expect(parseTraceParent('cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-holds')?.version).toBe('cc');
    for (const bad of [
      'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', // version ff
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x', // 00 with a fifth field
      '00-00000000000000000000000000000000-b7ad6b7169203331-01', // zero trace-id
      '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', // zero parent-id
      '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01', // upper case
      '00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01', // short parent-id
      '',
    ]) {
      expect(parseTraceParent(bad)).toBeUndefined();
    }
  });

  it('a new traceparent is valid, sampled or not', () => {
    const s = newTraceParent(true);
    expect(parseTraceParent(s)?.flags).toBe('01');
    expect(parseTraceParent(newTraceParent(false))?.flags).toBe('00');
    expect(newTraceParent(true, (n) => Buffer.alloc(n))).toBe(`00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`);
  });

  it('startTrace keeps a valid traceparent and its tracestate, replaces an invalid or missing one and drops the tracestate', () => {
    const valid = new Map([['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'], ['tracestate', 'a=b']]);
    expect(startTrace(valid, true)).toBe(valid);
    const bad = new Map([['traceparent', 'garbage'], ['tracestate', 'a=b'], ['k', 'v']]);
    const out = startTrace(bad, true);
    expect(parseTraceParent(out.get('traceparent') as string)).toBeDefined();
    expect(out.has('tracestate')).toBe(false);
    expect(out.get('k')).toBe('v');
    expect(bad.get('traceparent')).toBe('garbage');
  });
});

describe('hop count', () => {
  it('reads numbers of any width and decimal text; anything else is 0', () => {
    expect(hopsOf(new Map())).toBe(0);
    expect(hopsOf(new Map([['x-ferry-hops', 3]]))).toBe(3);
    expect(hopsOf(new Map([['x-ferry-hops', '4']]))).toBe(4);
    expect(hopsOf(new Map([['x-ferry-hops', new TypedNumber('ubyte', 5)]]))).toBe(5);
    expect(hopsOf(new Map([['x-ferry-hops', 6n]]))).toBe(6);
    expect(hopsOf(new Map([['x-ferry-hops', 'many']]))).toBe(0);
    expect(hopsOf(new Map([['x-ferry-hops', -2]]))).toBe(0);
    const h = new Map([['a', 'b']]);
    expect([...withHops(h, 2)]).toEqual([['a', 'b'], ['x-ferry-hops', 2]]);
    expect(h.has('x-ferry-hops')).toBe(false);
  });
});
