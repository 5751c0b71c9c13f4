import { IdTable } from './id-table.js';

/** a small deterministic generator, so a failure repeats */
function lcg(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('IdTable', () => {
  it('answers as a Map does before its first entry, with entries, and after clear', () => {
    const t = new IdTable<string>();
    expect([t.size, t.get(1), t.has(1), t.delete(1), t.entries()]).toEqual([0, undefined, false, false, []]);
    t.set(2, 'b');
    t.set(1, 'a');
    t.set(2, 'B');
    expect([t.size, t.get(1), t.get(2), t.has(3)]).toEqual([2, 'a', 'B', false]);
    expect(t.entries().sort((x, y) => x[0] - y[0])).toEqual([
      [1, 'a'],
      [2, 'B'],
    ]);
    t.clear();
    expect([t.size, t.get(1), t.entries()]).toEqual([0, undefined, []]);
    t.set(65535, 'z');
    expect(t.get(65535)).toBe('z');
  });

  it('keeps every key reachable through growth and deletions, colliding keys included', () => {
    const random = lcg(7);
    const t = new IdTable<number>();
    const m = new Map<number, number>();
    for (let step = 0; step < 50_000; step++) {
      const r = random();
      // ids in sequence (as a session hands them out), and ids that share home slots (multiples of 64)
      const id = r < 0.5 ? 1 + (step % 300) : 64 * (1 + Math.floor(random() * 40));
      if (random() < 0.55) {
        t.set(id, step);
        m.set(id, step);
      } else expect(t.delete(id)).toBe(m.delete(id));
      if (step % 997 === 0) {
        const keys = Array.from({ length: 2600 }, (_, k) => k + 1);
        expect([t.size, keys.map((k) => t.get(k))]).toEqual([m.size, keys.map((k) => m.get(k))]);
      }
    }
    expect(t.entries().sort((x, y) => x[0] - y[0])).toEqual([...m].sort((x, y) => x[0] - y[0]));
  });
});
