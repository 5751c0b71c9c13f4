/**
 * Scenario 6: bad connection settings through the whole gateway, run the way
 * `ferry start` runs it (Runtime: route file on disk, admin HTTP). Wrong port, wrong password,
 * a missing exchange with `declare: false`: the gateway starts, its MQTT listener works, the
 * problem is one clear log line, the connector keeps retrying, /readyz answers 503 naming the
 * connector, and nothing crashes. Fixing the cause (declaring the exchange, or reloading a
 * corrected file) makes the gateway ready.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import { Runtime, defaultRegistry } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, renderLine, waitFor, type LogLine } from '@ferry/testkit';
import { device, plainClient, runId } from './helpers.js';

jest.setTimeout(60_000);

let vhost: string;
let dir: string;
const runtimes: Runtime[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('scen-bad');
  dir = await mkdtemp(join(tmpdir(), 'ferry-bad-'));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const r of runtimes.splice(0)) await r.stop();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  if (vhost) await deleteVhost(vhost);
});

interface Started {
  readonly runtime: Runtime;
  readonly lines: LogLine[];
  readonly file: string;
  readonly listenerPort: number;
  readyz(): Promise<{ status: number; body: { ready: boolean; connectors: Record<string, string> } }>;
}

function routeFile(run: string, listenerPort: number, rabbit: string): string {
  return `
gateway: { id: ${run}, http: { port: 0, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
${rabbit}
    reconnect: { initialMs: 50, maxMs: 200 }
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/telemetry/#" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "{address}" }
`;
}

async function start(run: string, rabbit: string): Promise<Started> {
  const listenerPort = await freePort();
  const file = join(dir, `${run}.yaml`);
  await writeFile(file, routeFile(run, listenerPort, rabbit));
  const logger = captureLogger();
  const runtime = new Runtime({ file, registry: defaultRegistry(), logger, drainTimeoutMs: 500 });
  runtimes.push(runtime);
  expect(await runtime.start()).toBe(true); // starts although RabbitMQ is out of reach
  const readyz = async (): Promise<{ status: number; body: { ready: boolean; connectors: Record<string, string> } }> => {
    const res = await fetch(`http://127.0.0.1:${runtime.adminPort}/readyz`);
    return { status: res.status, body: (await res.json()) as { ready: boolean; connectors: Record<string, string> } };
  };
  return { runtime, lines: logger.lines, file, listenerPort, readyz };
}

const problems = (lines: readonly LogLine[]): LogLine[] => lines.filter((l) => l.level === 'warn' || l.level === 'error');
const retries = (lines: readonly LogLine[]): number => lines.filter((l) => l.level === 'debug' && l.message.includes('still retrying')).length;

/** `ferry_sink_failures_total` of `connector`, every route and code summed, from /metrics. */
async function sinkFailures(s: Started, connector: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.runtime.adminPort}/metrics`)).text();
  let n = 0;
  for (const line of text.split('\n')) {
    const m = /^ferry_sink_failures_total\{([^}]*)\} (\d+)/.exec(line);
    if (m?.[1]?.includes(`connector="${connector}"`) === true) n += Number(m[2]);
  }
  return n;
}

/** The listener works while RabbitMQ is out of reach: a device talks to another through it. */
async function listenerWorks(s: Started, run: string): Promise<void> {
  const a = await device(s.listenerPort, `${run}-a`);
  const b = await device(s.listenerPort, `${run}-b`);
  clients.push(a, b);
  await b.subscribeAsync(`${run}/chat/#`, { qos: 1 });
  const got = new Promise<string>((resolve) => b.once('message', (_t, p) => resolve(p.toString())));
  await a.publishAsync(`${run}/chat/hello`, Buffer.from('through the listener'), { qos: 1 }); // no route: accepted
  expect(await got).toBe('through the listener');
}

