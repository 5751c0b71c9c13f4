import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadRouteTests } from './route-tests.js';
import { fakeRegistry } from '../test/fake-connectors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'ferry-route-tests-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// a route file whose listener port must come from the environment
writeFileSync(
  path.join(dir, 'routes.yaml'),
  `
connectors:
  devices: { type: mqtt-listener, port: "\${DEVICES_PORT}" }
  rabbit: { type: amqp091, url: "amqp://127.0.0.1:5672" }
routes:
  - { name: up, from: { connector: devices, topic: "a/+" }, to: { connector: rabbit, exchange: x, routingKey: "a.{1}" } }
`,
);

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const oneCase = `
cases:
  - { name: up, from: devices, address: a/b, expect: [ { connector: rabbit, to: { routingKey: a.b } } ] }
`;

describe('loadRouteTests', () => {
  it('reads the route file relative to the test file, with the variables of `env` and nothing else of the environment', async () => {
    process.env['DEVICES_PORT'] = '1883';
    try {
      const without = await loadRouteTests(write('no-env.test.yaml', `routes: routes.yaml${oneCase}`), fakeRegistry());
      expect(without.ok).toBe(false);
      if (!without.ok) expect(without.errors.map((e) => e.format()).join('\n')).toMatch(/routes\.yaml:3:\d+ connectors\.devices\.port: .*DEVICES_PORT/);
    } finally {
      delete process.env['DEVICES_PORT'];
    }
    const withEnv = await loadRouteTests(write('env.test.yaml', `routes: routes.yaml\nenv: { DEVICES_PORT: "1883" }${oneCase}`), fakeRegistry());
    expect(withEnv.ok).toBe(true);
    if (withEnv.ok) {
      expect(withEnv.suite.config.file).toBe(path.join(dir, 'routes.yaml'));
      expect(withEnv.suite.cases.map((c) => [c.name, c.line, c.column])).toEqual([['up', 4, 5]]);
    }
  });

  it('without `routes` and without an override it says what is missing; the override wins over `routes`', async () => {
    const file = write('bare.test.yaml', `env: { DEVICES_PORT: "1" }${oneCase}`);
    const missing = await loadRouteTests(file, fakeRegistry());
    expect(missing.ok ? [] : missing.errors.map((e) => e.format())).toEqual([
      `${file}:1:1 routes: missing required field "routes" (the route file under test, relative to this file), or give one with -c`,
    ]);
    const given = await loadRouteTests(file, fakeRegistry(), { routes: path.join(dir, 'routes.yaml') });
    expect(given.ok).toBe(true);
  });

  it('every problem at once: YAML duplicate keys, an empty case list, a file that cannot be read', async () => {
    const dup = write('dup.test.yaml', 'routes: routes.yaml\nroutes: other.yaml\ncases: []\n');
    const r = await loadRouteTests(dup, fakeRegistry());
    expect(r.ok ? [] : r.errors.map((e) => e.format())).toEqual([
      `${dup}:2:1 routes: duplicate key "routes" (first on line 1)`,
      `${dup}:3:8 cases: expected at least one case (found 0)`,
    ]);
    const none = await loadRouteTests(path.join(dir, 'absent.test.yaml'), fakeRegistry());
    expect(none.ok ? '' : none.errors[0]?.format()).toMatch(/absent\.test\.yaml: cannot read the route test file/);
  });
});
