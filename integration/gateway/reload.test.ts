/**
 * Reload as a diff (docs/operations.md, "Reload") against the real RabbitMQ: MQTT 5 devices
 * with persistent sessions publish QoS 1 through Ferry's mqtt-listener into RabbitMQ while the
 * route file is reloaded. Counted with Tally: sent (PUBACKed), received at the queues, lost,
 * duplicated; reconnects counted per device.
 */
import { jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConsumeMessage } from 'amqplib';
import type { MqttClient } from 'mqtt';
import { Runtime, defaultRegistry } from '@ferry/gateway';
import { captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, Tally, waitFor, type LogLine, ifAssigned } from '@ferry/testkit';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(180_000);

const DEVICES = 50;
const WINDOW = 5;

const run = runId('rl');
let dir: string;
let vhost: string;
let plain: Plain;
let runtime: Runtime | undefined;
const clients: MqttClient[] = [];
const servers: Server[] = [];
const lines: LogLine[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-reload-'));
  vhost = await createVhost('reload');
  plain = await plainClient(vhost);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await runtime?.stop();
  runtime = undefined;
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  lines.length = 0;
});

afterAll(async () => {
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A route file: devices → RabbitMQ exchange `readings`, routing key `key`; queues a and b bound to keys a and b. */
function routeFile(o: { mqtt: number; http: number; key: string; prefix: string; extra?: string }): string {
  return `
gateway: { id: ${run}, http: { port: ${o.http}, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${o.mqtt}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: readings, type: direct } ]
      queues: [ { name: ${o.prefix}-a }, { name: ${o.prefix}-b } ]
      bindings: [ { queue: ${o.prefix}-a, source: readings, bindingKey: a }, { queue: ${o.prefix}-b, source: readings, bindingKey: b } ]
${o.extra ?? ''}
routes:
  - name: readings
    from: { connector: devices, topic: "${run}/+/reading" }
    to: { connector: rabbit, exchange: readings, routingKey: "${o.key}" }
`;
}

async function started(file: string): Promise<Runtime> {
  const r = new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(lines), drainTimeoutMs: 5_000 });
  runtime = r;
  expect(await r.start()).toBe(true);
  await waitFor(() => r.gateway?.ready() ?? false, 'the gateway ready (RabbitMQ connected, topology declared)', 30_000);
  return r;
}

/** 50 devices with persistent sessions; `reconnects` counts every connection after the first. */
async function devices(port: number): Promise<{ reconnects: () => number; closes: () => number }> {
  let reconnects = 0;
  let closes = 0;
  for (let d = 0; d < DEVICES; d++) {
    const c = await device(port, `${run}-dev${d}`, { clean: false, properties: { sessionExpiryInterval: 300 } });
    c.on('connect', () => reconnects++);
    c.on('close', () => closes++);
    clients.push(c);
  }
  return { reconnects: () => reconnects, closes: () => closes };
}

/** Every device publishes `perDevice` QoS 1 messages (window WINDOW); each is tallied as sent once PUBACKed. */
function publishAll(perDevice: number, tally: Tally): Promise<void> {
  return Promise.all(
    clients.map((c, d) =>
      publishWindowed(c, perDevice, WINDOW, (i) => {
        const id = `d${d}-${i}`;
        return { topic: `${run}/dev${d}/reading`, payload: Buffer.from(id), opts: { qos: 1 } };
      }).then(() => {
        for (let i = 0; i < perDevice; i++) tally.sent(`d${d}-${i}`);
      }),
    ),
  ).then(() => undefined);
}

/**
 * One more message after every PUBACK, waited for at `queue` and taken out of it (not counted):
 * Ferry publishes to RabbitMQ on one channel, in order, so a copy of an earlier message is in
 * the queue before it.
 */
async function fence(c: MqttClient, topic: string, queue: ConsumeMessage[]): Promise<void> {
  await c.publishAsync(topic, Buffer.from('fence'), { qos: 1 });
  await waitFor(() => queue.some((m) => m.content.toString() === 'fence'), 'the fence at the queue', 30_000);
  queue.splice(queue.findIndex((m) => m.content.toString() === 'fence'), 1);
}

function receivedInto(tally: Tally, ...queues: ConsumeMessage[][]): void {
  for (const q of queues) for (const m of q) tally.received(m.content.toString());
}

