/**
 * Two promises of route files (docs/route-files.md, "Errors"):
 * a file with an error never half-starts the gateway, and a reload with an error keeps the
 * running configuration. Real MQTT listeners and mqtt.js clients on loopback; no broker.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { captureLogger, freePort, listening, type LogLine } from '@ferry/testkit';
import { defaultRegistry } from './registry.js';
import { Runtime } from './runtime.js';

let dir: string;
const runtimes: Runtime[] = [];
const clients: MqttClient[] = [];
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-runtime-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await Promise.all(runtimes.splice(0).map((r) => r.stop()));
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  await rm(dir, { recursive: true, force: true });
});

function runtime(file: string, lines: LogLine[]): Runtime {
  const r = new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(lines), drainTimeoutMs: 1_000 });
  runtimes.push(r);
  return r;
}

async function client(port: number, id: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: id, reconnectPeriod: 0 });
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  clients.push(c);
  return c;
}

/** A port a server of this test listens on, closed after the test. */
async function busyPort(): Promise<number> {
  const busy = createServer();
  servers.push(busy);
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  return (busy.address() as { port: number }).port;
}

/** A route file with one MQTT listener, `devices`, and these routes (YAML list items). */
const listenerFile = (port: number, routes: string): string => `
gateway: { id: runtime-test }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
routes:
${routes}`;

/** A listener whose route copies `in/<x>` to `<prefix>/<x>` on the same listener. */
const routeFile = (port: number, prefix: string): string => listenerFile(port, copyRoute(`${prefix}/{1}`));

const copyRoute = (to: string): string => `  - name: copy
    from: { connector: devices, topic: "in/+" }
    to: { connector: devices, topic: "${to}" }
`;

/** A started runtime on `routeFile(port, 'v1')` in this test's folder, and its log lines. */
async function started(port: number): Promise<{ file: string; lines: LogLine[]; r: Runtime }> {
  const file = join(dir, 'ferry.yaml');
  await writeFile(file, routeFile(port, 'v1'));
  const lines: LogLine[] = [];
  const r = runtime(file, lines);
  expect(await r.start()).toBe(true);
  return { file, lines, r };
}

/** Publish `in/<x>` and resolve with the topic the subscriber got the copy on. */
async function copyTopic(port: number, x: string): Promise<string> {
  const sub = await client(port, `sub-${x}`);
  await sub.subscribeAsync(['v1/#', 'v2/#'], { qos: 1 });
  const got = new Promise<string>((resolve) => sub.once('message', (topic) => resolve(topic)));
  const dev = await client(port, `dev-${x}`);
  await dev.publishAsync(`in/${x}`, Buffer.from(x), { qos: 1 });
  return got;
}

describe('a route file with an error never half-starts the gateway', () => {
  it('start refuses the whole file: every error logged with its position, no connector listens', async () => {
    const port = await freePort();
    const file = join(dir, 'broken.yaml');
    // the connector is fine and would listen; each route has an error
    await writeFile(
      file,
      listenerFile(
        port,
        copyRoute('out/{2}') +
          `  - name: flags
    from: { connector: devices, topic: "flags/#" }
    to: { connector: devices, topic: "out/flags", retian: true }
`,
      ),
    );
    const lines: LogLine[] = [];
    expect(await runtime(file, lines).start()).toBe(false);
    const errors = lines.filter((l) => l.level === 'error').map((l) => l.message);
    expect(errors).toEqual([
      `${file}:8:38 routes[0].to.topic: placeholder {2} but the source pattern "in/+" has 1 wildcard`,
      `${file}:11:51 routes[1].to.retian: unknown key "retian" (did you mean "retain"?)`,
      `${file}: 2 errors; not started`,
    ]);
    expect(await listening(port)).toBe(false);
  });

  it('a listener that cannot listen stops the connectors that did start, and start fails', async () => {
    const free = await freePort();
    const taken = await busyPort();
    const file = join(dir, 'busy.yaml');
    await writeFile(
      file,
      `
connectors:
  first: { type: mqtt-listener, port: ${free}, host: 127.0.0.1, anonymous: true }
  second: { type: mqtt-listener, port: ${taken}, host: 127.0.0.1, anonymous: true }
routes:
  - { name: across, from: { connector: first, topic: "a/#" }, to: { connector: second, topic: "b" } }
`,
    );
    const starting = runtime(file, []).start();
    await expect(starting).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    await expect(starting).rejects.toThrow(`second: mqtt-listener second: cannot listen on 127.0.0.1:${taken}`);
    expect(await listening(free)).toBe(false);
  });
});

