import { TagWindow } from './tag-window.js';

describe('TagWindow', () => {
  test('keeps a value per tag and gives it back once', () => {
    const w = new TagWindow<string>(4);
    expect(w.put(1, 'a', 1)).toBe(true);
    expect(w.put(2, 'b', 1)).toBe(true);
    expect(w.get(1)).toBe('a');
    expect(w.take(2)).toBe('b');
    expect(w.get(2)).toBeUndefined();
    expect(w.take(1)).toBe('a');
    expect(w.take(1)).toBeUndefined();
  });

  test('grows when a tag lies past it, every open tag kept at its own slot', () => {
    const w = new TagWindow<number>(4);
    // tags 3..6 open in a window of 4 whose slots wrap (6 & 3 = 2, 3 & 3 = 3)
    for (let t = 3; t <= 6; t++) w.put(t, t * 10, 3);
    expect(w.size).toBe(4);
    // 7 is 4 past the lowest open tag: the window doubles, the wrapped slots moved
    expect(w.put(7, 70, 3)).toBe(true);
    expect(w.size).toBe(8);
    for (let t = 3; t <= 7; t++) expect(w.get(t)).toBe(t * 10);
    // far past: it doubles until the tag fits
    expect(w.put(3 + 100, 1030, 3)).toBe(true);
    expect(w.size).toBe(128);
    for (let t = 3; t <= 7; t++) expect(w.take(t)).toBe(t * 10);
    expect(w.take(103)).toBe(1030);
  });

  test('wraps: tags far above the array length reuse the slots the lowest open tag has passed', () => {
    const w = new TagWindow<number>(8);
    let lowest = 1;
    for (let t = 1; t <= 10_000; t++) {
      expect(w.put(t, t, lowest)).toBe(true);
      // at most 5 open at once: the lowest is taken as soon as 5 are
      if (t - lowest === 4) {
        expect(w.take(lowest)).toBe(lowest);
        lowest++;
      }
    }
    expect(w.size).toBe(8);
    for (let t = lowest; t <= 10_000; t++) expect(w.take(t)).toBe(t);
  });

  test('out of order: values taken in any order, the lowest open tag held, each given once', () => {
    // a fixed-seed generator, so a failure can be replayed
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const w = new TagWindow<number>(2);
    const open = new Set<number>();
    // tag 1 stays open to the end: the lowest open tag never moves, so the window must grow
    const lowest = 1;
    let next = 1;
    const taken: number[] = [];
    for (let round = 0; round < 2_000; round++) {
      for (let k = random(4); k > 0; k--) {
        expect(w.put(next, next, lowest)).toBe(true);
        open.add(next++);
      }
      const candidates = [...open].filter((t) => t !== 1);
      if (candidates.length === 0) continue;
      const t = candidates[random(candidates.length)] as number;
      expect(w.take(t)).toBe(t);
      expect(w.take(t)).toBeUndefined();
      open.delete(t);
      taken.push(t);
    }
    expect(w.size).toBeGreaterThanOrEqual(next - lowest);
    for (const t of open) expect(w.take(t)).toBe(t);
    expect(new Set(taken).size).toBe(taken.length);
    expect(taken.length + open.size).toBe(next - 1);
  });

  test('bound: a tag max or more past the lowest open one, or below it, is not kept', () => {
    const w = new TagWindow<string>(4, 16);
    expect(w.put(10, 'low', 10)).toBe(true);
    expect(w.put(10 + 16, 'too far', 10)).toBe(false);
    expect(w.put(9, 'below', 10)).toBe(false);
    expect(w.size).toBe(4);
    expect(w.put(10 + 15, 'last', 10)).toBe(true);
    expect(w.size).toBe(16);
    expect(w.get(10)).toBe('low');
    expect(w.get(25)).toBe('last');
  });

  test('its size is a power of two', () => {
    expect(() => new TagWindow<string>(6)).toThrow(RangeError);
    expect(() => new TagWindow<string>(0)).toThrow(RangeError);
  });
});
