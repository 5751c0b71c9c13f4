import { FerryError, Settlement, createMessage, silentLogger, type Metrics, type Sink, type WriteDone } from '@ferry/core';
import { RecordingMetrics, Tally, captureLogger } from '@ferry/testkit';
import { Engine } from './engine.js';
import { RouteTable } from './table.js';
import { InstantSink, ManualSink, countTimers, fakeConnectors } from '../test/fakes.js';
import { ep, route } from '../test/specs.js';
import { deliver, type Sent } from '../test/engine-harness.js';
import { routes, table, FAST_TRANSIENT, harness, flush } from '../test/engine-fixture.js';

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

  describe('a sink that reports through a callback (Sink.send)', () => {
    /** writes to rabbit through `send`; `answer` decides what each write is told, and when */
    function callbackHarness(answer: (done: WriteDone, n: number) => void): { h: ReturnType<typeof harness>; calls: string[] } {
      const calls: string[] = [];
      let n = 0;
      const rabbit: Sink<Record<string, unknown>> = {
        write: () => {
          calls.push('write');
          return Promise.resolve();
        },
        send: (_message, _to, done) => {
          calls.push('send');
          answer(done, ++n);
        },
      };
      return { h: harness({ sinks: new Map([['rabbit', rabbit]]) }), calls };
    }

    it('is called in place of write, and its confirmation accepts the message', async () => {
      let confirm: WriteDone | undefined;
      const { h, calls } = callbackHarness((done) => (confirm = done));
      const s = deliver(h.engine, 'artemis', 'one.a');
      expect(calls).toEqual(['send']);
      await flush();
      expect(s.settlement.settled).toBe(false);
      confirm?.(undefined);
      expect(s.outcomes).toEqual([{ kind: 'accept' }]);
      expect(h.metrics.observations.map((o) => o.labels['connector'])).toEqual(['rabbit']);
    });

    it('an answer given inside send reaches the source only after the engine took the message', async () => {
      const { h } = callbackHarness((done) => done(undefined));
      const s = deliver(h.engine, 'artemis', 'one.a');
      // not settled inside the handler's call: the outcome waits for a microtask
      expect(s.settlement.settled).toBe(false);
      expect(h.engine.inFlight).toBe(1);
      await flush();
      expect(s.outcomes).toEqual([{ kind: 'accept' }]);
      expect(h.engine.inFlight).toBe(0);
    });

    it('a failure is retried as a write\'s would be, and a permanent one rejects', async () => {
      const { h, calls } = callbackHarness((done, n) => done(n === 1 ? new FerryError('SINK_CLOSED', 'closed') : undefined));
      const s = deliver(h.engine, 'artemis', 'one.a');
      await new Promise((r) => setTimeout(r, 20));
      await flush();
      expect(calls).toEqual(['send', 'send']);
      expect(s.outcomes).toEqual([{ kind: 'accept' }]);
      const p = callbackHarness((done) => done(new FerryError('SINK_REJECTED', 'never', { permanent: true })));
      const r = deliver(p.h.engine, 'artemis', 'one.b');
      await flush();
      expect(r.outcomes.map((o) => o.kind)).toEqual(['reject']);
    });
  });
});

