import { FerryError, silentLogger, type Sink } from '@ferry/core';
import { Engine } from './engine.js';
import { RouteTable } from './table.js';
import { ManualSink, fakeConnectors } from '../test/fakes.js';
import { deliver } from '../test/engine-harness.js';
import { routes, FAST_TRANSIENT, harness, flush } from '../test/engine-fixture.js';

/** a transient sink failure (the broker is down) */
const transient = (): FerryError => new FerryError('NOT_CONNECTED', 'broker down');
/** a permanent sink failure (the broker refused the message) */
const permanent = (): FerryError => new FerryError('SINK_REJECTED', 'refused', { permanent: true });

/** A sink whose writes fail with `error` (or throw it) until `healthyAfter` writes were tried. */
class FailingSink implements Sink<Record<string, unknown>> {
  calls = 0;
  constructor(
    private readonly error: () => unknown,
    private readonly healthyAfter = Infinity,
  ) {}
  write(): Promise<void> {
    this.calls++;
    const failing = this.calls <= this.healthyAfter;
    // a throw in a promise's executor rejects the promise with whatever was thrown, as a broken
    // sink's async write would: the engine must cope with a value that is not an Error
    return new Promise((resolve) => {
      if (failing) throw this.error();
      resolve();
    });
  }
}

describe('Engine: failed writes', () => {
  it('one transient failure is retried with backoff, then released exactly once, after the other sink finished', async () => {
    const rabbit = new FailingSink(transient);
    const web = new ManualSink();
    const h = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', rabbit], ['web', web]]) });
    const s = deliver(h.engine, 'plant', 'f/a');
    await web.waitFor(1);
    // the retry budget is a time (maxElapsedMs), and giving up sends nothing while web is in
    // flight: the wait is the budget running out, twice over
    await new Promise((r) => setTimeout(r, FAST_TRANSIENT.maxElapsedMs * 2));
    // web is still in flight: not settled yet, so a redelivery cannot race it
    expect(s.settlement.settled).toBe(false);
    web.writes[0]!.resolve();
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes).toHaveLength(1);
    expect(s.outcomes[0]?.kind).toBe('release');
    expect(s.outcomes[0]?.kind === 'release' && s.outcomes[0].reason.code).toBe('NOT_CONNECTED');
    // retried (rabbit only: web confirmed and is never written again), bounded by the budget
    expect(rabbit.calls).toBeGreaterThan(1);
    expect(rabbit.calls).toBeLessThanOrEqual(1 + FAST_TRANSIENT.maxElapsedMs / FAST_TRANSIENT.minMs);
    expect(web.writes).toHaveLength(1);
    expect(h.metrics.count('sink_failures_total', { connector: 'rabbit', route: 'fan', code: 'NOT_CONNECTED' })).toBe(rabbit.calls);
    expect(h.metrics.count('messages_retried_total', { route: 'fan', code: 'NOT_CONNECTED' })).toBe(rabbit.calls - 1);
    expect(h.metrics.count('messages_routed_total', { route: 'fan' })).toBe(0);
    expect(h.metrics.count('messages_matched_total', { route: 'fan' })).toBe(1);
    expect(h.engine.inFlight).toBe(0);
  });

  it('without retry (transientRetry false) a transient failure releases at once, after the other sink finished', async () => {
    const h = harness({ transientRetry: false });
    const s = deliver(h.engine, 'plant', 'f/a');
    await h.rabbit.waitFor(1);
    await h.web.waitFor(1);
    h.rabbit.writes[0]!.reject(transient());
    await flush();
    expect(s.settlement.settled).toBe(false);
    h.web.writes[0]!.resolve();
    await flush();
    expect(s.outcomes.map((o) => o.kind)).toEqual(['release']);
    expect(h.rabbit.writes).toHaveLength(1);
    expect(h.metrics.count('sink_failures_total', { connector: 'rabbit', route: 'fan', code: 'NOT_CONNECTED' })).toBe(1);
  });

  it('default transient retry: a destination back within the budget is delivered, nothing is given back', async () => {
    const rabbit = new FailingSink(transient, 3);
    const h = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', rabbit]]), transientRetry: { ...FAST_TRANSIENT, maxElapsedMs: 5_000 } });
    const s = deliver(h.engine, 'artemis', 'one.a');
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(rabbit.calls).toBe(4);
    expect(h.metrics.count('messages_retried_total', { route: 'one', code: 'NOT_CONNECTED' })).toBe(3);
  });

  it('default transient retry: a write that timed out after the budget is not tried again; permanent failures never are', async () => {
    const h = harness({ sinkTimeoutMs: 20, transientRetry: { initialMs: 1, maxMs: 1, minMs: 1, maxElapsedMs: 15 } });
    const s = deliver(h.engine, 'artemis', 'one.a');
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes.map((o) => o.kind === 'release' && o.reason.code)).toEqual(['SINK_TIMEOUT']);
    expect(h.rabbit.writes).toHaveLength(1);

    const refusing = new FailingSink(permanent);
    const p = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', refusing]]) });
    const r = deliver(p.engine, 'artemis', 'one.b');
    expect(await p.engine.drain(5_000)).toBe(true);
    expect(r.outcomes.map((o) => o.kind)).toEqual(['reject']);
    expect(refusing.calls).toBe(1);
  });

  it('default transient retry keeps the message in flight: a full route pauses its source while the destination is down', async () => {
    const down = new FailingSink(transient);
    const h = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', down]]), transientRetry: { ...FAST_TRANSIENT, maxElapsedMs: 300 } });
    const small = new Engine({
      table: RouteTable.compile([{ ...routes[2]!, maxInFlight: 2 }], fakeConnectors()),
      sinks: new Map([['rabbit', down]]),
      logger: silentLogger,
      metrics: h.metrics,
      transientRetry: { ...FAST_TRANSIENT, maxElapsedMs: 300 },
    });
    const flow = small.flow('artemis');
    const a = deliver(small, 'artemis', 'one.a');
    const b = deliver(small, 'artemis', 'one.b');
    await flush();
    // both are being retried, not given back: the route is full and its source paused
    expect(a.settlement.settled || b.settlement.settled).toBe(false);
    expect(flow.paused).toBe(true);
    expect(small.routeLoad('one')?.inFlight).toBe(2);
    expect(await small.drain(5_000)).toBe(true);
    expect([...a.outcomes, ...b.outcomes].map((o) => o.kind)).toEqual(['release', 'release']);
    expect(flow.paused).toBe(false);
  });

  it('a permanent failure rejects exactly once', async () => {
    const h = harness();
    const s = deliver(h.engine, 'plant', 'f/a');
    await h.rabbit.waitFor(1);
    await h.web.waitFor(1);
    h.web.writes[0]!.reject(permanent());
    h.rabbit.writes[0]!.resolve();
    await flush();
    expect(s.outcomes.map((o) => o.kind)).toEqual(['reject']);
    expect(s.outcomes[0]?.kind === 'reject' && s.outcomes[0].reason.code).toBe('SINK_REJECTED');
  });

  it('permanent wins over transient when both fail; both errors are in the reason', async () => {
    const rabbit = new FailingSink(transient);
    const web = new FailingSink(permanent);
    const h = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', rabbit], ['web', web]]) });
    const s = deliver(h.engine, 'plant', 'f/a');
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes).toHaveLength(1);
    const o = s.outcomes[0]!;
    expect(o.kind).toBe('reject');
    expect(o.kind === 'reject' && o.reason.message).toMatch(/2 failures: broker down; refused/);
    expect(o.kind === 'reject' && o.reason.permanent).toBe(true);
    expect(web.calls).toBe(1);
  });

  it('a non-FerryError rejection or a synchronous throw in a sink is a transient failure', async () => {
    const throwing: Sink<Record<string, unknown>> = {
      write: () => {
        throw new Error('boom');
      },
    };
    const h = harness({ sinks: new Map([['rabbit', throwing]]) });
    const s = deliver(h.engine, 'artemis', 'one.a');
    // transient: retried by the default transient retry, then released
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes.map((o) => o.kind)).toEqual(['release']);
    expect(s.outcomes[0]?.kind === 'release' && s.outcomes[0].reason.message).toBe('boom');
  });

  it('a sink that does not confirm in time fails with SINK_TIMEOUT (transient); a late confirm changes nothing', async () => {
    const h = harness({ sinkTimeoutMs: 20, transientRetry: false });
    const s = deliver(h.engine, 'artemis', 'one.a');
    await h.rabbit.waitFor(1);
    expect(await h.engine.drain(5_000)).toBe(true);
    expect(s.outcomes).toHaveLength(1);
    expect(s.outcomes[0]?.kind).toBe('release');
    expect(s.outcomes[0]?.kind === 'release' && s.outcomes[0].reason.code).toBe('SINK_TIMEOUT');
    h.rabbit.writes[0]!.resolve();
    await flush();
    expect(s.outcomes).toHaveLength(1);
    expect(h.metrics.count('sink_failures_total', { connector: 'rabbit', route: 'one', code: 'SINK_TIMEOUT' })).toBe(1);
  });
});
