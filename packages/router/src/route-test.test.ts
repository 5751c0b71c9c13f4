import type { HeaderValue, RouteSpec } from '@ferry/core';
import { runRouteTest, type RouteTestCase, type RouteTestExpectation } from './route-test.js';
import { RouteTable } from './table.js';
import { fakeConnectors } from '../test/fakes.js';
import { ep } from '../test/specs.js';

const routes: RouteSpec[] = [
  {
    name: 'telemetry',
    from: ep('plant', { topic: 'factory/+/+/temp' }),
    to: [ep('rabbit', { exchange: 'telemetry', routingKey: 'factory.{1}.{2}.temp' }), ep('web', { destination: '/topic/temp.{1}' })],
    headers: { set: { 'x-site': 'lisbon' }, remove: ['debug'] },
  },
  { name: 'commands', from: ep('rabbit', { queue: 'device-commands' }), to: [ep('devices', { topic: '{header.device}/cmd' })], headers: { set: {}, remove: [] } },
];
const table = RouteTable.compile(routes, fakeConnectors());

function test(from: string, address: string, expect: RouteTestExpectation, headers: [string, HeaderValue][] = []): RouteTestCase {
  return { name: 'case', from, address, headers: new Map(headers), expect };
}
const destinations = (...d: Extract<RouteTestExpectation, { kind: 'destinations' }>['destinations']): RouteTestExpectation => ({ kind: 'destinations', destinations: d });

describe('runRouteTest', () => {
  it('passes when the destinations are exactly the expected ones, in any order, comparing only what is given', () => {
    const r = runRouteTest(
      table,
      test(
        'plant',
        'factory/l1/m2/temp',
        destinations(
          { connector: 'web', to: { destination: '/topic/temp.l1' } },
          { connector: 'rabbit', route: 'telemetry', to: { exchange: 'telemetry', routingKey: 'factory.l1.m2.temp' }, headers: { 'x-site': 'lisbon', debug: null, unit: 'C' } },
        ),
        [
          ['debug', '1'],
          ['unit', 'C'],
        ],
      ),
    );
    expect(r.problems).toEqual([]);
    expect(r.passed).toBe(true);
  });

  it('names each difference of a destination on the expected connector', () => {
    const r = runRouteTest(
      table,
      test('plant', 'factory/l1/m2/temp', destinations({ connector: 'rabbit', to: { routingKey: 'factory.l1.temp' }, headers: { 'x-site': 'porto', debug: null, x: 'y' } }, { connector: 'web' }), [
        ['debug', '1'],
      ]),
    );
    expect(r.passed).toBe(false);
    expect(r.problems).toEqual([
      'expect[0]: rabbit exchange=telemetry routingKey=factory.l1.m2.temp (route telemetry) differs: routingKey is "factory.l1.m2.temp", expected "factory.l1.temp", header x-site is "lisbon", expected "porto", header x is absent, expected "y"',
    ]);
  });

  it('reports a destination nobody expected, and an expected one that is not there', () => {
    const extra = runRouteTest(table, test('plant', 'factory/l1/m2/temp', destinations({ connector: 'web' })));
    expect(extra.problems).toEqual(['unexpected destination rabbit exchange=telemetry routingKey=factory.l1.m2.temp (route telemetry)']);
    const missing = runRouteTest(table, test('plant', 'factory/l1/m2/temp', destinations({ connector: 'web' }, { connector: 'rabbit' }, { connector: 'artemis' })));
    expect(missing.problems).toEqual(['expect[2]: no destination on artemis']);
  });

  it('an empty list expects no route to match', () => {
    expect(runRouteTest(table, test('plant', 'factory/l1/temp', destinations())).passed).toBe(true);
    expect(runRouteTest(table, test('plant', 'factory/l1/m2/temp', destinations())).problems).toHaveLength(2);
  });

  it('rejected: passes when a template cannot be filled, with the expected code when one is given', () => {
    expect(runRouteTest(table, test('rabbit', 'device-commands', { kind: 'rejected', code: undefined })).passed).toBe(true);
    expect(runRouteTest(table, test('rabbit', 'device-commands', { kind: 'rejected', code: 'TEMPLATE_MISSING_VALUE' })).passed).toBe(true);
    expect(runRouteTest(table, test('rabbit', 'device-commands', { kind: 'rejected', code: 'SINK_REJECTED' })).problems).toEqual([
      'expected a rejection with SINK_REJECTED, got TEMPLATE_MISSING_VALUE: template "{header.device}/cmd": no value for {header.device}: the message has no header "device" (route commands, to[0])',
    ]);
    expect(runRouteTest(table, test('rabbit', 'device-commands', { kind: 'rejected', code: undefined }, [['device', 'd1']])).problems).toEqual([
      'expected the message to be rejected, but it goes to devices topic=d1/cmd (route commands)',
    ]);
  });

  it('a message that is rejected fails a case that expects destinations, with the reason', () => {
    const r = runRouteTest(table, test('rabbit', 'device-commands', destinations({ connector: 'devices' })));
    expect(r.passed).toBe(false);
    expect(r.problems[0]).toMatch(/^the message is rejected: TEMPLATE_MISSING_VALUE: /);
  });
});
