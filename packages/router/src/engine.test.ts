import { FerryError, Settlement, createMessage, silentLogger, type Metrics, type RouteSpec, type Sink } from '@ferry/core';
import { RecordingMetrics, Tally, captureLogger } from '@ferry/testkit';
import { Engine } from './engine.js';
import type { TransientRetry } from './delivery.js';
import { RouteTable } from './table.js';
import { InstantSink, ManualSink, countTimers, fakeConnectors } from '../test/fakes.js';
import { ep, route } from '../test/specs.js';
import { deliver, engineHarness, type Harness, type HarnessOptions, type Sent } from '../test/engine-harness.js';

/** plant (mqtt) → rabbit and web; a queue route from rabbit to devices with a header template */
const routes: RouteSpec[] = [
  route('fan', ep('plant', { topic: 'f/+' }), [ep('rabbit', { exchange: 'x', routingKey: 'f.{1}' }), ep('web', { destination: '/topic/f.{1}' })]),
  route('cmd', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{header.device}/cmd' })]),
  route('one', ep('artemis', { address: 'one.*' }), [ep('rabbit', { exchange: 'x', routingKey: 'one.{1}' })]),
];
const table = RouteTable.compile(routes, fakeConnectors());


/**
 * The engine's default transient retry (200 ms .. 5 s for up to 30 s) with test-sized numbers:
 * same shape, so a transient failure is retried and then given back, in milliseconds.
 */
const FAST_TRANSIENT: TransientRetry = { initialMs: 1, maxMs: 2, minMs: 1, maxElapsedMs: 40 };

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

function harness(opts: { table?: RouteTable } & HarnessOptions = {}): Harness {
  const { table: own, ...rest } = opts;
  return engineHarness(own ?? table, { transientRetry: FAST_TRANSIENT, ...rest });
}

/** let every pending promise callback run */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

const transient = (): FerryError => new FerryError('NOT_CONNECTED', 'broker down');
const permanent = (): FerryError => new FerryError('SINK_REJECTED', 'refused', { permanent: true });

describe('Engine', () => {
  it('accepts only after ALL sinks confirmed, writing to them concurrently', async () => {
    const h = harness();
    const s = deliver(h.engine, 'plant', 'f/a');
    // both writes started before either confirmed
    await h.rabbit.waitFor(1);
    await h.web.waitFor(1);
    expect(h.rabbit.writes[0]?.to).toEqual({ exchange: 'x', routingKey: 'f.a' });
    expect(h.web.writes[0]?.to).toEqual({ destination: '/topic/f.a' });
    expect(h.rabbit.writes[0]?.message.body).toBe(s.message.body);
    await flush();
    expect(s.settlement.settled).toBe(false);
    expect(h.engine.inFlight).toBe(1);
    expect(h.metrics.gauge('messages_in_flight', { route: 'fan' })).toBe(1);
    // counted as taken by the route at once, before any sink confirmed
    expect(h.metrics.count('messages_matched_total', { route: 'fan' })).toBe(1);

    h.rabbit.writes[0]!.resolve();
    await flush();
    expect(s.settlement.settled).toBe(false);

    h.web.writes[0]!.resolve();
    await flush();
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.engine.inFlight).toBe(0);
    expect(h.metrics.gauge('messages_in_flight', { route: 'fan' })).toBe(0);
    expect(h.metrics.count('messages_routed_total', { route: 'fan' })).toBe(1);
    expect(h.metrics.observations.map((o) => o.labels['connector']).sort()).toEqual(['rabbit', 'web']);
  });

  it('completes messages out of order (never serializes them)', async () => {
    const h = harness();
    const first = deliver(h.engine, 'artemis', 'one.a');
    const second = deliver(h.engine, 'artemis', 'one.b');
    await h.rabbit.waitFor(2);
    expect(h.rabbit.writes.map((w) => w.to['routingKey'])).toEqual(['one.a', 'one.b']);
    h.rabbit.writes[1]!.resolve();
    await flush();
    expect(second.outcomes).toEqual([{ kind: 'accept' }]);
    expect(first.settlement.settled).toBe(false);
    expect(h.engine.inFlight).toBe(1);
    h.rabbit.writes[0]!.resolve();
    await flush();
    expect(first.outcomes).toEqual([{ kind: 'accept' }]);
  });

  // default policy changed: a transient failure is retried (default transient retry) before the release
  it('one transient failure is retried with backoff, then released exactly once, after the other sink finished', async () => {
    const rabbit = new FailingSink(transient);
    const web = new ManualSink();
    const h = harness({ sinks: new Map<string, Sink<Record<string, unknown>>>([['rabbit', rabbit], ['web', web]]) });
    const s = deliver(h.engine, 'plant', 'f/a');
    await web.waitFor(1);
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

  it('accepts an unrouted message at once and counts it', () => {
    const h = harness();
    const s = deliver(h.engine, 'plant', 'nowhere/x');
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.metrics.count('messages_unrouted_total', { connector: 'plant' })).toBe(1);
    expect(h.engine.inFlight).toBe(0);
    expect(h.metrics.count('messages_matched_total')).toBe(0);
    // a connector with no route at all
    const t = deliver(h.engine, 'web', '/topic/x');
    expect(t.outcomes).toEqual([{ kind: 'accept' }]);
  });

  it('a template that cannot be filled rejects (permanent) without writing anything', async () => {
    const h = harness();
    const s = deliver(h.engine, 'rabbit', 'q'); // no "device" header
    await flush();
    expect(s.outcomes.map((o) => o.kind)).toEqual(['reject']);
    expect(s.outcomes[0]?.kind === 'reject' && s.outcomes[0].reason.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(h.devices.writes).toHaveLength(0);
    expect(h.rabbit.writes).toHaveLength(0);
  });

  it('a template failure in one matched route writes nowhere, not even the routes that could be filled', async () => {
    const t = RouteTable.compile(
      [
        route('good', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 'fixed' })]),
        route('bad', ep('rabbit', { queue: 'q2' }), [ep('devices', { topic: '{header.device}/cmd' })]),
      ],
      fakeConnectors(),
    );
    const devices = new ManualSink();
    const engine = new Engine({ table: t, sinks: new Map([['devices', devices]]), logger: silentLogger, metrics: new RecordingMetrics() });
    const s = deliver(engine, 'rabbit', 'q');
    await flush();
    expect(s.outcomes.map((o) => o.kind)).toEqual(['reject']);
    expect(devices.writes).toHaveLength(0);
  });

  it('two routes match one message: it is accepted only after every sink of BOTH routes confirmed, in any order', async () => {
    const t = RouteTable.compile(
      [
        route('fan', ep('plant', { topic: 'f/+' }), [ep('rabbit', { exchange: 'x', routingKey: 'f.{1}' }), ep('web', { destination: '/topic/f.{1}' })]),
        route('copy', ep('plant', { topic: 'f/#' }), [ep('devices', { topic: 'copy/{1}' })]),
      ],
      fakeConnectors(),
    );
    const { engine, metrics, rabbit, web, devices } = harness({ table: t });
    const s = deliver(engine, 'plant', 'f/a');
    await rabbit.waitFor(1);
    await web.waitFor(1);
    await devices.waitFor(1);
    expect(devices.writes[0]?.to).toEqual({ topic: 'copy/a' });
    // the second route confirms first, then the first route's sinks one by one
    devices.writes[0]!.resolve();
    await flush();
    expect(s.settlement.settled).toBe(false);
    web.writes[0]!.resolve();
    await flush();
    expect(s.settlement.settled).toBe(false);
    rabbit.writes[0]!.resolve();
    await flush();
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(metrics.count('messages_routed_total', { route: 'fan' })).toBe(1);
    expect(metrics.count('messages_routed_total', { route: 'copy' })).toBe(1);
    expect(metrics.count('messages_matched_total', { route: 'fan' })).toBe(1);
    expect(metrics.count('messages_matched_total', { route: 'copy' })).toBe(1);
  });

  it('a missing sink is an INTERNAL error: release, nothing written', async () => {
    const web = new ManualSink();
    const h = harness({ sinks: new Map([['web', web]]) });
    const s = deliver(h.engine, 'plant', 'f/a');
    await flush();
    expect(s.outcomes).toHaveLength(1);
    expect(s.outcomes[0]?.kind === 'release' && s.outcomes[0].reason.code).toBe('INTERNAL');
    expect(web.writes).toHaveLength(0);
  });

  it('uses the routes a delivery names (restrictTo)', async () => {
    const h = harness();
    const s = deliver(h.engine, 'rabbit', 'any.key', [['device', 'd9']], ['cmd']);
    await h.devices.waitFor(1);
    expect(h.devices.writes[0]?.to).toEqual({ topic: 'd9/cmd' });
    h.devices.writes[0]!.resolve();
    await flush();
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    const none = deliver(h.engine, 'rabbit', 'any.key', [['device', 'd9']], []);
    expect(none.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.devices.writes).toHaveLength(1);
  });

  it('drain: true at once when idle, false on timeout, true once in-flight reaches 0', async () => {
    const h = harness();
    expect(await h.engine.drain(10)).toBe(true);
    const s = deliver(h.engine, 'artemis', 'one.a');
    await h.rabbit.waitFor(1);
    expect(await h.engine.drain(10)).toBe(false);
    const drained = h.engine.drain(5_000);
    let done: boolean | undefined;
    void drained.then((v) => (done = v));
    await flush();
    expect(done).toBeUndefined();
    h.rabbit.writes[0]!.resolve();
    expect(await drained).toBe(true);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
  });

  it('the message path binds its metric series once per route and connector, and times every write with one timer', async () => {
    const binds: string[] = [];
    const unbound: string[] = [];
    const metrics: Metrics = {
      inc: (name) => void unbound.push(name),
      set: (name) => void unbound.push(name),
      add: (name) => void unbound.push(name),
      observe: (name) => void unbound.push(name),
      bindCounter: (name, labels) => (binds.push(`${name} ${JSON.stringify(labels)}`), { inc: () => undefined }),
      bindGauge: (name, labels) => (binds.push(`${name} ${JSON.stringify(labels)}`), { inc: () => undefined, set: () => undefined }),
      bindHistogram: (name, labels) => (binds.push(`${name} ${JSON.stringify(labels)}`), { observe: () => undefined }),
    };
    const sink = new ManualSink();
    const engine = new Engine({ table, sinks: new Map([['rabbit', sink]]), logger: silentLogger, metrics });
    const sent: Sent[] = [];
    const timers = await countTimers(async () => {
      for (let i = 0; i < 100; i++) sent.push(deliver(engine, 'artemis', `one.${i}`));
      await sink.waitFor(100);
    });
    expect(timers).toBe(1);
    for (const w of sink.writes) w.resolve();
    expect(await engine.drain(5_000)).toBe(true);
    expect(sent.every((x) => x.outcomes[0]?.kind === 'accept')).toBe(true);
    expect(unbound).toEqual([]);
    expect(binds.sort()).toEqual([
      'messages_in_flight {"route":"one"}',
      'messages_matched_total {"route":"one"}',
      'messages_routed_total {"route":"one"}',
      'sink_confirm_seconds {"connector":"rabbit"}',
    ]);
  });

  it('a settlement callback that throws does not break the engine', async () => {
    const sink = new InstantSink();
    const engine = new Engine({ table, sinks: new Map([['rabbit', sink]]), logger: silentLogger, metrics: new RecordingMetrics() });
    const message = createMessage({ body: Buffer.alloc(0), source: { connector: 'artemis', protocol: 'amqp10', address: 'one.a' } });
    engine.handler('artemis')({
      message,
      settlement: new Settlement(() => {
        throw new Error('adapter bug');
      }),
    });
    await flush();
    expect(sink.writes).toHaveLength(1);
    expect(engine.inFlight).toBe(0);
  });

  it('many messages, confirmed in random order: every one settled exactly once, none lost', async () => {
    const h = harness();
    const tally = new Tally();
    const deliveries: Sent[] = [];
    const N = 200;
    for (let i = 0; i < N; i++) {
      const d = deliver(h.engine, 'plant', `f/m${i}`);
      tally.sent(`m${i}`);
      deliveries.push(d);
    }
    await h.rabbit.waitFor(N);
    await h.web.waitFor(N);
    // confirm every write in a shuffled order (deterministic shuffle)
    const writes = [...h.rabbit.writes, ...h.web.writes];
    let seed = 7;
    for (let i = writes.length - 1; i > 0; i--) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const j = seed % (i + 1);
      [writes[i], writes[j]] = [writes[j]!, writes[i]!];
    }
    for (const w of writes) w.resolve();
    expect(await h.engine.drain(5_000)).toBe(true);
    deliveries.forEach((d, i) => {
      for (const o of d.outcomes) if (o.kind === 'accept') tally.received(`m${i}`);
    });
    console.log(tally.summary('engine fan-out x2, random confirm order (accepted)'));
    expect(tally.counts).toEqual({ sent: N, received: N, unique: N, duplicated: 0, lost: 0, unexpected: 0 });
    expect(deliveries.every((d) => d.outcomes.length === 1)).toBe(true);
    expect(h.metrics.count('messages_routed_total', { route: 'fan' })).toBe(N);
    expect(h.metrics.gauge('messages_in_flight', { route: 'fan' })).toBe(0);
  });
});