describe('reload', () => {
  it('a file with an error keeps the running configuration and its clients; a valid file changing a route applies it, clients stay', async () => {
    const port = await freePort();
    const { file, lines, r } = await started(port);
    const running = r.gateway;
    expect(await copyTopic(port, 'a')).toBe('v1/a');

    const before = await client(port, 'stays-connected');
    let dropped = false;
    before.on('close', () => (dropped = true));

    // an unknown connector and a bad placeholder: refused, the old table keeps routing
    await writeFile(file, routeFile(port, 'v2/{9}').replace('connector: devices, topic: "v2', 'connector: nowhere, topic: "v2'));
    expect(await r.reload()).toBe(false);
    expect(r.gateway).toBe(running);
    const refused = lines.filter((l) => l.level === 'error').map((l) => l.message);
    expect(refused).toContain(`${file}:8:22 routes[0].to.connector: unknown connector "nowhere"; the connectors are: devices`);
    expect(refused).toContain('reload refused: the running configuration stays');
    expect(await copyTopic(port, 'b')).toBe('v1/b');
    expect(dropped).toBe(false);

    // a valid file changing the route: the listener's settings did not change, so its clients
    // stay connected; the new route table routes the next message
    await writeFile(file, routeFile(port, 'v2'));
    expect(await r.reload()).toBe(true);
    expect(r.gateway).toBe(running);
    expect(await copyTopic(port, 'c')).toBe('v2/c');
    expect(dropped).toBe(false);
    expect(lines.map((l) => l.message)).toContain('configuration reloaded');
    expect(lines.find((l) => l.message === 'configuration reloaded')?.fields).toMatchObject({ routesChanged: 'copy' });
  });

  it('an unchanged file: nothing restarts, clients, their subscriptions and retained messages stay', async () => {
    const port = await freePort();
    const { lines, r } = await started(port);
    const sub = await client(port, 'keeps-session');
    await sub.subscribeAsync('v1/#', { qos: 1 });
    let closed = 0;
    sub.on('close', () => closed++);
    const pub = await client(port, 'retainer');
    await pub.publishAsync('kept/state', Buffer.from('on'), { qos: 1, retain: true });

    expect(lines.find((l) => l.message.startsWith('listener state lives in memory:'))?.fields).toEqual({ listeners: 'devices' });
    expect(await r.reload()).toBe(true);
    expect(lines.map((l) => l.message)).toContain('configuration reloaded: nothing changed');

    // the subscription made before the reload still gets routed copies
    const got = new Promise<string>((resolve) => sub.once('message', (topic) => resolve(topic)));
    await pub.publishAsync('in/x', Buffer.from('x'), { qos: 1 });
    expect(await got).toBe('v1/x');
    // the retained message is still there for a new subscriber
    const late = await client(port, 'late');
    const retained = new Promise<string>((resolve) => late.once('message', (_t, payload) => resolve(payload.toString())));
    await late.subscribeAsync('kept/state', { qos: 1 });
    expect(await retained).toBe('on');
    expect(closed).toBe(0);
  });

  it('a new listener on a busy port: the reload fails, the old configuration serves as before, /readyz stays 200', async () => {
    const port = await freePort();
    const http = await freePort();
    const taken = await busyPort();
    const file = join(dir, 'ferry.yaml');
    const withAdmin = (extra: string): string => routeFile(port, 'v1').replace('gateway: { id: runtime-test }', `gateway: { id: runtime-test, http: { port: ${http}, host: 127.0.0.1 } }`).replace('connectors:\n', `connectors:\n${extra}`);
    await writeFile(file, withAdmin(''));
    const lines: LogLine[] = [];
    const r = runtime(file, lines);
    expect(await r.start()).toBe(true);
    const sub = await client(port, 'stays');
    let closed = false;
    sub.on('close', () => (closed = true));

    await writeFile(file, withAdmin(`  other: { type: stomp-listener, port: ${taken}, host: 127.0.0.1 }\n`));
    expect(await r.reload()).toBe(false);
    const failed = lines.find((l) => l.level === 'error' && l.message.startsWith('reload failed:'));
    expect(failed?.message).toContain(`other: `);
    expect(failed?.message).toContain('EADDRINUSE');
    expect(failed?.message).toContain('the previous configuration keeps serving');
    expect(r.gateway?.config.connectors.map((c) => c.name)).toEqual(['devices']);
    expect(await copyTopic(port, 'after')).toBe('v1/after');
    const ready = await fetch(`http://127.0.0.1:${http}/readyz`);
    expect(ready.status).toBe(200);
    expect(closed).toBe(false);
  });

  it('a listener whose port changed is replaced: the old port closes, the new one serves', async () => {
    const port = await freePort();
    const moved = await freePort();
    const { file, lines, r } = await started(port);
    await writeFile(file, routeFile(moved, 'v1'));
    expect(await r.reload()).toBe(true);
    expect(lines.find((l) => l.message === 'configuration reloaded')?.fields).toMatchObject({ connectorsChanged: 'devices' });
    expect(await listening(port)).toBe(false);
    expect(await copyTopic(moved, 'm')).toBe('v1/m');
  });
});

