import { OneEntryMap } from './one-entry-map.js';

type Op = readonly ['set', string, number] | readonly ['delete', string];

/** the same operations on a OneEntryMap and a Map must give the same answers and contents */
function both(ops: readonly Op[]): void {
  const m = new OneEntryMap<string, number>();
  const ref = new Map<string, number>();
  for (const op of ops) {
    if (op[0] === 'set') {
      m.set(op[1], op[2]);
      ref.set(op[1], op[2]);
    } else {
      expect(m.delete(op[1])).toBe(ref.delete(op[1]));
    }
    expect(m.size).toBe(ref.size);
    expect([...m.keys()]).toEqual([...ref.keys()]);
    expect([...m.values()]).toEqual([...ref.values()]);
    for (const k of ['a', 'b', 'c', 'x']) {
      expect(m.has(k)).toBe(ref.has(k));
      expect(m.get(k)).toBe(ref.get(k));
    }
  }
}

describe('OneEntryMap', () => {
  it('is empty when made', () => {
    both([]);
  });

  it('holds one entry, replaces its value, and forgets it', () => {
    both([['set', 'a', 1], ['set', 'a', 2], ['delete', 'b'], ['delete', 'a'], ['delete', 'a'], ['set', 'b', 3]]);
  });

  it('keeps the insertion order when a second entry comes, and after deletes', () => {
    both([['set', 'b', 1], ['set', 'a', 2], ['set', 'c', 3], ['set', 'b', 4], ['delete', 'a'], ['delete', 'b'], ['delete', 'c'], ['set', 'x', 5], ['set', 'a', 6]]);
  });

  it('lets an entry be deleted while its keys are iterated', () => {
    const m = new OneEntryMap<string, number>().set('a', 1);
    for (const k of m.keys()) m.delete(k);
    expect(m.size).toBe(0);
  });
});
