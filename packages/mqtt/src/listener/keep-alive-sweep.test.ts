import { jest } from '@jest/globals';
import { KeepAliveSweep, type KeepAliveWatched } from './keep-alive-sweep.js';

/** a watched connection with keep alive `seconds` that records when it expired */
function client(seconds: number, now: () => number): KeepAliveWatched & { expiredAt: number | undefined; paused: boolean } {
  return {
    silenceLimitMs: seconds * 1500,
    heard: false,
    lastHeardMs: 0,
    paused: false,
    get readPaused() {
      return this.paused;
    },
    expiredAt: undefined,
    keepAliveExpired() {
      this.expiredAt = now();
    },
  };
}

/** sweep every `period` ms of the injected clock until `until` (as the interval would) */
function run(sweep: KeepAliveSweep, clock: { t: number }, until: number, period = 500, at?: (t: number) => void): void {
  while (clock.t < until) {
    clock.t += period;
    at?.(clock.t);
    sweep.sweep();
  }
}

/** a sweep on an injected clock at 0, watching one client with keep alive `seconds` */
function watchedOnClock(seconds: number): { clock: { t: number }; sweep: KeepAliveSweep; c: ReturnType<typeof client> } {
  const clock = { t: 0 };
  const sweep = new KeepAliveSweep({ now: () => clock.t });
  const c = client(seconds, () => clock.t);
  sweep.watch(c);
  return { clock, sweep, c };
}

afterEach(() => jest.useRealTimers());

test('a silent client is closed once 1.5 × its keep alive has passed, not before (MQTT 3.1.1 §3.1.2.10)', () => {
  const { clock, sweep, c } = watchedOnClock(1);
  run(sweep, clock, 1500);
  expect(c.expiredAt).toBeUndefined();
  run(sweep, clock, 2000);
  expect(c.expiredAt).toBe(2000);
  expect(sweep.size).toBe(0);
  sweep.stop();
});

test('a packet restarts the count: silence is measured from the sweep that saw it, so never closed early', () => {
  const { clock, sweep, c } = watchedOnClock(2);
  // a packet just before the sweep at 2,500 and one just after it (at 2,501): the later one counts
  run(sweep, clock, 2500, 500, (t) => {
    if (t === 2500) c.heard = true;
  });
  clock.t = 2501;
  c.heard = true;
  run(sweep, clock, 6001);
  // the sweep at 3,001 saw it; limit 3,000 ms: not closed at 6,001 (3,000 ms later), closed at the
  // next sweep, more than 3,000 ms after the packet itself
  expect(c.expiredAt).toBeUndefined();
  run(sweep, clock, 6501);
  expect(c.expiredAt).toBe(6501);
  sweep.stop();
});

test('while Ferry does not read the socket, the client is not closed; its silence counts from the next sweep after', () => {
  const { clock, sweep, c } = watchedOnClock(1);
  c.paused = true;
  run(sweep, clock, 10_000);
  expect(c.expiredAt).toBeUndefined();
  c.paused = false;
  run(sweep, clock, 11_500);
  expect(c.expiredAt).toBeUndefined();
  run(sweep, clock, 12_000);
  expect(c.expiredAt).toBe(12_000);
  sweep.stop();
});

test('one interval for every connection: it runs while anything is watched and stops with the last', () => {
  jest.useFakeTimers();
  const start = Date.now();
  const sweep = new KeepAliveSweep({ now: () => Date.now() });
  const clients = Array.from({ length: 3 }, () => client(1, () => Date.now() - start));
  for (const c of clients) sweep.watch(c);
  expect(jest.getTimerCount()).toBe(1);
  const [a, b, d] = clients as [ReturnType<typeof client>, ReturnType<typeof client>, ReturnType<typeof client>];
  sweep.unwatch(d);
  // b keeps talking: a packet before every sweep
  for (let i = 0; i < 8; i++) {
    b.heard = true;
    jest.advanceTimersByTime(500);
  }
  // a silent: closed by the sweep at 2,000 ms (1,500 ms is not yet over the limit)
  expect(a.expiredAt).toBe(2000);
  expect(b.expiredAt).toBeUndefined();
  sweep.unwatch(b);
  expect(jest.getTimerCount()).toBe(0);
});