/** One clear line, the connector retrying, /readyz 503 naming it, /healthz 200. */
async function notReady(s: Started, cause: RegExp, secret?: string): Promise<string> {
  await waitFor(() => retries(s.lines) >= 3, 'three more connect attempts');
  const p = problems(s.lines);
  const text = p.map(renderLine);
  expect(text).toHaveLength(1);
  expect(text[0]).toMatch(cause);
  if (secret !== undefined) expect(JSON.stringify(s.lines)).not.toContain(secret);
  const r = await s.readyz();
  expect(r.status).toBe(503);
  expect(r.body.ready).toBe(false);
  expect(r.body.connectors['devices']).toBe('up');
  expect(r.body.connectors['rabbit']).not.toBe('up');
  expect(s.runtime.gateway?.ready()).toBe(false);
  expect((await fetch(`http://127.0.0.1:${s.runtime.adminPort}/healthz`)).status).toBe(200);
  return `${text[0]} | retries so far ${retries(s.lines)} | /readyz ${r.status} ${JSON.stringify(r.body.connectors)}`;
}

it('wrong port: the gateway runs, one clear line, retrying, /readyz 503', async () => {
  const run = runId('s6p');
  const port = await freePort();
  const s = await start(run, `    type: amqp091\n    url: "amqp://guest:guest@127.0.0.1:${port}/${encodeURIComponent(vhost)}"`);
  await listenerWorks(s, run);
  const line = await notReady(s, new RegExp(`ECONNREFUSED.*${port}|${port}.*ECONNREFUSED`), 'guest:guest');
  console.log('wrong port →', line);

  // a device publishing on a route to the unreachable RabbitMQ is never acknowledged
  const dev = await device(s.listenerPort, `${run}-dev`);
  clients.push(dev);
  let acked = false;
  let closed = false;
  dev.on('close', () => (closed = true));
  dev.publish(`${run}/telemetry/t1`, Buffer.from('x'), { qos: 1 }, (err?: Error | null) => (acked = err === undefined || err === null)); // mqtt.js answers null for success
  // Ferry holds the message and retries the write (the default transient retry, up to 30 s)
  // before it gives it back by closing the connection; never a PUBACK meanwhile. Once /metrics
  // counts a fourth failed write of it, Ferry has retried it three times, backing off; the
  // listener writes to a connection in order, so a PUBACK sent up to then comes before the
  // SUBACK of a SUBSCRIBE sent now.
  await waitFor(async () => (await sinkFailures(s, 'rabbit')) >= 4, 'three retried writes to RabbitMQ');
  await dev.subscribeAsync(`${run}/barrier`, { qos: 1 });
  expect(acked).toBe(false);
  expect(closed).toBe(false);
});

it('wrong password: one ACCESS_REFUSED line without the password, retrying, /readyz 503; reloading a corrected file makes it ready', async () => {
  const run = runId('s6w');
  const secret = `wrong-${run}`;
  const s = await start(run, `    type: amqp091\n    url: "amqp://127.0.0.1:${brokerPorts().rabbitAmqp}/${encodeURIComponent(vhost)}"\n    username: guest\n    password: ${secret}\n    topology: { exchanges: [ { name: telemetry, type: topic } ] }`);
  await listenerWorks(s, run);
  console.log('wrong password →', await notReady(s, /ACCESS.REFUSED/, secret));

  await writeFile(s.file, routeFile(run, s.listenerPort, `    type: amqp091\n    url: "${rabbitUrl(vhost)}"\n    topology: { exchanges: [ { name: telemetry, type: topic } ] }`));
  expect(await s.runtime.reload()).toBe(true);
  await waitFor(async () => (await s.readyz()).status === 200, '/readyz 200 after the reload');
});

it('missing exchange with declare: false: one NOT_FOUND line, retrying, /readyz 503; declaring the exchange makes it ready', async () => {
  const run = runId('s6x');
  const s = await start(run, `    type: amqp091\n    url: "${rabbitUrl(vhost)}"\n    declare: false\n    topology: { exchanges: [ { name: late-${run}, type: topic } ] }`);
  await listenerWorks(s, run);
  console.log('missing exchange →', await notReady(s, new RegExp(`late-${run}.*NOT_FOUND|NOT_FOUND.*late-${run}`)));

  const plain = await plainClient(vhost);
  await plain.ch.assertExchange(`late-${run}`, 'topic', { durable: false, autoDelete: false });
  await plain.close();
  await waitFor(async () => (await s.readyz()).status === 200, '/readyz 200 once the exchange exists');
  expect(problems(s.lines)).toHaveLength(1); // coming up is no problem
});
