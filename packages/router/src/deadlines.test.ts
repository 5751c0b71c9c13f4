import { Deadlines } from './deadlines.js';
import { countTimers } from '../test/fakes.js';

describe('Deadlines', () => {
  it('expires what was not cancelled, in order, once its time passed', async () => {
    const d = new Deadlines(20);
    const fired: string[] = [];
    const a = d.add(() => fired.push('a'));
    const b = d.add(() => fired.push('b'));
    const last = new Promise<void>((resolve) =>
      d.add(() => {
        fired.push('c');
        resolve();
      }),
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
    const x = d.add(() => fired.push('x'));
    d.cancel(x);
    now = 100;
    const y = d.add(() => fired.push('y'));
    d.cancel(y);
    d.clear();
    expect(fired).toEqual([]);
    expect(d.size).toBe(0);
  });

  it('arms one timer for any number of pending deadlines (not one per write)', async () => {
    const d = new Deadlines(60_000);
    const armed = await countTimers(() => {
      const pending = Array.from({ length: 1000 }, () => d.add(() => undefined));
      for (const p of pending.slice(0, 500)) d.cancel(p);
    });
    expect(d.size).toBe(500);
    expect(armed).toBe(1);
    d.clear();
  });
});
