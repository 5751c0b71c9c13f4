/**
 * The engine's route policies: retries of failed destinations only, dead letters with their
 * reason headers, and backpressure (maxInFlight, source flow control).
 */
import { FerryError, Settlement, createMessage, type EndpointSpec, type FailureSpec, type HeaderValue, type Outcome, type RouteSpec } from '@ferry/core';
import { Tally, waitFor } from '@ferry/testkit';
import { DEAD_LETTER_HEADERS } from './delivery.js';
import { RouteTable } from './table.js';
import { fakeConnectors } from '../test/fakes.js';
import { ep } from '../test/specs.js';
import { deliver, engineHarness, type Harness, type Sent } from '../test/engine-harness.js';

const FAST_RETRY = { maxAttempts: 3, initialMs: 1, maxMs: 2 };
const DEAD = ep('web', { destination: '/queue/dead.{1}' });

function route(name: string, to: EndpointSpec[], extra: { maxInFlight?: number; onFailure?: FailureSpec } = {}): RouteSpec {
  return { name, from: ep('plant', { topic: `${name}/+` }), to, headers: { set: {}, remove: [] }, ...extra };
}


function harness(routes: RouteSpec[]): Harness {
  return engineHarness(RouteTable.compile(routes, fakeConnectors()), { gatewayId: 'edge-test' });
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}

/** waits (in real time) until `cond` holds; retries use real timers of a few ms */
const until = (cond: () => boolean, ms = 2_000): Promise<void> => waitFor(cond, 'the condition', ms, 1);

const transient = (): FerryError => new FerryError('NOT_CONNECTED', 'broker down');
const unroutable = (): FerryError => new FerryError('SINK_UNROUTABLE', 'no queue bound', { permanent: true });

describe('Engine: retries', () => {
  it('re-sends only the destination that failed, never the one that confirmed', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r.{1}' }), ep('devices', { topic: 'd/{1}' })], { onFailure: { retry: FAST_RETRY } })]);
    const s = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    await h.devices.waitFor(1);
    h.devices.writes[0]!.resolve();
    h.rabbit.writes[0]!.reject(transient());
    await h.rabbit.waitFor(2);
    expect(s.outcomes).toEqual([]);
    h.rabbit.writes[1]!.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.rabbit.writes).toHaveLength(2);
    expect(h.devices.writes).toHaveLength(1);
    expect(h.metrics.count('messages_retried_total', { route: 't', code: 'NOT_CONNECTED' })).toBe(1);
    expect(h.metrics.count('messages_routed_total', { route: 't' })).toBe(1);
  });

  it('without a dead letter: transient after the last attempt → release; permanent → reject at once, no retry', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { onFailure: { retry: FAST_RETRY } })]);
    const s = deliver(h.engine, 'plant', 't/a');
    for (let i = 0; i < 3; i++) {
      await h.rabbit.waitFor(i + 1);
      h.rabbit.writes[i]!.reject(transient());
    }
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes.map((o) => o.kind)).toEqual(['release']);
    expect(h.rabbit.writes).toHaveLength(3);

    const p = deliver(h.engine, 'plant', 't/b');
    await h.rabbit.waitFor(4);
    h.rabbit.writes[3]!.reject(unroutable());
    await until(() => p.outcomes.length > 0);
    expect(p.outcomes.map((o) => o.kind)).toEqual(['reject']);
    await flush();
    expect(h.rabbit.writes).toHaveLength(4);
  });

  it('a message waiting for its retry does not hold up the messages after it', async () => {
    const slow = { maxAttempts: 2, initialMs: 60_000, maxMs: 60_000 };
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { onFailure: { retry: slow } })]);
    // full jitter may pick a short delay; a fixed random would need injecting, so check the
    // ordering instead: the second message settles while the first is still unsettled
    const first = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.reject(transient());
    await flush();
    const second = deliver(h.engine, 'plant', 't/b');
    await h.rabbit.waitFor(2);
    const w = h.rabbit.writes.find((x) => x.message.source.address === 't/b');
    w!.resolve();
    await until(() => second.outcomes.length > 0);
    expect(second.outcomes).toEqual([{ kind: 'accept' }]);
    if (first.outcomes.length === 0) {
      // still waiting: stopping the engine gives it back to its source, not to a dead letter
      expect(h.engine.routeLoad('t')?.inFlight).toBe(1);
      h.engine.stop();
      await until(() => first.outcomes.length > 0);
      expect(first.outcomes.map((o) => [o.kind, o.kind === 'accept' ? '' : o.reason.code])).toEqual([['release', 'SHUTTING_DOWN']]);
    }
  });
});

