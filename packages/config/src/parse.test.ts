import { readFileSync, readdirSync } from 'node:fs';
import { parseConfig, type LoadResult } from './index.js';
import { fakeRegistry } from '../test/fake-connectors.js';

const fixtures = new URL('../test/fixtures/', import.meta.url).pathname;
const registry = fakeRegistry();

function check(kind: 'valid' | 'broken', file: string, env: NodeJS.ProcessEnv = {}): LoadResult {
  return parseConfig(readFileSync(`${fixtures}${kind}/${file}`, 'utf8'), `${kind}/${file}`, registry, { env, defaultId: 'host-1' });
}

function lines(result: LoadResult): string[] {
  if (result.ok) return [];
  return result.errors.map((e) => e.format());
}

/**
 * Every broken fixture with the exact lines a user sees: file:line:column, the field's path,
 * the message. A wrong position, path or word fails the test. Lines are in file order.
 */
const EXPECTED: Record<string, string[]> = {
  'duplicate-keys.yaml': [
    'broken/duplicate-keys.yaml:5:3 connectors.devices: duplicate key "devices" (first on line 2)',
    'broken/duplicate-keys.yaml:10:43 routes[0].to.topic: duplicate key "topic" (first on line 10)',
  ],
  'duplicate-routes.yaml': [
    'broken/duplicate-routes.yaml:11:11 routes[2].name: duplicate route name "telemetry" (first used by routes[0] on line 5)',
  ],
  'empty.yaml': [
    'broken/empty.yaml:1:1 the file is empty: expected a map with gateway, connectors and routes',
  ],
  'endpoints.yaml': [
    'broken/endpoints.yaml:7:11 routes[0].from.bindingKey: missing required field "bindingKey" (a string)',
    'broken/endpoints.yaml:8:9 routes[0].to: expected at least one destination, found an empty list',
    'broken/endpoints.yaml:10:42 routes[1].from.destination: expected a destination starting with /topic/, /queue/, /exchange/ or /amq/queue/ (found "topic/a")',
    'broken/endpoints.yaml:11:9 routes[1].to: expected a destination map, or a list of them, found "devices"',
    'broken/endpoints.yaml:13:11 routes[2].from: expected a source (a map like { connector: NAME, ... }), found a list',
    'broken/endpoints.yaml:15:9 routes[2].to[0]: expected a destination (a map like { connector: NAME, ... }), found "devices"',
    'broken/endpoints.yaml:16:9 routes[2].to[1].connector: missing required field "connector" (the name of a connector)',
    'broken/endpoints.yaml:20:28 routes[3].headers.set.x-a: expected a string, found a list',
    'broken/endpoints.yaml:20:36 routes[3].headers.set.x-b: expected a string, found null',
    'broken/endpoints.yaml:20:57 routes[3].headers.remove[1]: expected a header name, found 3',
  ],
  'env.yaml': [
    'broken/env.yaml:2:7 gateway.id: environment variable FERRY_ID is not set (write ${FERRY_ID:-default} to give a default)',
    'broken/env.yaml:9:11 connectors.web.port: expected a number, found "61613" (quoted values are strings: remove the quotes to write a number)',
    'broken/env.yaml:12:10 connectors.plant.url: unclosed "${" (write "$${" for a literal "${")',
    'broken/env.yaml:15:10 connectors.rabbit.url: "${RABBIT-HOST}" is not a variable: expected ${NAME} or ${NAME:-default}, NAME of letters, digits and _',
  ],
  'many-errors.yaml': [
    'broken/many-errors.yaml:5:17 gateway.log.level: expected one of "debug", "info", "warn", "error", found "loud"',
    'broken/many-errors.yaml:9:5 connectors.devices: port 1883 (the default of its type) is already used by the admin server (gateway.http.port) on line 4',
    'broken/many-errors.yaml:11:11 connectors.web.type: unknown connector type "stomp-listner" (did you mean "stomp-listener"?); known types: mqtt, mqtt-listener, amqp091, amqp10, amqp10-listener, stomp, stomp-listener, log, clock',
    'broken/many-errors.yaml:15:10 connectors.rabbit.url: environment variable RABBIT_HOST is not set (write ${RABBIT_HOST:-default} to give a default)',
    'broken/many-errors.yaml:16:16 connectors.rabbit.heartbeat: expected a number, found "often"',
    'broken/many-errors.yaml:21:5 connectors.plant.protocolVersion: duplicate key "protocolVersion" (first on line 20)',
    'broken/many-errors.yaml:27:51 routes[0].to[0].routingkey: unknown key "routingkey" (did you mean "routingKey"?)',
    'broken/many-errors.yaml:28:63 routes[0].to[1].routingKey: placeholder {3} but the source pattern "factory/+/+/temp" has 2 wildcards',
    'broken/many-errors.yaml:29:22 routes[0].to[2].connector: unknown connector "wb" (did you mean "web"?)',
    'broken/many-errors.yaml:32:11 routes[1].name: duplicate route name "telemetry" (first used by routes[0] on line 24)',
    'broken/many-errors.yaml:34:71 routes[1].to.retain: expected a boolean (true or false), found "maybe"',
    'broken/many-errors.yaml:39:5 routes[2].filter: unknown key "filter"; expected one of: from, headers, maxInFlight, name, onFailure, to',
  ],
  'missing-fields.yaml': [
    'broken/missing-fields.yaml:5:5 connectors.plant.type: missing required field "type" (one of: mqtt, mqtt-listener, amqp091, amqp10, amqp10-listener, stomp, stomp-listener, log, clock)',
    'broken/missing-fields.yaml:7:5 connectors.rabbit.url: missing required field "url" (a string)',
    'broken/missing-fields.yaml:9:5 routes[0].name: missing required field "name" (a string)',
    'broken/missing-fields.yaml:11:5 routes[1].to: missing required field "to" (a destination map, or a list of them)',
    'broken/missing-fields.yaml:13:7 routes[1].from.topic: missing required field "topic" (a string)',
    'broken/missing-fields.yaml:14:5 routes[2].from: missing required field "from" (a map like { connector: NAME, ... })',
    'broken/missing-fields.yaml:16:9 routes[2].to[0].connector: missing required field "connector" (the name of a connector)',
  ],
  'missing-sections.yaml': [
    'broken/missing-sections.yaml:1:1 connectors: missing required field "connectors" (a map of connector names to their options)',
    'broken/missing-sections.yaml:1:1 routes: missing required field "routes" (a list of routes)',
  ],
  'names.yaml': [
    'broken/names.yaml:2:3 connectors.my devices: connector name "my devices" is not valid: use letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters',
    'broken/names.yaml:5:11 routes[0].name: route name "telemetry/plant" is not valid: use letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters',
    'broken/names.yaml:8:11 routes[1].name: expected a string, found 2024 (quote it: "2024")',
    'broken/names.yaml:11:11 routes[2].name: route name "-leading-dash" is not valid: use letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters',
  ],
  'not-a-map.yaml': [
    'broken/not-a-map.yaml:1:1 expected a map with gateway, connectors and routes, found a list',
  ],
  'ports.yaml': [
    'broken/ports.yaml:5:5 connectors.devices: port 1883 (the default of its type) is already used by the admin server (gateway.http.port) on line 2',
    'broken/ports.yaml:8:11 connectors.more-devices.port: port 1883 is already used by the admin server (gateway.http.port) on line 2',
    'broken/ports.yaml:14:11 connectors.amqp.port: port 61613 is already used by connector "web" on line 11',
  ],
  'route-policy.yaml': [
    'broken/route-policy.yaml:9:18 routes[0].maxInFlight: expected at least 1, found 0',
    'broken/route-policy.yaml:11:29 routes[0].onFailure.retry.maxAttempts: expected at least 1, found 0',
    'broken/route-policy.yaml:11:55 routes[0].onFailure.retry.maxMs: maxMs must be at least initialMs',
    'broken/route-policy.yaml:12:7 routes[0].onFailure.deadLeter: unknown key "deadLeter" (did you mean "deadLetter"?)',
    'broken/route-policy.yaml:16:18 routes[1].maxInFlight: expected a number, found "100" (quoted values are strings: remove the quotes to write a number)',
    'broken/route-policy.yaml:18:68 routes[1].onFailure.deadLetter.routingKey: placeholder {2} but the source pattern "b/+" has 1 wildcard',
    'broken/route-policy.yaml:22:43 routes[2].onFailure.deadLetter.connector: connector "ticks" (type clock) cannot be a destination: it takes no "to"',
    'broken/route-policy.yaml:26:43 routes[3].onFailure.deadLetter.connector: unknown connector "rabit" (did you mean "rabbit"?)',
    'broken/route-policy.yaml:30:84 routes[4].onFailure.deadLetter.topic: placeholder {1} but the source has no address pattern, so there is nothing to capture',
    'broken/route-policy.yaml:34:16 routes[5].onFailure: expected a map with retry and/or deadLetter, found "retry"',
    'broken/route-policy.yaml:38:84 routes[6].onFailure.deadLetter.ttl: unknown key "ttl"; expected one of: connector, exchange, persistent, routingKey',
  ],
  'syntax.yaml': [
    'broken/syntax.yaml:3:11 YAML syntax: Nested mappings are not allowed in compact mappings',
    'broken/syntax.yaml:8:1 YAML syntax: Flow map in block collection must be sufficiently indented and end with a }',
  ],
  'templates.yaml': [
    'broken/templates.yaml:9:55 routes[0].to[0].routingKey: placeholder {3} but the source pattern "a/+/b" has 1 wildcard',
    'broken/templates.yaml:10:40 routes[0].to[1].destination: placeholder {2} but the source pattern "a/+/b" has 1 wildcard',
    'broken/templates.yaml:13:36 routes[1].to.topic: placeholder {1} but the source has no address pattern, so there is nothing to capture',
    'broken/templates.yaml:16:36 routes[2].to.topic: placeholder {header.} names no header at column 5 of template "out/{header.}"',
    'broken/templates.yaml:18:23 routes[2].headers.set.x-where: unknown placeholder {nope} at column 1 of template "{nope}"; expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace',
    'broken/templates.yaml:18:59 routes[2].headers.set.x-second: placeholder {2} but the source pattern "in/#" has 1 wildcard',
    'broken/templates.yaml:20:38 routes[3].from.topic: invalid MQTT topic filter "a/#/b": "#" must be the last level, found at level 2 (MQTT 5 §4.7.1.2)',
    'broken/templates.yaml:21:36 routes[3].to.topic: template "out/+/{1}" can never be filled: an MQTT topic name must not contain "+" or "#" (MQTT 5 §3.3.2.1)',
  ],
  'unknown-connector.yaml': [
    'broken/unknown-connector.yaml:10:22 routes[0].to.connector: unknown connector "rabit" (did you mean "rabbit"?)',
    'broken/unknown-connector.yaml:12:24 routes[1].from.connector: unknown connector "warehouse"; the connectors are: rabbit, devices',
    'broken/unknown-connector.yaml:15:24 routes[2].from.connector: expected the name of a connector, found a list',
  ],
  'unknown-keys.yaml': [
    'broken/unknown-keys.yaml:3:3 gateway.htp: unknown key "htp" (did you mean "http"?)',
    'broken/unknown-keys.yaml:4:23 gateway.log.format: unknown key "format"; expected one of: level',
    'broken/unknown-keys.yaml:5:1 connector: unknown key "connector" (did you mean "connectors"?)',
    'broken/unknown-keys.yaml:11:5 connectors.rabbit.heartbeet: unknown key "heartbeet" (did you mean "heartbeat"?)',
    'broken/unknown-keys.yaml:15:5 connectors.plant.colour: unknown key "colour"; expected one of: clientId, keepalive, password, protocolVersion, type, url, username',
    'broken/unknown-keys.yaml:18:5 routes[0].form: unknown key "form"; expected one of: from, headers, maxInFlight, name, onFailure, to',
    'broken/unknown-keys.yaml:19:51 routes[0].from.retain: unknown key "retain"; expected one of: connector, qos, topic',
    'broken/unknown-keys.yaml:21:51 routes[0].to[0].routingkey: unknown key "routingkey" (did you mean "routingKey"?)',
    'broken/unknown-keys.yaml:22:41 routes[0].headers.delete: unknown key "delete"; expected one of: remove, set',
    'broken/unknown-keys.yaml:23:5 routes[0].retry: unknown key "retry"; expected one of: from, headers, maxInFlight, name, onFailure, to',
  ],
  'unknown-type.yaml': [
    'broken/unknown-type.yaml:3:11 connectors.plant.type: unknown connector type "mqtt5" (did you mean "mqtt"?); known types: mqtt, mqtt-listener, amqp091, amqp10, amqp10-listener, stomp, stomp-listener, log, clock',
    'broken/unknown-type.yaml:6:11 connectors.bus.type: unknown connector type "kafka"; known types: mqtt, mqtt-listener, amqp091, amqp10, amqp10-listener, stomp, stomp-listener, log, clock',
    'broken/unknown-type.yaml:9:11 connectors.numbered.type: expected a connector type (one of: mqtt, mqtt-listener, amqp091, amqp10, amqp10-listener, stomp, stomp-listener, log, clock), found 5',
  ],
  'unquoted-template.yaml': [
    'broken/unquoted-template.yaml:6:40 YAML syntax: Unexpected flow-map-start at node end (inside { } or [ ], quote values that hold {, }, [, ] or ",", e.g. topic: "b/{1}")',
  ],
  'wrong-role.yaml': [
    'broken/wrong-role.yaml:10:24 routes[0].from.connector: connector "audit" (type log) cannot be a source: it takes no "from"',
    'broken/wrong-role.yaml:14:22 routes[1].to.connector: connector "clock" (type clock) cannot be a destination: it takes no "to"',
  ],
  'wrong-types.yaml': [
    'broken/wrong-types.yaml:2:7 gateway.id: expected a name of letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters (found "edge 1")',
    'broken/wrong-types.yaml:3:17 gateway.http.port: expected at most 65535, found 70000',
    'broken/wrong-types.yaml:4:17 gateway.log.level: expected one of "debug", "info", "warn", "error", found "verbose"',
    'broken/wrong-types.yaml:8:11 connectors.devices.port: expected a number, found "abc"',
    'broken/wrong-types.yaml:11:11 connectors.web.port: expected a number, found "61613" (quoted values are strings: remove the quotes to write a number)',
    'broken/wrong-types.yaml:15:22 connectors.plant.protocolVersion: expected 4 or 5, found 3',
    'broken/wrong-types.yaml:16:16 connectors.plant.keepalive: expected an integer, found 1.5',
    'broken/wrong-types.yaml:19:48 routes[0].from.qos: expected one of 0, 1, 2, found 5',
    'broken/wrong-types.yaml:21:55 routes[0].to[0].retain: expected a boolean (true or false), found "yes"',
    'broken/wrong-types.yaml:22:38 routes[0].to[1].topic: expected a string, found a list',
    'broken/wrong-types.yaml:23:38 routes[0].to[2].topic: expected a non-empty string, found ""',
  ],
};

