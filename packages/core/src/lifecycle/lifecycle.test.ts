import { noopMetrics, type Metrics } from '../metrics.js';
import { FerryError } from '../errors.js';
import type { SourceFlow } from '../connector.js';
import { StartStop } from './start-stop.js';
import { FlowWatch } from './flow-watch.js';
import { ConnectorCounters } from './connector-counters.js';
import { FailureLog } from './failure-log.js';
import { ReconnectTimer } from './reconnect-timer.js';

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('StartStop', () => {
  it('runs one start for concurrent and repeated calls, and one stop likewise', async () => {
    const life = new StartStop();
    const gate = deferred();
    let starts = 0;
    let stops = 0;
    const run = (): Promise<void> => {
      starts++;
      return gate.promise;
    };
    const a = life.start(run);
    const b = life.start(run);
    expect(a).toBe(b);
    expect(starts).toBe(1);
    gate.resolve();
    await a;
    await life.start(run);
    expect(starts).toBe(1);
    const stop = (): Promise<void> => {
      stops++;
      return Promise.resolve();
    };
    const s1 = life.stop(stop);
    expect(life.stop(stop)).toBe(s1);
    await s1;
    await life.stop(stop);
    expect(stops).toBe(1);
    // a stop makes the next start run anew
    await life.start(run);
    expect(starts).toBe(2);
  });

  it('forgets a failed start, so the next call tries again; a throw is a rejection', async () => {
    const life = new StartStop();
    await expect(life.start(() => Promise.reject(new FerryError('CONNECT_FAILED', 'no')))).rejects.toThrow('no');
    expect(life.starting).toBeUndefined();
    await expect(
      life.start(() => {
        throw new FerryError('CONFIG_INVALID', 'sync');
      }),
    ).rejects.toThrow('sync');
    let ran = false;
    await life.start(() => {
      ran = true;
      return Promise.resolve();
    });
    expect(ran).toBe(true);
  });

  it('runs the synchronous part of a start at the call', () => {
    const life = new StartStop();
    let state = 'idle';
    void life.start(async () => {
      state = 'connecting';
      await new Promise<void>(() => undefined);
    });
    expect(state).toBe('connecting');
  });

  it('calls idle instead of the stop when never started', async () => {
    const life = new StartStop();
    let idle = 0;
    let stops = 0;
    const stop = (): Promise<void> => {
      stops++;
      return Promise.resolve();
    };
    await life.stop(stop, () => idle++);
    await life.stop(stop, () => idle++);
    expect([idle, stops]).toEqual([1, 0]);
    expect(life.stopping).toBe(true);
    await life.start(() => Promise.resolve());
    expect(life.stopping).toBe(false);
  });
});

function fakeFlow(): SourceFlow & { set(p: boolean): void; listeners: number } {
  const ls = new Set<(p: boolean) => void>();
  const f = {
    paused: false,
    get listeners(): number {
      return ls.size;
    },
    set(p: boolean): void {
      f.paused = p;
      for (const l of ls) l(p);
    },
    onChange(l: (p: boolean) => void): () => void {
      ls.add(l);
      return () => ls.delete(l);
    },
  };
  return f;
}

describe('FlowWatch', () => {
  it('follows one flow at a time and is never paused once dropped', () => {
    const w = new FlowWatch();
    const seen: boolean[] = [];
    const a = fakeFlow();
    expect(w.follow(a, (p) => seen.push(p))).toBe(true);
    expect(w.follow(a, (p) => seen.push(p))).toBe(false);
    expect(a.listeners).toBe(1);
    a.set(true);
    expect(w.paused).toBe(true);
    const b = fakeFlow();
    expect(w.follow(b, (p) => seen.push(p))).toBe(true);
    expect(a.listeners).toBe(0);
    expect(w.paused).toBe(false);
    b.set(true);
    expect(seen).toEqual([true, true]);
    w.drop();
    expect(b.listeners).toBe(0);
    expect([w.paused, w.following]).toEqual([false, false]);
  });
});

describe('ConnectorCounters', () => {
  it('counts accept, reject and release with the reason code', () => {
    const seen: unknown[] = [];
    const m: Metrics = { ...noopMetrics, inc: (name, labels) => seen.push([name, labels]) };
    const c = new ConnectorCounters(m, 'c');
    c.outcome({ kind: 'accept' });
    c.outcome({ kind: 'reject', reason: new FerryError('SINK_REJECTED', 'x') });
    c.outcome({ kind: 'release', reason: new FerryError('SINK_CLOSED', 'y') });
    expect(seen).toEqual([
      ['messages_accepted_total', { connector: 'c' }],
      ['messages_rejected_total', { connector: 'c', reason: 'SINK_REJECTED' }],
      ['messages_released_total', { connector: 'c', reason: 'SINK_CLOSED' }],
    ]);
  });

  it('binds each series once, when first counted, and counts every message through it', () => {
    const binds: string[] = [];
    const counts = new Map<string, number>();
    const m: Metrics = {
      ...noopMetrics,
      inc: () => {
        throw new Error('a per-message count took the unbound path');
      },
      bindCounter: (name, labels) => {
        const key = `${name} ${JSON.stringify(labels)}`;
        binds.push(key);
        return { inc: (v = 1) => counts.set(key, (counts.get(key) ?? 0) + v) };
      },
    };
    const c = new ConnectorCounters(m, 'c');
    expect(binds).toEqual([]);
    for (let i = 0; i < 3; i++) {
      c.received();
      c.sent();
      c.outcome({ kind: 'accept' });
      c.outcome({ kind: 'reject', reason: new FerryError('SINK_REJECTED', 'x') });
      c.dropped('expired');
      c.rejected('unpublishable');
    }
    c.dropped('shutdown', 4);
    expect(binds).toEqual([
      'messages_received_total {"connector":"c"}',
      'messages_sent_total {"connector":"c"}',
      'messages_accepted_total {"connector":"c"}',
      'messages_rejected_total {"connector":"c","reason":"SINK_REJECTED"}',
      'messages_dropped_total {"connector":"c","reason":"expired"}',
      'messages_rejected_total {"connector":"c","reason":"unpublishable"}',
      'messages_dropped_total {"connector":"c","reason":"shutdown"}',
    ]);
    expect([...counts.values()]).toEqual([3, 3, 3, 3, 3, 3, 4]);
  });
});

describe('FailureLog', () => {
  it('says a failure is new only when it changed since the last report or recovery', () => {
    const f = new FailureLog();
    expect([f.report('refused'), f.report('refused'), f.report('timeout'), f.report('timeout')]).toEqual([true, false, true, false]);
    expect(f.recovered()).toBe('timeout');
    expect(f.last).toBeUndefined();
    expect(f.report('timeout')).toBe(true);
  });
});

describe('ReconnectTimer', () => {
  it('keeps one attempt pending, grows the delay, and cancels', async () => {
    const r = new ReconnectTimer({ initialMs: 1, maxMs: 8, random: () => 1 });
    const fired = deferred();
    expect(r.schedule(() => fired.resolve())).toBe(1);
    expect(r.schedule(() => fired.reject(new Error('a second attempt was scheduled')))).toBeUndefined();
    expect(r.pending).toBe(true);
    await fired.promise;
    expect(r.pending).toBe(false);
    expect(r.schedule(() => undefined)).toBe(2);
    r.cancel();
    expect(r.pending).toBe(false);
    expect(r.attempt).toBe(2);
    r.reset();
    expect(r.attempt).toBe(0);
  });
});