describe('Engine: loop protection', () => {
  it('a message past maxHops is not written: dropped and accepted, counted, logged once per route', async () => {
    const rabbit = new ManualSink();
    const web = new ManualSink();
    const devices = new ManualSink();
    const metrics = new RecordingMetrics();
    const logger = captureLogger();
    const engine = new Engine({
      table: RouteTable.compile(routes, fakeConnectors(), { maxHops: 2 }),
      sinks: new Map<string, Sink<Record<string, unknown>>>([
        ['rabbit', rabbit],
        ['web', web],
        ['devices', devices],
      ]),
      logger,
      metrics,
      transientRetry: FAST_TRANSIENT,
    });
    const ok = deliver(engine, 'plant', 'f/a', [['x-ferry-hops', 1]]);
    await rabbit.waitFor(1);
    await web.waitFor(1);
    expect(rabbit.writes[0]?.message.headers.get('x-ferry-hops')).toBe(2);
    rabbit.writes[0]?.resolve();
    web.writes[0]?.resolve();
    await flush();
    expect(ok.outcomes).toEqual([{ kind: 'accept' }]);
    const looped = [deliver(engine, 'plant', 'f/b', [['x-ferry-hops', 2]]), deliver(engine, 'plant', 'f/c', [['x-ferry-hops', '9']])];
    await flush();
    for (const l of looped) expect(l.outcomes).toEqual([{ kind: 'accept' }]);
    expect(rabbit.writes).toHaveLength(1);
    expect(web.writes).toHaveLength(1);
    expect(metrics.count('messages_dropped_total', { connector: 'plant', reason: 'max_hops' })).toBe(2);
    expect(logger.lines.filter((l) => l.message === 'message looped: not written again')).toHaveLength(1);
  });
});