describe('broken route files: every error, with its exact position and path', () => {
  it('has an expectation for every broken fixture, and a fixture for every expectation', () => {
    expect(readdirSync(`${fixtures}broken`).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(file, () => {
      const result = check('broken', file);
      expect(result.ok).toBe(false);
      expect(lines(result)).toEqual(expected);
    });
  }
});

describe('valid route files', () => {
  it('loads the contract example with every default filled in', () => {
    const result = check('valid', 'contract-example.yaml');
    if (!result.ok) throw new Error(lines(result).join('\n'));
    const { config } = result;
    expect(config.gateway).toEqual({ id: 'edge-1', http: { port: 9100, host: '127.0.0.1' }, log: { level: 'info' }, maxHops: 8, tracing: { start: false, sampled: true } });
    expect(config.file.endsWith('valid/contract-example.yaml')).toBe(true);
    expect(config.connectors.map((c) => `${c.name}:${c.type}`)).toEqual([
      'devices:mqtt-listener',
      'web:stomp-listener',
      'rabbit:amqp091',
      'plant:mqtt',
      'artemis:amqp10',
    ]);
    expect(config.connectors[0]?.options).toEqual({ port: 1883, host: '0.0.0.0' });
    expect(config.routes).toEqual([
      {
        name: 'telemetry',
        from: { connector: 'plant', fields: { topic: 'factory/+/+/temp', qos: 1 } },
        to: [
          { connector: 'rabbit', fields: { exchange: 'telemetry', routingKey: 'factory.{1}.{2}.temp', persistent: true } },
          { connector: 'web', fields: { destination: '/topic/temp.{1}' } },
        ],
        headers: { set: { 'x-site': 'lisbon' }, remove: ['debug'] },
      },
      {
        name: 'commands',
        from: { connector: 'rabbit', fields: { queue: 'device-commands' } },
        // `to` written as one map is a list of one
        to: [{ connector: 'devices', fields: { topic: '{header.device}/cmd', qos: 1, retain: false } }],
        headers: { set: {}, remove: [] },
      },
    ]);
  });

  it('fills ${VAR} and ${VAR:-default}, coerces plain scalars by YAML rules, keeps quoted ones strings, honours $${', () => {
    const env = { PLANT_HOST: 'plant.local', PLANT_PASSWORD: 's3cret', RETAIN: 'true', FERRY_MQTT_PORT: '11883', FERRY_LOG_LEVEL: '' };
    const result = check('valid', 'env-and-anchors.yaml', env);
    if (!result.ok) throw new Error(lines(result).join('\n'));
    const { config } = result;
    expect(config.gateway).toEqual({ id: 'edge-2', http: { port: 9101, host: '0.0.0.0' }, log: { level: 'info' }, maxHops: 8, tracing: { start: false, sampled: true } });
    const byName = new Map(config.connectors.map((c) => [c.name, c.options]));
    expect(byName.get('devices')).toEqual({ port: 11883, host: '0.0.0.0' }); // a number, not "11883"
    // a quoted scalar that is only a reference is read by YAML rules too: the way to write one inside { }
    expect(byName.get('web')).toEqual({ port: 61613, host: '0.0.0.0' });
    // YAML would read 0042 as the number 42; the field wants a string, so the text is kept
    expect(byName.get('plant')).toMatchObject({
      url: 'mqtt://plant.local:1884',
      username: 'gateway',
      clientId: '0042',
      password: 's3cret${not-a-variable}',
    });
    expect(byName.get('rabbit')).toMatchObject({ url: 'amqp://127.0.0.1:5672' });
    const route = config.routes[0];
    // the merge key brought connector and exchange from the x- anchor
    expect(route?.to[0]).toEqual({ connector: 'rabbit', fields: { exchange: 'telemetry', routingKey: 'plant.{1}', persistent: true } });
    expect(route?.to[1]?.fields).toEqual({ topic: 'mirror/{1}', qos: 1, retain: true }); // "true" became a boolean
    // header values as written: 1.10 stays "1.10"; a single string `remove` is a list of one
    expect(route?.headers).toEqual({ set: { 'x-version': '1.10', 'x-price': '{{1}} costs $$5' }, remove: ['debug'] });
  });

  it('reads maxInFlight and onFailure (retry defaults filled in, the dead letter checked by its type\'s `to` schema)', () => {
    const yaml = [
      'connectors:',
      '  plant: { type: mqtt, url: "mqtt://127.0.0.1:1884" }',
      '  rabbit: { type: amqp091, url: "amqp://127.0.0.1:5672" }',
      'routes:',
      '  - name: telemetry',
      '    from: { connector: plant, topic: "t/+" }',
      '    to: { connector: rabbit, exchange: x, routingKey: "t.{1}" }',
      '    maxInFlight: 50',
      '    onFailure:',
      '      retry: { maxAttempts: 5 }',
      '      deadLetter: { connector: rabbit, exchange: dead, routingKey: "dead.{address}" }',
    ].join('\n');
    const result = parseConfig(yaml, 'policy.yaml', registry, { env: {}, defaultId: 'h' });
    if (!result.ok) throw new Error(lines(result).join('\n'));
    expect(result.config.routes[0]).toMatchObject({
      maxInFlight: 50,
      onFailure: {
        retry: { maxAttempts: 5, initialMs: 200, maxMs: 30_000 },
        deadLetter: { connector: 'rabbit', fields: { exchange: 'dead', routingKey: 'dead.{address}', persistent: true } },
      },
    });
  });

  it('defaults the gateway id to the host name and the log level to info', () => {
    const result = parseConfig('connectors: {}\nroutes: []\n', 'x.yaml', registry, { env: {}, defaultId: 'box-7' });
    expect(result.ok && result.config.gateway).toEqual({ id: 'box-7', log: { level: 'info' }, maxHops: 8, tracing: { start: false, sampled: true } });
  });
});

describe('robustness: bad input gives errors, never a throw', () => {
  const odd: [string, string][] = [
    ['binary', '\u0000\u0001\u0002\uFFFD'],
    ['a scalar', 'hello'],
    ['two documents', 'connectors: {}\nroutes: []\n---\nroutes: []\n'],
    ['tabs', 'connectors:\n\tdevices: {}\nroutes: []\n'],
    ['an alias bomb', 'a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n'],
    ['keys that are not strings', 'connectors: { [1, 2]: { type: mqtt } }\nroutes: [ { name: { a: 1 }, from: 3, to: null, headers: [] } ]\n'],
    ['a huge number', 'gateway: { http: { port: 1e400 } }\nconnectors: {}\nroutes: []\n'],
    ['deep nesting', `connectors: {}\nroutes: ${'['.repeat(500)}${']'.repeat(500)}\n`],
  ];
  for (const [what, text] of odd) {
    it(what, () => {
      const result = parseConfig(text, 'odd.yaml', registry, { env: {} });
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.errors.length).toBeGreaterThan(0);
        for (const e of result.errors) expect(e.format()).toMatch(/^odd\.yaml:\d+:\d+ /);
      }
    });
  }

  it('turns a connector definition that throws into an error', () => {
    const throwing = new Map(registry);
    const listener = registry.get('mqtt-listener');
    if (listener === undefined) throw new Error('fake registry lacks mqtt-listener');
    throwing.set('mqtt-listener', { ...listener, listenPorts: () => { throw new Error('boom'); } });
    const result = parseConfig('connectors:\n  d: { type: mqtt-listener }\nroutes: []\n', 'x.yaml', throwing, { env: {} });
    expect(lines(result)).toEqual(['x.yaml:2:6 connectors.d: internal error while reading the ports of connector "d": boom']);
  });
});
