import {
  FerryError,
  createMessage,
  type GatewayMessage,
  type HeaderValue,
  type Protocol,
  type RouteSpec,
} from '@ferry/core';
import { RouteTable, type Dispatch, type RouteMatch, type RoutePlan, type UnplannedDestination } from './table.js';
import { fakeConnectors } from '../test/fakes.js';
import { ep, route } from '../test/specs.js';

function msg(connector: string, protocol: Protocol, address: string, headers: [string, HeaderValue][] = []): GatewayMessage {
  return createMessage({ body: Buffer.from('payload'), headers: new Map(headers), source: { connector, protocol, address } });
}
/** the plan of every matching route, in match order */
function planAll(t: RouteTable, m: GatewayMessage, matches: readonly RouteMatch[]): RoutePlan[] {
  return matches.map((match) => t.plan(m, match));
}
/** every dispatch of the plans; throws the first destination that cannot be written */
function dispatches(plans: readonly RoutePlan[]): readonly Dispatch[] {
  const failed = plans.flatMap((p) => p.failed);
  if (failed[0] !== undefined) throw failed[0].error;
  return plans.flatMap((p) => p.dispatches);
}
/** the destinations that cannot be written, with their route */
function failures(plans: readonly RoutePlan[]): (UnplannedDestination & { readonly route: string })[] {
  return plans.flatMap((p) => p.failed.map((f) => ({ ...f, route: p.route })));
}

const connectors = fakeConnectors();

// the route file example of route-files.md, plus a few more
const routes: RouteSpec[] = [
  route(
    'telemetry',
    ep('plant', { topic: 'factory/+/+/temp', qos: 1 }),
    [ep('rabbit', { exchange: 'telemetry', routingKey: 'factory.{1}.{2}.temp' }), ep('web', { destination: '/topic/temp.{1}' })],
    { set: { 'x-site': 'lisbon', 'x-line': '{2}' }, remove: ['debug'] },
  ),
  route('commands', ep('rabbit', { queue: 'device-commands' }), [ep('devices', { topic: '{header.device}/cmd' })]),
  route('mirror', ep('plant', { topic: 'factory/#' }), [
    ep('artemis', { address: 'mirror.{1}' }),
    ep('devices', { topic: 'copy/{address}' }),
    ep('web', { destination: '{address}' }),
  ]),
  route('events', ep('rabbit', { exchange: 'ev', bindingKey: 'order.*.#' }), [ep('devices', { topic: 'orders/{1}/{2}' })]),
];
const table = RouteTable.compile(routes, connectors);

describe('RouteTable.compile', () => {
  it('throws CONFIG_INVALID listing every checkRoutes issue', () => {
    let caught: unknown;
    try {
      RouteTable.compile(
        [
          route('a', ep('plant', { topic: 'a/+' }), [ep('devices', { topic: 'x/{2}' })]),
          route('b', ep('plant', { topic: 'a+' }), [ep('devices', { topic: 'x' })]),
        ],
        connectors,
      );
    } catch (err) {
      caught = err;
    }
    expect(FerryError.is(caught, 'CONFIG_INVALID')).toBe(true);
    const e = caught as FerryError;
    expect(e.message).toContain('routes[0].to[0].topic: placeholder {2} but the source pattern "a/+" has 1 wildcard');
    expect(e.message).toContain('routes[1].from.topic: invalid MQTT topic filter "a+"');
  });

  it('throws on unknown connectors and duplicate route names', () => {
    expect(() => RouteTable.compile([route('a', ep('nope', { topic: 'a' }), [ep('devices', { topic: 'x' })])], connectors)).toThrow(
      /routes\[0\]\.from: unknown connector "nope"/,
    );
    expect(() => RouteTable.compile([route('a', ep('plant', { topic: 'a' }), [ep('nope', { topic: 'x' })])], connectors)).toThrow(
      /routes\[0\]\.to\[0\]: unknown connector "nope"/,
    );
    const r = route('a', ep('plant', { topic: 'a' }), [ep('devices', { topic: 'x' })]);
    expect(() => RouteTable.compile([r, r], connectors)).toThrow(/route name "a" is used twice/);
  });

  it('lists route names, sink connectors and the sources of a connector', () => {
    expect(table.routeNames).toEqual(['telemetry', 'commands', 'mirror', 'events']);
    expect([...table.sinkConnectors].sort()).toEqual(['artemis', 'devices', 'rabbit', 'web']);
    expect(table.routesFrom('plant')).toEqual([
      { route: 'telemetry', from: { topic: 'factory/+/+/temp', qos: 1 } },
      { route: 'mirror', from: { topic: 'factory/#' } },
    ]);
    expect(table.routesFrom('rabbit')).toEqual([
      { route: 'commands', from: { queue: 'device-commands' } },
      { route: 'events', from: { exchange: 'ev', bindingKey: 'order.*.#' } },
    ]);
    expect(table.routesFrom('web')).toEqual([]);
  });
});