describe('Engine.swap (reload)', () => {
  it('routes with the new table from the next delivery; one taken before finishes with the old table and is waited for by settledBefore', async () => {
    const h = harness();
    const before = deliver(h.engine, 'plant', 'f/a');
    await h.rabbit.waitFor(1);

    // the new table: route fan now writes only to web, with another destination
    const next = RouteTable.compile([route('fan', ep('plant', { topic: 'f/+' }), [ep('web', { destination: '/topic/new.{1}' })])], fakeConnectors());
    const generation = h.engine.swap(next, new Map());
    let settled: boolean | undefined;
    void h.engine.settledBefore(generation, 5_000).then((v) => (settled = v));

    const after = deliver(h.engine, 'plant', 'f/b');
    await h.web.waitFor(2);
    // the old delivery was planned with the old table (rabbit and web), the new one with the new
    expect(h.rabbit.writes.map((w) => w.to)).toEqual([{ exchange: 'x', routingKey: 'f.a' }]);
    expect(h.web.writes.map((w) => w.to)).toEqual([{ destination: '/topic/f.a' }, { destination: '/topic/new.b' }]);

    h.web.writes[1]!.resolve();
    await flush();
    expect(after.outcomes).toEqual([{ kind: 'accept' }]);
    // the new table's message settling does not count: the old one is still in flight
    expect(settled).toBeUndefined();

    h.rabbit.writes[0]!.resolve();
    h.web.writes[0]!.resolve();
    await flush();
    expect(before.outcomes).toEqual([{ kind: 'accept' }]);
    expect(settled).toBe(true);
  });

  it('settledBefore answers false when the old deliveries do not finish in time', async () => {
    const h = harness();
    deliver(h.engine, 'plant', 'f/a');
    await h.rabbit.waitFor(1);
    const generation = h.engine.swap(table, new Map());
    expect(await h.engine.settledBefore(generation, 20)).toBe(false);
  });
});
