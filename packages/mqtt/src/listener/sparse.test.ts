import { SparseMap, SparseSet } from './sparse.js';

describe('SparseMap and SparseSet', () => {
  it('SparseMap answers as a Map does, before its first entry, with entries, and after clear', () => {
    const m = new SparseMap<number, string>();
    expect([m.size, m.get(1), m.has(1), m.delete(1), [...m], [...m.values()]]).toEqual([0, undefined, false, false, [], []]);
    m.set(2, 'b').set(1, 'a');
    expect([m.size, m.get(1), m.has(2), [...m], [...m.values()]]).toEqual([2, 'a', true, [[2, 'b'], [1, 'a']], ['b', 'a']]);
    // deleting while iterating, as the session does when it takes messages back
    for (const [k] of m) m.delete(k);
    expect(m.size).toBe(0);
    m.set(3, 'c');
    m.clear();
    expect([m.size, m.get(3), [...m]]).toEqual([0, undefined, []]);
    m.set(4, 'd');
    expect([...m]).toEqual([[4, 'd']]);
  });

  it('SparseSet answers as a Set does, before its first entry, with entries, and after clear', () => {
    const s = new SparseSet<number>();
    expect([s.size, s.has(1), s.delete(1)]).toEqual([0, false, false]);
    s.add(1).add(2).add(1);
    expect([s.size, s.has(1), s.has(3)]).toEqual([2, true, false]);
    expect(s.delete(1)).toBe(true);
    expect([s.size, s.has(1)]).toEqual([1, false]);
    s.clear();
    expect([s.size, s.has(2)]).toEqual([0, false]);
  });
});