describe('RouteTable.match', () => {
  it('matches every route of the connector whose pattern matches, with captures', () => {
    expect(table.match('plant', msg('plant', 'mqtt', 'factory/lisbon/line1/temp'))).toEqual([
      { route: 'telemetry', captures: [['lisbon'], ['line1']] },
      { route: 'mirror', captures: [['lisbon', 'line1', 'temp']] },
    ]);
    expect(table.match('plant', msg('plant', 'mqtt', 'factory/lisbon/hum'))).toEqual([
      { route: 'mirror', captures: [['lisbon', 'hum']] },
    ]);
    expect(table.match('plant', msg('plant', 'mqtt', 'other/x'))).toEqual([]);
    expect(table.match('web', msg('web', 'stomp', '/topic/x'))).toEqual([]);
  });

  it('a route without a pattern takes every message of its connector', () => {
    expect(table.match('rabbit', msg('rabbit', 'amqp091', 'whatever'))).toEqual([{ route: 'commands', captures: [] }]);
    expect(table.match('rabbit', msg('rabbit', 'amqp091', 'order.new.eu'))).toEqual([
      { route: 'commands', captures: [] },
      { route: 'events', captures: [['new'], ['eu']] },
    ]);
  });

  it('restrictTo limits to the named routes; the connector vouches for them', () => {
    const m = msg('rabbit', 'amqp091', 'order.new.eu');
    expect(table.match('rabbit', m, ['events'])).toEqual([{ route: 'events', captures: [['new'], ['eu']] }]);
    expect(table.match('rabbit', m, ['commands'])).toEqual([{ route: 'commands', captures: [] }]);
    expect(table.match('rabbit', m, [])).toEqual([]);
    // a route of another connector is never matched
    expect(table.match('rabbit', m, ['telemetry'])).toEqual([]);
    // the pattern does not match: still taken, without captures
    expect(table.match('rabbit', msg('rabbit', 'amqp091', 'x'), ['events'])).toEqual([{ route: 'events', captures: [] }]);
  });

  it('remembers an address: the same matches for the next message of it, the right ones for another address or other restrictTo', () => {
    const t = RouteTable.compile(routes, connectors);
    const first = t.match('plant', msg('plant', 'mqtt', 'factory/porto/line2/temp'));
    const again = t.match('plant', msg('plant', 'mqtt', 'factory/porto/line2/temp'));
    expect(again).toBe(first);
    expect(again).toEqual([
      { route: 'telemetry', captures: [['porto'], ['line2']] },
      { route: 'mirror', captures: [['porto', 'line2', 'temp']] },
    ]);
    // the same address from another connector is another connector's matter
    expect(t.match('web', msg('web', 'stomp', 'factory/porto/line2/temp'))).toEqual([]);
    const m = msg('rabbit', 'amqp091', 'order.new.eu');
    expect(t.match('rabbit', m, ['events'])).toEqual([{ route: 'events', captures: [['new'], ['eu']] }]);
    // an equal restrictTo in another array is the same question; a different one is not
    expect(t.match('rabbit', m, ['events'])).toBe(t.match('rabbit', m, ['events']));
    expect(t.match('rabbit', m, ['commands'])).toEqual([{ route: 'commands', captures: [] }]);
    expect(t.match('rabbit', m)).toEqual([
      { route: 'commands', captures: [] },
      { route: 'events', captures: [['new'], ['eu']] },
    ]);
    expect(t.match('rabbit', m, ['events'])).toEqual([{ route: 'events', captures: [['new'], ['eu']] }]);
  });
});

