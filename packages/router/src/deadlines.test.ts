import { FerryError } from '@ferry/core';
import { Deadlines, Expiring } from './deadlines.js';
import { countTimers } from '../test/fakes.js';

class Runs extends Expiring {
  readonly #f: () => unknown;
  constructor(f: () => unknown) {
    super();
    this.#f = f;
  }
  expire(): void {
    this.#f();
  }
}

/** a deadline's owner that runs `f` when it expires */
function on(f: () => unknown): Expiring {
  return new Runs(f);
}

describe('Deadlines', () => {
  it('expires what was not cancelled, in order, once its time passed', async () => {
    const d = new Deadlines(20);
    const fired: string[] = [];
    const a = d.add(on(() => fired.push('a')));
    const b = d.add(on(() => fired.push('b')));
    const last = new Promise<void>((resolve) =>
      d.add(on(() => {
        fired.push('c');
        resolve();
      })),
    );
    d.cancel(b);
    expect(d.size).toBe(2);
    await last;
    expect(fired).toEqual(['a', 'c']);
    expect(d.size).toBe(0);
    // cancelling after it expired, or twice, changes nothing
    d.cancel(a);
    d.cancel(b);
    expect(d.size).toBe(0);
  });

  it('a deadline cancelled before its time never runs', () => {
    let now = 0;
    const d = new Deadlines(10, () => now);
    const fired: string[] = [];
    const x = d.add(on(() => fired.push('x')));
    d.cancel(x);
    now = 100;
    const y = d.add(on(() => fired.push('y')));
    d.cancel(y);
    d.clear();
    expect(fired).toEqual([]);
    expect(d.size).toBe(0);
  });

  it('an owner is the list node itself: added again once cancelled, expired or cleared; never while pending', () => {
    let now = 0;
    const d = new Deadlines(10, () => now);
    const fired: string[] = [];
    const a = on(() => fired.push('a'));
    const b = on(() => fired.push('b'));
    d.add(a);
    let caught: unknown;
    try {
      d.add(a);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FerryError);
    expect((caught as FerryError).code).toBe('INTERNAL');
    d.add(b);
    d.cancel(a);
    d.add(a);
    expect(d.size).toBe(2);
    d.clear();
    expect(d.size).toBe(0);
    d.add(b);
    d.add(a);
    d.cancel(b);
    expect(d.size).toBe(1);
    now = 20;
    d.clear();
    expect(fired).toEqual([]);
  });

  it('arms one timer for any number of pending deadlines (not one per write)', async () => {
    const d = new Deadlines(60_000);
    const armed = await countTimers(() => {
      const pending = Array.from({ length: 1000 }, () => d.add(on(() => undefined)));
      for (const p of pending.slice(0, 500)) d.cancel(p);
    });
    expect(d.size).toBe(500);
    expect(armed).toBe(1);
    d.clear();
  });

  it('keeps its one timer while writes end one by one (no timer per write when the list empties)', async () => {
    const d = new Deadlines(60_000);
    const armed = await countTimers(() => {
      for (let i = 0; i < 1000; i++) d.cancel(d.add(on(() => undefined)));
    });
    expect(d.size).toBe(0);
    expect(armed).toBe(1);
    d.clear();
  });

  it('the timer left armed by a cancelled deadline expires the next one on time, and only it', async () => {
    let now = 0;
    const d = new Deadlines(10, () => now);
    const fired: string[] = [];
    d.cancel(d.add(on(() => fired.push('cancelled'))));
    now = 5;
    const next = new Promise<void>((resolve) =>
      d.add(on(() => {
        fired.push('next');
        resolve();
      })),
    );
    // the timer armed for the cancelled deadline (10 ms) wakes with the next one due (at 15)
    now = 15;
    await next;
    expect(fired).toEqual(['next']);
    expect(d.size).toBe(0);
  });

  it('a timer that wakes before the head is due arms again for the head', async () => {
    let now = 0;
    const d = new Deadlines(10, () => now);
    const fired: number[] = [];
    d.cancel(d.add(on(() => fired.push(-1))));
    now = 5;
    const expired = new Promise<void>((resolve) =>
      d.add(on(() => {
        fired.push(now);
        resolve();
      })),
    );
    // the wake armed for the cancelled deadline finds the head (due at 15) not due: it arms again
    const original = globalThis.setTimeout;
    const rearmed = new Promise<void>((resolve) => {
      globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
        globalThis.setTimeout = original;
        resolve();
        return original(...args);
      }) as typeof setTimeout;
    });
    try {
      await rearmed;
    } finally {
      globalThis.setTimeout = original;
    }
    expect(fired).toEqual([]);
    expect(d.size).toBe(1);
    now = 15;
    await expired;
    expect(fired).toEqual([15]);
    expect(d.size).toBe(0);
  });
});