it(`reloading an unchanged file twice while ${DEVICES} devices publish QoS 1 into RabbitMQ: 0 reconnects, 0 lost, 0 duplicated`, async () => {
  const prefix = `${run}-same`;
  const file = join(dir, 'same.yaml');
  const text = routeFile({ mqtt: await freePort(), http: await freePort(), key: 'a', prefix });
  await writeFile(file, text);
  const r = await started(file);
  const mqttPort = r.gateway!.config.connectors[0]!.options['port'] as number;
  const got = await collectQueue(plain.ch, `${prefix}-a`, 1000);
  const d = await devices(mqttPort);
  const tally = new Tally();
  const PER = 120;

  const publishing = publishAll(PER, tally);
  await waitFor(() => got.length >= DEVICES * 10, 'messages flowing before the first reload', 60_000);
  expect(await r.reload()).toBe(true);
  await waitFor(() => got.length >= DEVICES * 40, 'messages flowing before the second reload', 60_000);
  expect(await r.reload()).toBe(true);
  await publishing;
  await waitFor(() => got.length >= DEVICES * PER, 'every message at the queue', 60_000);
  await fence(clients[0] as MqttClient, `${run}/dev0/reading`, got);
  receivedInto(tally, got);
  console.log(tally.summary(`unchanged reload ×2, ${DEVICES} devices → mqtt-listener → RabbitMQ`) + ` reconnects=${d.reconnects()}`);

  expect(lines.filter((l) => l.message === 'configuration reloaded: nothing changed')).toHaveLength(2);
  expect(d.reconnects()).toBe(0);
  expect(d.closes()).toBe(0);
  expect(tally.counts).toEqual({ sent: DEVICES * PER, received: DEVICES * PER, unique: DEVICES * PER, duplicated: 0, lost: 0, unexpected: 0 });
});

it('reloading a changed route while messages flow: the next messages take the new route, 0 lost, devices stay connected', async () => {
  const prefix = `${run}-chg`;
  const file = join(dir, 'changed.yaml');
  const ports = { mqtt: await freePort(), http: await freePort(), prefix };
  await writeFile(file, routeFile({ ...ports, key: 'a' }));
  const r = await started(file);
  const a = await collectQueue(plain.ch, `${prefix}-a`, 1000);
  const b = await collectQueue(plain.ch, `${prefix}-b`, 1000);
  const d = await devices(ports.mqtt);
  const tally = new Tally();
  const PER = 100;

  const publishing = publishAll(PER, tally);
  await waitFor(() => a.length >= DEVICES * 20, 'messages flowing to queue a', 60_000);
  await writeFile(file, routeFile({ ...ports, key: 'b' }));
  expect(await r.reload()).toBe(true);
  await publishing;
  await waitFor(() => a.length + b.length >= DEVICES * PER, 'every message at queue a or b', 60_000);
  await fence(clients[0] as MqttClient, `${run}/dev0/reading`, b);
  receivedInto(tally, a, b);
  console.log(tally.summary(`route changed mid-stream (a → b): a=${a.length} b=${b.length}`) + ` reconnects=${d.reconnects()}`);

  expect(lines.find((l) => l.message === 'configuration reloaded')?.fields).toMatchObject({ routesChanged: 'readings' });
  expect(b.length).toBeGreaterThan(0);
  expect(d.reconnects()).toBe(0);
  expect(tally.counts).toEqual({ sent: DEVICES * PER, received: DEVICES * PER, unique: DEVICES * PER, duplicated: 0, lost: 0, unexpected: 0 });
});

it('a reload adding a listener on a busy port: the error is logged, the old configuration still delivers, /readyz stays 200', async () => {
  const prefix = `${run}-busy`;
  const file = join(dir, 'busy.yaml');
  const busy = createServer();
  servers.push(busy);
  await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()));
  const taken = (busy.address() as { port: number }).port;
  const ports = { mqtt: await freePort(), http: await freePort(), prefix, key: 'a' };
  await writeFile(file, routeFile(ports));
  const r = await started(file);
  const got = await collectQueue(plain.ch, `${prefix}-a`, 100);
  const dev = await device(ports.mqtt, `${run}-busy`);
  clients.push(dev);

  await writeFile(file, routeFile({ ...ports, extra: `  web: { type: stomp-listener, port: ${taken}, host: 127.0.0.1 }` }));
  expect(await r.reload()).toBe(false);
  const failed = lines.find((l) => l.level === 'error' && l.message.startsWith('reload failed:'));
  expect(failed?.message).toMatch(/web: .*EADDRINUSE.*; the previous configuration keeps serving/);

  const tally = new Tally();
  for (let i = 0; i < 20; i++) {
    await dev.publishAsync(`${run}/dev/reading`, Buffer.from(`after-${i}`), { qos: 1 });
    tally.sent(`after-${i}`);
  }
  await waitFor(() => got.length >= 20, 'the publishes after the failed reload at the queue', 30_000);
  await fence(dev, `${run}/dev/reading`, got);
  receivedInto(tally, got);
  expect(tally.counts).toMatchObject({ sent: 20, received: 20, lost: 0, duplicated: 0 });
  const ready = await fetch(`http://127.0.0.1:${ports.http}/readyz`);
  expect(ready.status).toBe(200);
});