describe('RouteTable.plan', () => {
  it('fans out one Dispatch per `to`, rendering templates in each sink syntax', () => {
    const m = msg('plant', 'mqtt', 'factory/lisbon/line1/temp');
    const ds = dispatches(planAll(table, m, table.match('plant', m)));
    expect(ds.map((d) => [d.route, d.index, d.connector, d.to])).toEqual([
      ['telemetry', 0, 'rabbit', { exchange: 'telemetry', routingKey: 'factory.lisbon.line1.temp' }],
      ['telemetry', 1, 'web', { destination: '/topic/temp.lisbon' }],
      ['mirror', 0, 'artemis', { address: 'mirror.lisbon.line1.temp' }],
      ['mirror', 1, 'devices', { topic: 'copy/factory/lisbon/line1/temp' }],
      ['mirror', 2, 'web', { destination: '/topic/factory.lisbon.line1.temp' }],
    ]);
  });

  it('# captures are joined with the SINK separator', () => {
    const m = msg('rabbit', 'amqp091', 'order.new.eu.pt');
    const ds = dispatches(planAll(table, m, table.match('rabbit', m, ['events'])));
    expect(ds[0]?.to).toEqual({ topic: 'orders/new/eu/pt' });
  });

  it('applies header remove then set (set values are templates), without changing the input', () => {
    const m = msg('plant', 'mqtt', 'factory/lisbon/line1/temp', [
      ['debug', 'yes'],
      ['keep', 1],
      ['x-site', 'old'],
    ]);
    const ds = dispatches(planAll(table, m, table.match('plant', m, ['telemetry'])));
    expect(ds).toHaveLength(2);
    const out = ds[0]!.message;
    expect([...out.headers]).toEqual([
      ['keep', 1],
      ['x-site', 'lisbon'],
      ['x-line', 'line1'],
      ['x-ferry-hops', 1],
    ]);
    expect(ds[1]!.message).toBe(out);
    // the input is untouched
    expect([...m.headers]).toEqual([
      ['debug', 'yes'],
      ['keep', 1],
      ['x-site', 'old'],
    ]);
    expect(out.body).toBe(m.body);
    expect(out.source).toEqual(m.source);
  });

  it('a route without header rules passes the message on with one more hop, everything else as it was', () => {
    const m = msg('plant', 'mqtt', 'factory/a/b');
    const ds = dispatches(planAll(table, m, table.match('plant', m, ['mirror'])));
    for (const d of ds) {
      expect({ ...d.message, headers: undefined }).toEqual({ ...m, headers: undefined });
      expect(d.message.body).toBe(m.body);
      expect([...d.message.headers]).toEqual([['x-ferry-hops', 1]]);
    }
    expect(m.headers.size).toBe(0);
  });

  it('to-templates see the incoming headers, so a header can route and still be removed', () => {
    const t = RouteTable.compile(
      [route('cmd', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{header.device}/cmd' })], { remove: ['device'] })],
      connectors,
    );
    const m = msg('rabbit', 'amqp091', 'q', [['device', 'd7']]);
    const ds = dispatches(planAll(t, m, t.match('rabbit', m)));
    expect(ds[0]?.to).toEqual({ topic: 'd7/cmd' });
    expect(ds[0]?.message.headers.has('device')).toBe(false);
  });

  it('plans each destination on its own: one whose template cannot be filled is listed failed, the others planned', () => {
    const t = RouteTable.compile(
      [
        route('ok', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 'fine' })]),
        route('bad', ep('rabbit', { queue: 'q2' }), [ep('devices', { topic: 'also-fine' }), ep('devices', { topic: '{header.device}/cmd' })]),
      ],
      connectors,
    );
    const m = msg('rabbit', 'amqp091', 'q');
    const plans = planAll(t, m, t.match('rabbit', m));
    expect(plans.map((p) => [p.route, p.dispatches.map((d) => d.to)])).toEqual([
      ['ok', [{ topic: 'fine' }]],
      ['bad', [{ topic: 'also-fine' }]],
    ]);
    const failed = failures(plans);
    expect(failed.map((f) => [f.route, f.index, f.connector, f.to])).toEqual([['bad', 1, 'devices', { topic: '{header.device}/cmd' }]]);
    const error = failed[0]!.error;
    expect(error.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(error.permanent).toBe(true);
    expect(error.message).toContain('the message has no header "device"');
  });

  it('fails when a rendered address is invalid for the sink (wildcard in MQTT, long routing key)', () => {
    const t = RouteTable.compile(
      [
        route('a', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{header.t}' })]),
        route('b', ep('plant', { topic: 'x/+' }), [ep('rabbit', { exchange: 'e', routingKey: 'k.{1}' })]),
      ],
      connectors,
    );
    const a = msg('rabbit', 'amqp091', 'q', [['t', 'a/+/b']]);
    const pa = planAll(t, a, t.match('rabbit', a));
    expect(pa[0]?.dispatches).toEqual([]);
    expect(failures(pa).map((f) => [f.index, f.error.code, f.error.permanent])).toEqual([[0, 'TEMPLATE_INVALID', true]]);
    const empty = msg('rabbit', 'amqp091', 'q', [['t', '']]);
    expect(failures(planAll(t, empty, t.match('rabbit', empty))).map((f) => f.error.code)).toEqual(['TEMPLATE_INVALID']);
    const b = msg('plant', 'mqtt', `x/${'y'.repeat(300)}`);
    const pb = failures(planAll(t, b, t.match('plant', b)));
    expect(pb.map((f) => f.index)).toEqual([0]);
    expect(pb[0]?.error.message).toMatch(/255 bytes/);
  });

  it('a headers.set template failure fails the route as a whole: index undefined, nothing planned', () => {
    const t = RouteTable.compile(
      [route('h', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 't' }), ep('web', { destination: '/topic/t' })], { set: { who: '{header.user}' } })],
      connectors,
    );
    const m = msg('rabbit', 'amqp091', 'q');
    const plan = t.plan(m, t.match('rabbit', m)[0]!);
    expect(plan.dispatches).toEqual([]);
    expect(plan.failed.map((f) => [f.index, f.connector, f.error.code])).toEqual([[undefined, undefined, 'TEMPLATE_MISSING_VALUE']]);
    expect(plan.failed[0]?.error.message).toContain('"user"');
  });

  it('{n} with restrictTo and a pattern that did not match fails (missing value), never half-filled', () => {
    const m = msg('rabbit', 'amqp091', 'x');
    const failed = failures(planAll(table, m, table.match('rabbit', m, ['events'])));
    expect(failed.map((f) => [f.route, f.index, f.error.code])).toEqual([['events', 0, 'TEMPLATE_MISSING_VALUE']]);
  });

  it('an unknown route fails as a whole (INTERNAL, transient)', () => {
    const plan = table.plan(msg('plant', 'mqtt', 'a'), { route: 'ghost', captures: [] });
    expect(plan.dispatches).toEqual([]);
    expect(plan.failed.map((f) => [f.index, f.error.code, f.error.permanent])).toEqual([[undefined, 'INTERNAL', false]]);
  });

  it('renders a destination that reads only the address once per address, one that reads a header per message; never a shared `to` that can change', () => {
    const t = RouteTable.compile(routes, connectors);
    const plan = (m: GatewayMessage): readonly Dispatch[] => dispatches(planAll(t, m, t.match(m.source.connector, m)));
    const a = plan(msg('plant', 'mqtt', 'factory/faro/l1/temp'));
    const b = plan(msg('plant', 'mqtt', 'factory/faro/l1/temp'));
    expect(a.map((d) => d.to)).toEqual([
      { exchange: 'telemetry', routingKey: 'factory.faro.l1.temp' },
      { destination: '/topic/temp.faro' },
      { address: 'mirror.faro.l1.temp' },
      { topic: 'copy/factory/faro/l1/temp' },
      { destination: '/topic/factory.faro.l1.temp' },
    ]);
    // rendered once for the address: the same frozen objects, not equal copies
    a.forEach((d, i) => expect(b[i]?.to).toBe(d.to));
    for (const d of a) expect(Object.isFrozen(d.to)).toBe(true);
    expect(plan(msg('plant', 'mqtt', 'factory/faro/l2/temp'))[0]?.to).toEqual({ exchange: 'telemetry', routingKey: 'factory.faro.l2.temp' });
    // `{header.device}/cmd`: the same address, another header, another destination
    const cmd = (device: string): unknown => plan(msg('rabbit', 'amqp091', 'device-commands', [['device', device]]))[0]?.to;
    expect(cmd('d1')).toEqual({ topic: 'd1/cmd' });
    expect(cmd('d2')).toEqual({ topic: 'd2/cmd' });
    expect(Object.isFrozen(cmd('d3'))).toBe(true);
  });

  it('keeps non-template and escaped fields', () => {
    const t = RouteTable.compile(
      [route('e', ep('plant', { topic: 'a' }), [ep('devices', { topic: 'lit{{x}}', qos: 1, retain: true })])],
      connectors,
    );
    const m = msg('plant', 'mqtt', 'a');
    expect(dispatches(planAll(t, m, t.match('plant', m)))[0]?.to).toEqual({ topic: 'lit{x}', qos: 1, retain: true });
  });
});

