import fc from 'fast-check';
import { fuzz, MIN_FUZZ_RUNS } from './fuzz.js';

describe('fuzz', () => {
  it('tries at least MIN_FUZZ_RUNS inputs when the budget runs out first (a loaded machine)', async () => {
    const seen = new Set<number>();
    const run = await fuzz(fc.integer(), 100, async (n) => {
      seen.add(n);
      await new Promise((r) => setTimeout(r, 10));
    });
    expect(run.runs).toBeGreaterThanOrEqual(MIN_FUZZ_RUNS);
    // the inputs after the budget are new ones, not the first ones again
    expect(seen.size).toBeGreaterThan(MIN_FUZZ_RUNS / 2);
  });

  it('stops at the budget once the minimum is reached', async () => {
    const started = performance.now();
    const run = await fuzz(fc.integer(), 200, () => Promise.resolve(), 10);
    expect(run.runs).toBeGreaterThan(10);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  it('reports a failing input, found after the budget too', async () => {
    let tried = 0;
    // the budget fits a few inputs of 50 ms; the 20th fails, after the budget
    const failing = fuzz(fc.integer(), 200, async () => {
      if (++tried === 20) throw new Error('the twentieth');
      await new Promise((r) => setTimeout(r, 50));
    });
    await expect(failing).rejects.toThrow(/Property failed after \d+ tests/);
    expect(tried).toBeGreaterThanOrEqual(20);
  });
});