describe('with a data directory (gateway.spool), listener state survives a restart of the gateway', () => {
  it('says where it is kept; a persistent session gets what was queued for it, the retained message is back', async () => {
    const port = await freePort();
    const file = join(dir, 'durable.yaml');
    await writeFile(file, routeFile(port, 'v1').replace('gateway: { id: runtime-test }', 'gateway: { id: runtime-test, spool: { dir: data } }'));
    const lines: LogLine[] = [];
    const first = runtime(file, lines);
    expect(await first.start()).toBe(true);
    expect(lines.find((l) => l.message.startsWith('listener state is kept on disk:'))?.fields).toEqual({ listeners: 'devices', dir: join(dir, 'data') });
    expect(lines.some((l) => l.message.startsWith('listener state lives in memory'))).toBe(false);

    const persistent = { protocolVersion: 5 as const, clientId: 'durable-sub', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 600 } };
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, persistent);
    await sub.subscribeAsync('v1/#', { qos: 1 });
    await sub.endAsync();
    const dev = await client(port, 'durable-dev');
    await dev.publishAsync('in/a', Buffer.from('queued'), { qos: 1 });
    await dev.publishAsync('state/x', Buffer.from('on'), { qos: 1, retain: true });
    await dev.endAsync();
    await first.stop();

    const again = runtime(file, []);
    expect(await again.start()).toBe(true);
    // the queued message comes right after CONNACK: listen before connecting
    const back = mqtt.connect(`mqtt://127.0.0.1:${port}`, persistent);
    clients.push(back);
    const got = new Promise<string>((resolve) => back.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    expect(await got).toBe('v1/a=queued');
    const reader = await client(port, 'durable-reader');
    const retained = new Promise<string>((resolve) => reader.once('message', (topic, payload) => resolve(`${topic}=${payload.toString()}`)));
    await reader.subscribeAsync('state/#', { qos: 1 });
    expect(await retained).toBe('state/x=on');
  });
});