describe('RouteTable.explain', () => {
  it('shows each matching route with rendered destinations and headers', () => {
    const out = table.explain('plant', 'factory/lisbon/line1/temp', { debug: '1', a: 'b' });
    expect(out.map((r) => r.route)).toEqual(['telemetry', 'mirror']);
    const tel = out[0]!;
    expect(tel.pattern).toBe('factory/+/+/temp');
    expect(tel.captures).toEqual([['lisbon'], ['line1']]);
    expect(tel.destinations).toEqual([
      {
        ok: true,
        index: 0,
        connector: 'rabbit',
        to: { exchange: 'telemetry', routingKey: 'factory.lisbon.line1.temp' },
        headers: new Map<string, HeaderValue>([
          ['a', 'b'],
          ['x-site', 'lisbon'],
          ['x-line', 'line1'],
          ['x-ferry-hops', 1],
        ]),
      },
      expect.objectContaining({ ok: true, index: 1, connector: 'web', to: { destination: '/topic/temp.lisbon' } }),
    ]);
  });

  it('reports the error of a destination that cannot be rendered', () => {
    const out = table.explain('rabbit', 'anything', new Map());
    expect(out).toEqual([
      {
        route: 'commands',
        pattern: undefined,
        captures: [],
        destinations: [
          {
            ok: false,
            index: 0,
            connector: 'devices',
            code: 'TEMPLATE_MISSING_VALUE',
            error: 'template "{header.device}/cmd": no value for {header.device}: the message has no header "device"',
          },
        ],
      },
    ]);
    const ok = table.explain('rabbit', 'anything', new Map([['device', 'd1']]));
    expect(ok[0]?.destinations[0]).toMatchObject({ ok: true, to: { topic: 'd1/cmd' } });
  });

  it('shows the escaped form: a topic level holding "." is one routing-key word', () => {
    const out = table.explain('plant', 'factory/v1.2/line1/temp');
    expect(out[0]?.destinations[0]).toMatchObject({ ok: true, to: { exchange: 'telemetry', routingKey: 'factory.v1/2.line1.temp' } });
    expect(out[1]?.destinations[0]).toMatchObject({ ok: true, to: { address: 'mirror.v1/2.line1.temp' } });
  });

  it('a header value with "/" templated into a topic fails instead of adding levels; an exchange name may hold dots', () => {
    const t = RouteTable.compile(
      [
        route('cmd', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{header.device}/cmd' })]),
        route('ex', ep('rabbit', { queue: 'q2' }), [ep('rabbit', { exchange: '{header.ex}', routingKey: 'k.{header.k}' })]),
      ],
      connectors,
    );
    const out = t.explain('rabbit', 'x', new Map([['device', 'a/b'], ['ex', 'amq.topic'], ['k', 'v.w']]));
    expect(out[0]?.destinations[0]).toMatchObject({ ok: false, code: 'TEMPLATE_INVALID' });
    expect(out[0]?.destinations[0]).toMatchObject({ error: expect.stringMatching(/would add levels/) as unknown });
    expect(out[1]?.destinations[0]).toMatchObject({ ok: false, code: 'TEMPLATE_INVALID' });
    const ok = t.explain('rabbit', 'x', new Map([['device', 'd.1'], ['ex', 'amq.topic'], ['k', 'v']]));
    expect(ok[0]?.destinations[0]).toMatchObject({ ok: true, to: { topic: 'd.1/cmd' } });
    expect(ok[1]?.destinations[0]).toMatchObject({ ok: true, to: { exchange: 'amq.topic', routingKey: 'k.v' } });
  });

  it('shows what the engine writes: the same planner, so a looped message and a headers.set failure show as failed destinations', () => {
    const looped = table.explain('plant', 'factory/lisbon/line1/temp', { 'x-ferry-hops': 8 });
    expect(looped[0]?.destinations.map((d) => (d.ok ? 'ok' : d.code))).toEqual(['LOOP_DETECTED', 'LOOP_DETECTED']);
    const t = RouteTable.compile(
      [route('h', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 't' }), ep('web', { destination: '/topic/t' })], { set: { who: '{header.user}' } })],
      connectors,
    );
    const out = t.explain('rabbit', 'q');
    expect(out[0]?.destinations.map((d) => [d.index, d.connector, d.ok ? 'ok' : d.code])).toEqual([
      [0, 'devices', 'TEMPLATE_MISSING_VALUE'],
      [1, 'web', 'TEMPLATE_MISSING_VALUE'],
    ]);
    expect(t.explain('rabbit', 'q', { user: 'ann' })[0]?.destinations[1]).toMatchObject({ ok: true, headers: new Map<string, HeaderValue>([['user', 'ann'], ['who', 'ann'], ['x-ferry-hops', 1]]) });
  });

  it('returns nothing when no route matches, and throws for an unknown connector', () => {
    expect(table.explain('plant', 'nowhere')).toEqual([]);
    expect(() => table.explain('ghost', 'a')).toThrow(/unknown connector "ghost"/);
  });
});