describe('Engine: dead letters', () => {
  const dl = { retry: FAST_RETRY, deadLetter: DEAD };

  it('retries exhausted → the dead-letter copy carries the reason headers, body and headers untouched → accept', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r.{1}' })], { onFailure: dl })]);
    const s = deliver(h.engine, 'plant', 't/a', [['keep', 'me']]);
    for (let i = 0; i < 3; i++) {
      await h.rabbit.waitFor(i + 1);
      h.rabbit.writes[i]!.reject(transient());
    }
    await h.web.waitFor(1);
    const dead = h.web.writes[0]!;
    expect(dead.to).toEqual({ destination: '/queue/dead.a' });
    expect(dead.message.body.toString()).toBe('body of t/a');
    expect(Object.fromEntries(dead.message.headers)).toEqual({
      keep: 'me',
      [DEAD_LETTER_HEADERS.reason]: 'NOT_CONNECTED: broker down',
      [DEAD_LETTER_HEADERS.route]: 't',
      [DEAD_LETTER_HEADERS.failedDestination]: 'rabbit exchange=x routingKey=r.a (to[0])',
      [DEAD_LETTER_HEADERS.attempts]: 3,
      [DEAD_LETTER_HEADERS.originalAddress]: 't/a',
      [DEAD_LETTER_HEADERS.gateway]: 'edge-test',
    });
    expect(s.outcomes).toEqual([]);
    dead.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.metrics.count('messages_dead_lettered_total', { route: 't', reason: 'NOT_CONNECTED' })).toBe(1);
    expect(h.metrics.count('messages_retried_total', { route: 't', code: 'NOT_CONNECTED' })).toBe(2);
  });

  it('a message past maxHops goes to the dead letter with reason LOOP_DETECTED, never to its destination', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r.{1}' })], { onFailure: dl })]);
    const s = deliver(h.engine, 'plant', 't/a', [['x-ferry-hops', 8]]);
    await h.web.waitFor(1);
    const dead = h.web.writes[0]!;
    expect(dead.to).toEqual({ destination: '/queue/dead.a' });
    expect(dead.message.headers.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^LOOP_DETECTED: the message has passed through Ferry 8 times/);
    dead.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.rabbit.writes).toHaveLength(0);
    expect(h.metrics.count('messages_dead_lettered_total', { route: 't', reason: 'LOOP_DETECTED' })).toBe(1);
  });

  it('a permanent failure (unroutable) skips the retries and goes straight to the dead letter', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { onFailure: dl })]);
    const s = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.reject(unroutable());
    await h.web.waitFor(1);
    expect(h.rabbit.writes).toHaveLength(1);
    expect(h.web.writes[0]!.message.headers.get(DEAD_LETTER_HEADERS.reason)).toBe('SINK_UNROUTABLE: no queue bound');
    expect(h.web.writes[0]!.message.headers.get(DEAD_LETTER_HEADERS.attempts)).toBe(1);
    h.web.writes[0]!.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.metrics.count('messages_retried_total', { route: 't', code: 'SINK_UNROUTABLE' })).toBe(0);
  });

  it('a template with a missing value: that destination is dead-lettered with its template, the others are written', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'cmd.{header.device}' }), ep('devices', { topic: 'all/{1}' })], { onFailure: dl })]);
    const s = deliver(h.engine, 'plant', 't/a');
    await h.devices.waitFor(1);
    await h.web.waitFor(1);
    expect(h.rabbit.writes).toHaveLength(0);
    const headers = h.web.writes[0]!.message.headers;
    expect(headers.get(DEAD_LETTER_HEADERS.reason)).toMatch(/^TEMPLATE_MISSING_VALUE: template "cmd.\{header.device\}": no value for \{header.device\}/);
    expect(headers.get(DEAD_LETTER_HEADERS.failedDestination)).toBe('rabbit exchange=x routingKey=cmd.{header.device} (to[0])');
    expect(headers.get(DEAD_LETTER_HEADERS.attempts)).toBe(0);
    h.devices.writes[0]!.resolve();
    await flush();
    expect(s.outcomes).toEqual([]);
    h.web.writes[0]!.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
    expect(h.metrics.count('messages_dead_lettered_total', { route: 't', reason: 'TEMPLATE_MISSING_VALUE' })).toBe(1);
  });

  it('a dead-letter write that fails releases the message (nothing lost)', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { onFailure: { deadLetter: DEAD } })]);
    const s = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.reject(unroutable());
    await h.web.waitFor(1);
    h.web.writes[0]!.reject(unroutable());
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes.map((o) => o.kind)).toEqual(['release']);
    expect(h.metrics.count('messages_dead_lettered_total', { route: 't', reason: 'SINK_UNROUTABLE' })).toBe(0);
  });

  it('a dead-letter destination whose own template cannot be filled rejects (a redelivery would fail the same way)', async () => {
    const h = harness([
      route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { onFailure: { deadLetter: ep('web', { destination: '/queue/dead.{header.tenant}' }) } }),
    ]);
    const s = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.reject(unroutable());
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes.map((o) => [o.kind, o.kind === 'accept' ? '' : o.reason.code])).toEqual([['reject', 'TEMPLATE_MISSING_VALUE']]);
    expect(h.web.writes).toHaveLength(0);
  });

  it('a poison message among good ones: the stream goes on, every message accounted for', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'cmd.{header.device}' })], { onFailure: dl })]);
    const tally = new Tally();
    const sent: Sent[] = [];
    for (let i = 0; i < 50; i++) {
      const headers: [string, HeaderValue][] = i % 10 === 3 ? [] : [['device', `d${i}`]];
      tally.sent(`m${i}`);
      sent.push(deliver(h.engine, 'plant', `t/m${i}`, headers));
    }
    await h.rabbit.waitFor(45);
    await h.web.waitFor(5);
    for (const w of [...h.rabbit.writes, ...h.web.writes]) w.resolve();
    expect(await h.engine.drain(2_000)).toBe(true);
    sent.forEach((s, i) => {
      if (s.outcomes.length === 1 && s.outcomes[0]!.kind === 'accept') tally.received(`m${i}`);
    });
    console.log(tally.summary('poison 1 in 10, dead-lettered (accepted)'));
    expect(tally.counts).toMatchObject({ sent: 50, received: 50, duplicated: 0, lost: 0 });
    expect(h.web.writes.map((w) => w.to['destination'])).toEqual(['/queue/dead.m3', '/queue/dead.m13', '/queue/dead.m23', '/queue/dead.m33', '/queue/dead.m43']);
  });
});

