import { SparseMap } from './sparse.js';

describe('SparseMap', () => {
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
});