describe('loop protection, trace context and reply-to', () => {
  const loopRoutes: RouteSpec[] = [
    route('up', ep('plant', { topic: 'dev/#' }), [ep('rabbit', { exchange: 'x', routingKey: '{address}' }), ep('web', { destination: '/topic/t' })]),
    route('down', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 'back' })], { set: { traceparent: 'set-by-rule' } }),
  ];

  it('counts a hop per passage and refuses the one past maxHops with LOOP_DETECTED (permanent), on every destination', () => {
    const t = RouteTable.compile(loopRoutes, connectors, { maxHops: 3 });
    const at = (hops: number | string | undefined) =>
      t.plan(msg('plant', 'mqtt', 'dev/a', hops === undefined ? [] : [['x-ferry-hops', hops]]), { route: 'up', captures: [['a']] });
    expect(at(undefined).dispatches.map((d) => d.message.headers.get('x-ferry-hops'))).toEqual([1, 1]);
    expect(at(2).dispatches.map((d) => d.message.headers.get('x-ferry-hops'))).toEqual([3, 3]);
    // header-less messages share one hop map per count; one with headers keeps its own and its input
    const first = at(undefined).dispatches[0]?.message.headers;
    expect(at(undefined).dispatches[1]?.message.headers).toBe(first);
    const input = new Map<string, HeaderValue>([['k', 'v']]);
    const own = t.plan(createMessage({ body: Buffer.alloc(0), headers: input, source: { connector: 'plant', protocol: 'mqtt', address: 'dev/a' } }), { route: 'up', captures: [['a']] });
    expect([...(own.dispatches[0]?.message.headers ?? [])]).toEqual([['k', 'v'], ['x-ferry-hops', 1]]);
    expect([...input]).toEqual([['k', 'v']]);
    // MQTT and STOMP carry it as text
    expect(at('2').dispatches).toHaveLength(2);
    const refused = at(3);
    expect(refused.dispatches).toEqual([]);
    expect(refused.failed.map((f) => [f.index, f.error.code, f.error.permanent])).toEqual([
      [0, 'LOOP_DETECTED', true],
      [1, 'LOOP_DETECTED', true],
    ]);
    expect(refused.failed[0]?.error.message).toMatch(/passed through Ferry 3 times .* maxHops is 3/);
    expect(at('7').failed.map((f) => f.error.code)).toEqual(['LOOP_DETECTED', 'LOOP_DETECTED']);
    // the default is 8
    const d = RouteTable.compile(loopRoutes, connectors);
    expect(d.plan(msg('plant', 'mqtt', 'dev/a', [['x-ferry-hops', 7]]), { route: 'up', captures: [['a']] }).dispatches).toHaveLength(2);
    expect(d.plan(msg('plant', 'mqtt', 'dev/a', [['x-ferry-hops', 8]]), { route: 'up', captures: [['a']] }).failed).toHaveLength(2);
  });

  it('tracing.start: a message without a valid traceparent gets one trace for all its routes and destinations; a valid one is kept; a header rule wins', () => {
    let n = 0;
    const random = (len: number) => Buffer.alloc(len, ++n);
    const t = RouteTable.compile(loopRoutes, connectors, { tracing: { start: true, sampled: true }, random });
    const m = msg('plant', 'mqtt', 'dev/a', [['tracestate', 'vendor=stale']]);
    const ds = t.plan(m, { route: 'up', captures: [['a']] }).dispatches;
    const tp = ds[0]?.message.headers.get('traceparent');
    expect(tp).toBe(`00-${'01'.repeat(16)}-${'02'.repeat(8)}-01`);
    expect(ds.map((d) => d.message.headers.get('traceparent'))).toEqual([tp, tp]);
    expect(ds[0]?.message.headers.has('tracestate')).toBe(false);
    // planned again (another route of the same message): the same trace
    expect(t.plan(m, { route: 'up', captures: [['a']] }).dispatches[0]?.message.headers.get('traceparent')).toBe(tp);
    const valid = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const kept = t.plan(msg('plant', 'mqtt', 'dev/a', [['traceparent', valid], ['tracestate', 'a=b']]), { route: 'up', captures: [['a']] }).dispatches[0]?.message.headers;
    expect(kept?.get('traceparent')).toBe(valid);
    expect(kept?.get('tracestate')).toBe('a=b');
    const ruled = t.plan(msg('rabbit', 'amqp091', 'k'), { route: 'down', captures: [] }).dispatches[0]?.message.headers;
    expect(ruled?.get('traceparent')).toBe('set-by-rule');
    // without tracing, nothing is started
    const off = RouteTable.compile(loopRoutes, connectors).plan(msg('plant', 'mqtt', 'dev/a'), { route: 'up', captures: [['a']] });
    expect(off.dispatches[0]?.message.headers.has('traceparent')).toBe(false);
  });

  it('reply-to is translated into each destination syntax (MQTT ⇄ AMQP swap), kept for STOMP', () => {
    const t = RouteTable.compile(loopRoutes, connectors);
    const m = createMessage({ body: Buffer.alloc(0), replyTo: 'dev/d1/v1.2/resp', source: { connector: 'plant', protocol: 'mqtt', address: 'dev/a' } });
    const ds = t.plan(m, { route: 'up', captures: [['a']] }).dispatches;
    expect(ds.map((d) => [d.connector, d.message.replyTo])).toEqual([
      ['rabbit', 'dev.d1.v1/2.resp'],
      ['web', 'dev/d1/v1.2/resp'],
    ]);
    const back = createMessage({ body: Buffer.alloc(0), replyTo: 'dev.d1.v1/2.resp', source: { connector: 'rabbit', protocol: 'amqp091', address: 'k' } });
    expect(t.plan(back, { route: 'down', captures: [] }).dispatches[0]?.message.replyTo).toBe('dev/d1/v1.2/resp');
  });
});

