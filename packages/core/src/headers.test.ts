import { NO_HEADERS, sharedHeaders, type Headers } from './headers.js';
import { withHops, withHopsShared } from './hops.js';
import { createMessage, withChanges } from './message.js';

const source = { connector: 'c', protocol: 'mqtt', address: 'a/b' } as const;

describe('shared message headers', () => {
  it('every message made without headers shares one empty map', () => {
    const a = createMessage({ body: Buffer.alloc(0), source });
    const b = createMessage({ body: Buffer.alloc(0), source });
    expect(a.headers).toBe(NO_HEADERS);
    expect(b.headers).toBe(a.headers);
    expect(a.headers.size).toBe(0);
  });

  it('refuses to change a shared map, so a cast cannot change every message that shares it', () => {
    // the readonly type is cast away on purpose: this is what the throwing methods guard
    const writable = NO_HEADERS as Headers;
    expect(() => writable.set('x', 'y')).toThrow(/shared message headers cannot be changed \(setting x\)/);
    expect(() => writable.delete('x')).toThrow(/deleting x/);
    expect(() => writable.clear()).toThrow(/clearing/);
    expect(NO_HEADERS.size).toBe(0);
    const two = sharedHeaders([['a', 1], ['b', 'two']]);
    expect([...two]).toEqual([['a', 1], ['b', 'two']]);
    expect(() => (two as Headers).set('a', 2)).toThrow(TypeError);
    expect(two.get('a')).toBe(1);
  });

  it('a copy of a shared map is an ordinary map', () => {
    const m = createMessage({ body: Buffer.alloc(0), source });
    const changed = withChanges(m, {});
    const copy = changed.headers as Headers;
    copy.set('x', 'y');
    expect(copy.get('x')).toBe('y');
    expect(NO_HEADERS.size).toBe(0);
    const hops = withHops(NO_HEADERS, 1);
    hops.set('extra', true);
    expect([...hops]).toEqual([['x-ferry-hops', 1], ['extra', true]]);
  });

  it('header-less messages share one hop map per hop count; others get their own copy', () => {
    const one = withHopsShared(NO_HEADERS, 1);
    expect([...one]).toEqual([['x-ferry-hops', 1]]);
    expect(withHopsShared(new Map(), 1)).toBe(one);
    expect(withHopsShared(NO_HEADERS, 2)).not.toBe(one);
    expect([...withHopsShared(NO_HEADERS, 2)]).toEqual([['x-ferry-hops', 2]]);
    expect(() => (one as Headers).set('x-ferry-hops', 9)).toThrow(TypeError);
    const own = new Map([['k', 'v']]);
    const copied = withHopsShared(own, 1);
    expect([...copied]).toEqual([['k', 'v'], ['x-ferry-hops', 1]]);
    expect(own.has('x-ferry-hops')).toBe(false);
    // a count outside the cached range is still right, in a map of its own
    expect([...withHopsShared(NO_HEADERS, 1000)]).toEqual([['x-ferry-hops', 1000]]);
  });
});
