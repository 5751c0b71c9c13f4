import { formatPath, type RouteSpec } from '@ferry/core';
import { checkRoutes } from './check.js';
import { fakeConnectors } from '../test/fakes.js';
import { ep, route } from '../test/specs.js';

const connectors = fakeConnectors();

function issues(routes: RouteSpec[]): string[] {
  return checkRoutes(routes, connectors).map((i) => `${formatPath(i.path)}: ${i.message}`);
}

describe('checkRoutes', () => {
  it('accepts the route file example', () => {
    expect(
      issues([
        route(
          'telemetry',
          ep('plant', { topic: 'factory/+/+/temp', qos: 1 }),
          [ep('rabbit', { exchange: 'telemetry', routingKey: 'factory.{1}.{2}.temp' }), ep('web', { destination: '/topic/temp.{1}' })],
          { set: { 'x-site': 'lisbon' }, remove: ['debug'] },
        ),
        route('commands', ep('rabbit', { queue: 'device-commands' }), [ep('devices', { topic: '{header.device}/cmd' })]),
      ]),
    ).toEqual([]);
  });

  it('reports {n} beyond the wildcard count, with the exact message and path', () => {
    const routes = [
      route('r0', ep('plant', { topic: 'x' }), [ep('rabbit', { exchange: 'e', routingKey: 'k' })]),
      route('r1', ep('plant', { topic: 'y' }), [ep('rabbit', { exchange: 'e', routingKey: 'k' })]),
      route('r2', ep('plant', { topic: 'a/+/b' }), [ep('rabbit', { exchange: 'e', routingKey: 'x.{1}.{3}' })]),
    ];
    const found = checkRoutes(routes, connectors);
    expect(found).toEqual([
      { path: ['routes', 2, 'to', 0, 'routingKey'], message: 'placeholder {3} but the source pattern "a/+/b" has 1 wildcard' },
    ]);
  });

  it('says "wildcards" when the count is not 1, and reports every offending placeholder', () => {
    expect(
      issues([route('r', ep('plant', { topic: 'a/+/+' }), [ep('devices', { topic: 'b/{3}/{4}/{1}' })])]),
    ).toEqual([
      'routes[0].to[0].topic: placeholder {3} but the source pattern "a/+/+" has 2 wildcards',
      'routes[0].to[0].topic: placeholder {4} but the source pattern "a/+/+" has 2 wildcards',
    ]);
    expect(issues([route('r', ep('plant', { topic: 'a/b' }), [ep('devices', { topic: 'b/{1}' })])])).toEqual([
      'routes[0].to[0].topic: placeholder {1} but the source pattern "a/b" has 0 wildcards',
    ]);
  });

  it('reports {n} when the source has no pattern (a queue)', () => {
    expect(issues([route('r', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: 'cmd/{1}' })])])).toEqual([
      'routes[0].to[0].topic: placeholder {1} but the source has no address pattern, so there is nothing to capture',
    ]);
  });

  it('reports an invalid source pattern at the field that holds it', () => {
    expect(issues([route('r', ep('plant', { topic: 'a/#/b', qos: 1 }), [ep('rabbit', { exchange: '', routingKey: 'k' })])])).toEqual([
      'routes[0].from.topic: invalid MQTT topic filter "a/#/b": "#" must be the last level, found at level 2 (MQTT 5 §4.7.1.2)',
    ]);
    expect(issues([route('r', ep('rabbit', { exchange: 'x', bindingKey: 'a.b*' }), [ep('devices', { topic: 't' })])])).toEqual([
      'routes[0].from.bindingKey: invalid AMQP 0-9-1 binding key "a.b*": "*" and "#" must be whole words (between dots), found in "b*"',
    ]);
    expect(issues([route('r', ep('web', { destination: '/nope/x' }), [ep('devices', { topic: 't' })])])[0]).toMatch(
      /^routes\[0\]\.from\.destination: invalid STOMP destination "\/nope\/x"/,
    );
  });

  it('falls back to the from path when no field holds the pattern verbatim', () => {
    // the fake amqp091 derives "#" when bindingKey is absent; make a definition whose pattern is computed
    const computed = fakeConnectors({
      odd: { ...connectors.get('plant')!.definition, sourcePattern: (f: { topic: string }) => `${f.topic}/+x` },
    });
    const found = checkRoutes([route('r', ep('odd', { topic: 'a' }), [ep('devices', { topic: 't' })])], computed);
    expect(found.map((i) => formatPath(i.path))).toEqual(['routes[0].from']);
  });

  it('does not check capture counts when the source pattern is invalid (unknown count)', () => {
    expect(issues([route('r', ep('plant', { topic: 'a+' }), [ep('devices', { topic: 'x/{5}' })])])).toHaveLength(1);
  });

  it('reports template syntax errors in every template field', () => {
    expect(
      issues([
        route('r', ep('plant', { topic: 'a/+' }), [
          ep('rabbit', { exchange: 'ex{', routingKey: 'k.{foo}' }),
          ep('web', { destination: '/topic/{}' }),
          ep('artemis', { address: 'a.{0}', subject: '{nope}' }),
        ]),
      ]),
    ).toEqual([
      'routes[0].to[0].exchange: unclosed "{" at column 3 of template "ex{"; expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace',
      'routes[0].to[0].routingKey: unknown placeholder {foo} at column 3 of template "k.{foo}"; expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace',
      'routes[0].to[1].destination: empty placeholder {} at column 8 of template "/topic/{}"; expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace',
      'routes[0].to[2].address: placeholder {0} at column 3 of template "a.{0}"; wildcard captures are numbered from {1}',
    ]);
  });

  it('only templateFields are templates', () => {
    // `subject` of the fake amqp10 is not a template field: braces there are not checked
    expect(issues([route('r', ep('plant', { topic: 'a' }), [ep('artemis', { address: 'x', subject: '{nope}' })])])).toEqual([]);
  });

  it('checks headers.set values as templates', () => {
    expect(
      issues([
        route('r', ep('plant', { topic: 'a/+' }), [ep('devices', { topic: 'x' })], {
          set: { site: 'lisbon', line: '{1}', bad: '{2}', worse: '{x' },
        }),
      ]),
    ).toEqual([
      'routes[0].headers.set.bad: placeholder {2} but the source pattern "a/+" has 1 wildcard',
      'routes[0].headers.set.worse: unclosed "{" at column 1 of template "{x"; expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace',
    ]);
  });

  it('reports templates that can never be filled (wildcards in an MQTT topic, empty, too long)', () => {
    expect(
      issues([
        route('r', ep('plant', { topic: 'a/+' }), [
          ep('devices', { topic: 'out/+' }),
          ep('devices', { topic: 'out/{1}/#' }),
          ep('devices', { topic: '' }),
          ep('rabbit', { exchange: '', routingKey: 'k'.repeat(256) }),
          ep('web', { destination: '' }),
        ]),
      ]),
    ).toEqual([
      'routes[0].to[0].topic: address "out/+" contains a wildcard: an MQTT topic name must not contain "+" or "#" (MQTT 5 §3.3.2.1)',
      'routes[0].to[1].topic: template "out/{1}/#" can never be filled: an MQTT topic name must not contain "+" or "#" (MQTT 5 §3.3.2.1)',
      'routes[0].to[2].topic: address "" is empty: an MQTT topic name must be at least one character (MQTT 5 §4.7.3)',
      `routes[0].to[3].routingKey: address "${'k'.repeat(256)}" is longer than 255 bytes, the limit of an AMQP 0-9-1 shortstr (§4.2.5.3)`,
      'routes[0].to[4].destination: address "" is empty: a STOMP destination must not be empty',
    ]);
  });

  it('skips endpoints whose connector is missing (config reports those)', () => {
    expect(
      issues([
        route('r', ep('ghost', { topic: 'a/+' }), [ep('devices', { topic: 'x/{1}/{7}' }), ep('ghost2', { topic: '{' })]),
      ]),
    ).toEqual([]);
    // a missing source still lets template syntax be checked
    expect(issues([route('r', ep('ghost', {}), [ep('devices', { topic: 'x/{' })])])).toHaveLength(1);
  });

  it('collects issues of every route at once', () => {
    const found = issues([
      route('a', ep('plant', { topic: 'a/#/x' }), [ep('devices', { topic: 'x' })]),
      route('b', ep('plant', { topic: 'b' }), [ep('devices', { topic: '{1}' })]),
      route('c', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{address}' }), ep('devices', { topic: '{header.x}' })]),
    ]);
    expect(found.map((s) => s.split(':')[0])).toEqual(['routes[0].from.topic', 'routes[1].to[0].topic']);
  });
});