describe('Engine: backpressure', () => {
  it('at most maxInFlight per route; the source is paused when full and resumed at the low mark', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { maxInFlight: 4 })]);
    const flow = h.engine.flow('plant');
    const changes: boolean[] = [];
    flow.onChange((p) => changes.push(p));
    expect(flow.paused).toBe(false);
    const tally = new Tally();
    const sent: Sent[] = [];
    for (let i = 0; i < 6; i++) {
      tally.sent(`m${i}`);
      sent.push(deliver(h.engine, 'plant', `t/m${i}`));
    }
    await h.rabbit.waitFor(4);
    await flush();
    // 4 written, 2 that arrived after the pause wait for room
    expect(h.rabbit.writes).toHaveLength(4);
    expect(flow.paused).toBe(true);
    expect(h.metrics.gauge('source_paused', { connector: 'plant' })).toBe(1);
    expect(h.engine.routeLoad('t')).toMatchObject({ maxInFlight: 4, inFlight: 4, waiting: 2 });
    expect(h.engine.inFlight).toBe(6);

    // one confirm admits one waiting message; the load (5) is still above the low mark (3)
    h.rabbit.writes[0]!.resolve();
    await h.rabbit.waitFor(5);
    expect(flow.paused).toBe(true);
    h.rabbit.writes[1]!.resolve();
    await h.rabbit.waitFor(6);
    await flush();
    expect(h.engine.routeLoad('t')).toMatchObject({ inFlight: 4, waiting: 0 });
    expect(flow.paused).toBe(true);
    h.rabbit.writes[2]!.resolve();
    await flush();
    expect(flow.paused).toBe(false); // load 3 = floor(0.75 × 4)
    expect(changes).toEqual([true, false]);
    for (const w of h.rabbit.writes.slice(3)) w.resolve();
    expect(await h.engine.drain(1_000)).toBe(true);
    sent.forEach((s, i) => {
      if (s.outcomes.length === 1 && s.outcomes[0]!.kind === 'accept') tally.received(`m${i}`);
    });
    expect(tally.counts).toMatchObject({ sent: 6, received: 6, duplicated: 0, lost: 0 });
    expect(h.engine.routeLoad('t')?.peakInFlight).toBe(4);
    // messages were written in arrival order
    expect(h.rabbit.writes.map((w) => w.message.source.address)).toEqual(['t/m0', 't/m1', 't/m2', 't/m3', 't/m4', 't/m5']);
  });

  it('a full route does not hold up another source’s route; retries count toward maxInFlight', async () => {
    const routes: RouteSpec[] = [
      route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { maxInFlight: 1, onFailure: { retry: { maxAttempts: 2, initialMs: 1, maxMs: 1 } } }),
      { name: 'u', from: ep('artemis', { address: 'u.*' }), to: [ep('devices', { topic: 'u' })], headers: { set: {}, remove: [] } },
    ];
    const h = harness(routes);
    const plant = h.engine.flow('plant');
    const artemis = h.engine.flow('artemis');
    const a = deliver(h.engine, 'plant', 't/a');
    const b = deliver(h.engine, 'plant', 't/b');
    expect(plant.paused).toBe(true);
    expect(artemis.paused).toBe(false);
    // the other source's route flows
    const outcomes: Outcome[] = [];
    h.engine.handler('artemis')({
      message: createMessage({ body: Buffer.alloc(0), source: { connector: 'artemis', protocol: 'amqp10', address: 'u.x' } }),
      settlement: new Settlement((o) => outcomes.push(o)),
    });
    await h.devices.waitFor(1);
    h.devices.writes[0]!.resolve();
    await until(() => outcomes.length > 0);
    expect(outcomes).toEqual([{ kind: 'accept' }]);
    // a's retry keeps its slot: b is still waiting while a is retried
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.reject(transient());
    await h.rabbit.waitFor(2);
    expect(h.rabbit.writes[1]!.message.source.address).toBe('t/a');
    expect(h.engine.routeLoad('t')).toMatchObject({ inFlight: 1, waiting: 1 });
    h.rabbit.writes[1]!.resolve();
    await h.rabbit.waitFor(3);
    h.rabbit.writes[2]!.resolve();
    await until(() => a.outcomes.length > 0 && b.outcomes.length > 0);
    expect([a.outcomes, b.outcomes]).toEqual([[{ kind: 'accept' }], [{ kind: 'accept' }]]);
    expect(plant.paused).toBe(false);
    expect(h.engine.routeLoad('t')?.peakInFlight).toBe(1);
  });

  it('scope delivery: a full route holds back only the deliveries that wait for it (onWait), another route of the same source flows; the whole source pauses only when maxInFlight wait', async () => {
    const h = harness([
      route('slow', [ep('rabbit', { exchange: 'x', routingKey: 'slow' })], { maxInFlight: 2 }),
      route('fast', [ep('devices', { topic: 'fast' })], { maxInFlight: 2 }),
    ]);
    const flow = h.engine.flow('plant', 'delivery');
    const waits: string[] = [];
    const send = (address: string): Sent => {
      const outcomes: Outcome[] = [];
      const settlement = new Settlement((o) => outcomes.push(o));
      const message = createMessage({ body: Buffer.from(address), source: { connector: 'plant', protocol: 'mqtt', address } });
      h.engine.handler('plant')({ message, settlement, onWait: (w) => waits.push(`${address} ${w ? 'waits' : 'taken'}`) });
      return { message, settlement, outcomes };
    };
    // the slow route fills up: its source is not paused, nobody was told to wait
    send('slow/a');
    send('slow/b');
    await h.rabbit.waitFor(2);
    expect(h.engine.routeLoad('slow')).toMatchObject({ inFlight: 2, waiting: 0 });
    expect(flow.paused).toBe(false);
    expect(waits).toEqual([]);
    // the third waits, and its peer is told so; the source as a whole is not paused
    send('slow/c');
    expect(waits).toEqual(['slow/c waits']);
    expect(flow.paused).toBe(false);
    // a message of the other route behind it in the queue is written at once, and never waits
    const fast = send('fast/x');
    await h.devices.waitFor(1);
    h.devices.writes[0]!.resolve();
    await until(() => fast.outcomes.length > 0);
    expect(fast.outcomes).toEqual([{ kind: 'accept' }]);
    expect(waits).toEqual(['slow/c waits']);
    // as many waiting as the route may have in flight: now the whole source pauses
    send('slow/d');
    expect(flow.paused).toBe(true);
    expect(h.metrics.gauge('source_paused', { connector: 'plant' })).toBe(1);
    // a confirm admits the first waiting one, and tells its peer
    h.rabbit.writes[0]!.resolve();
    await h.rabbit.waitFor(3);
    expect(waits).toEqual(['slow/c waits', 'slow/d waits', 'slow/c taken']);
    // waiting 1 ≤ floor(0.75 × 2): resumed
    expect(flow.paused).toBe(false);
    for (let i = 1; i < 3; i++) h.rabbit.writes[i]!.resolve();
    await h.rabbit.waitFor(4);
    h.rabbit.writes[3]!.resolve();
    expect(await h.engine.drain(1_000)).toBe(true);
    expect(waits).toEqual(['slow/c waits', 'slow/d waits', 'slow/c taken', 'slow/d taken']);
    // the default scope stays `source` for a connector that never asked: flow() without a scope keeps it
    expect(h.engine.flow('plant')).toBe(flow);
    send('slow/e');
    send('slow/f');
    await h.rabbit.waitFor(6);
    expect(flow.paused).toBe(false);
  });

  it('a flow listener that throws does not break routing', async () => {
    const h = harness([route('t', [ep('rabbit', { exchange: 'x', routingKey: 'r' })], { maxInFlight: 1 })]);
    h.engine.flow('plant').onChange(() => {
      throw new Error('adapter bug');
    });
    const s = deliver(h.engine, 'plant', 't/a');
    await h.rabbit.waitFor(1);
    h.rabbit.writes[0]!.resolve();
    await until(() => s.outcomes.length > 0);
    expect(s.outcomes).toEqual([{ kind: 'accept' }]);
  });
});
