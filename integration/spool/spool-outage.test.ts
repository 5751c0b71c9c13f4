/**
 * The spool end to end: MQTT devices (QoS 1) → Ferry's mqtt-listener → amqp091 sink
 * → RabbitMQ, with `gateway.spool` on and Ferry reaching RabbitMQ through a TcpProxy. While the
 * proxy refuses and has cut every connection, the destination is unreachable: the devices keep
 * getting their PUBACKs because each message is fsynced into the spool first, and the spool
 * depth grows. When the proxy lets connections through again, the amqp091 connector reconnects
 * and the spool drains in order; messages published during the drain queue behind it. A plain
 * amqplib consumer (straight to RabbitMQ) counts with Tally: 0 lost, order kept per device,
 * duplicates counted and printed.
 */
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import type { MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, deleteVhost, freePort, renderLine, Tally, TcpProxy, waitFor, ifAssigned } from '@ferry/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(60_000);

const DEVICES = 3;
const WINDOW = 10;

const run = runId('spool');
const log = captureLogger();
let vhost: string;
let proxy: TcpProxy;
let plain: Plain;
/** every delivery of the queue, from one consumer for the whole file */
let got: ConsumeMessage[] = [];
let consuming = false;
let spoolDir: string;
let listenerPort: number;
const gateways: Gateway[] = [];
const clients: MqttClient[] = [];

function routeFile(proxyPort: number): string {
  return `
gateway:
  id: ${run}
  spool: { dir: "${spoolDir}", maxBytes: 64MiB, overflow: refuse }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${proxyPort}/${encodeURIComponent(vhost)}"
    reconnect: { initialMs: 100, maxMs: 400 }
    topology:
      exchanges: [ { name: telemetry, type: topic } ]
      queues: [ { name: telemetry-all } ]
      bindings: [ { queue: telemetry-all, source: telemetry, bindingKey: "dev.#" } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/+/data" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "dev.{1}" }
`;
}

async function gateway(): Promise<Gateway> {
  const g = await startGateway(routeFile(proxy.port), log);
  gateways.push(g);
  await waitFor(() => g.ready(), 'gateway ready (RabbitMQ reached through the proxy)');
  return g;
}

/** body `d<device>-<n>`: the id Tally counts and the order checked per device */
const idOf = (m: ConsumeMessage): string => m.content.toString();

/** per device, the first arrival of each message must come in publish order */
function orderViolations(got: readonly ConsumeMessage[]): string[] {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  const out: string[] = [];
  for (const m of got) {
    const id = idOf(m);
    if (seen.has(id)) continue; // a duplicate: counted by Tally, not an order question
    seen.add(id);
    const [dev, n] = id.split('-') as [string, string];
    const prev = last.get(dev) ?? -1;
    if (Number(n) <= prev) out.push(`${id} after ${dev}-${prev}`);
    last.set(dev, Number(n));
  }
  return out;
}

/** publish `count` messages per device (numbers from `from`), all of them PUBACKed when it resolves */
async function publish(tally: Tally, from: number, count: number): Promise<void> {
  await Promise.all(
    clients.map((c, d) =>
      publishWindowed(c, count, WINDOW, (i) => {
        const id = `d${d}-${from + i}`;
        tally.sent(id);
        return { topic: `${run}/d${d}/data`, payload: Buffer.from(id), opts: { qos: 1 } };
      }),
    ),
  );
}

/**
 * One more message once the spool is empty, waited for at the consumer and not counted; returns
 * the deliveries before it. The spool keeps a message until RabbitMQ confirmed it, so every copy
 * of an earlier one was published on Ferry's channel before this one, and the queue hands them
 * out in order: a duplicate has arrived before the marker.
 */
async function untilMarker(c: MqttClient, from: number): Promise<ConsumeMessage[]> {
  const marker = `marker-${from}`;
  await c.publishAsync(`${run}/d0/data`, Buffer.from(marker), { qos: 1 });
  await waitFor(() => got.slice(from).some((m) => idOf(m) === marker), 'the marker at the consumer', 30_000);
  return got.slice(from).filter((m) => idOf(m) !== marker);
}

beforeAll(async () => {
  vhost = await createVhost('spool');
  spoolDir = mkdtempSync(path.join(tmpdir(), 'ferry-spool-it-'));
  listenerPort = await freePort();
  proxy = new TcpProxy(brokerPorts().rabbitAmqp);
  await proxy.start();
  plain = await plainClient(vhost);
});

async function consume(): Promise<void> {
  if (consuming) return;
  consuming = true;
  got = await collectQueue(plain.ch, 'telemetry-all', 1000);
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  for (const g of gateways) await g.stop(2000);
  await ifAssigned(proxy)?.stop();
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
  if (spoolDir) rmSync(spoolDir, { recursive: true, force: true });
  if (process.env['FERRY_TEST_LOG'] !== '1') {
    for (const l of log.lines.filter((x) => x.level === 'error')) console.log(renderLine(l));
  }
});

it('acknowledges devices while RabbitMQ is unreachable, then drains the spool in order: 0 lost', async () => {
  const g = await gateway();
  await consume();
  for (let d = 0; d < DEVICES; d++) clients.push(await device(listenerPort, `${run}-d${d}`));
  const tally = new Tally();

  // 1. reachable: straight through, nothing spooled
  await publish(tally, 0, 100);
  await waitFor(() => got.length >= DEVICES * 100, 'the first messages at the consumer');
  expect(g.spoolDepth()['rabbit']?.messages).toBe(0);

  // 2. unreachable in the middle of a stream: once some of these 300 per device have arrived,
  //    the proxy refuses new connections and cuts the open one, with publishes in flight
  const depths: number[] = [];
  const sampler = setInterval(() => depths.push(g.spoolDepth()['rabbit']?.messages ?? 0), 20);
  const beforeCut = got.length;
  let cutAt = -1;
  const cutter = (async () => {
    await waitFor(() => got.length >= beforeCut + 150, 'the stream to be flowing', 10_000, 1);
    proxy.refuse(true);
    proxy.cut();
    cutAt = got.length;
  })();
  await publish(tally, 100, 300);
  await cutter;
  await waitFor(() => g.connectorStates()['rabbit'] !== 'up', 'the amqp091 connector to notice the cut');
  // 2b. still unreachable: every publish below resolves only on its PUBACK, so all of these
  //     were acknowledged while RabbitMQ could not have confirmed a single one
  const before = got.length;
  const downStarted = performance.now();
  await publish(tally, 400, 200);
  const downMs = performance.now() - downStarted;
  clearInterval(sampler);
  const spooledWhileDown = g.spoolDepth()['rabbit']?.messages ?? 0;
  expect(got.length).toBe(before); // nothing reached RabbitMQ
  expect(spooledWhileDown).toBeGreaterThanOrEqual(DEVICES * 200);
  expect(depths.some((n, i) => i > 0 && n > (depths[i - 1] as number))).toBe(true); // it grew
  console.log(
    `cut after ${cutAt - beforeCut} of ${DEVICES * 300} had arrived; while unreachable: spool depth ${spooledWhileDown} messages, ${g.spoolDepth()['rabbit']?.bytes} bytes, all PUBACKed; ${DEVICES * 200} spooled PUBACKs in ${Math.round(downMs)} ms (${Math.round((DEVICES * 200 * 1000) / downMs)} msg/s, window ${WINDOW} per device)`,
  );

  // 3. reachable again: the connector reconnects, the spool drains; devices keep publishing
  proxy.refuse(false);
  await publish(tally, 600, 200);
  await waitFor(() => new Set(got.map(idOf)).size >= DEVICES * 800, 'every message at the consumer', 30_000, 50);
  await waitFor(() => (g.spoolDepth()['rabbit']?.messages ?? -1) === 0, 'the spool to be empty');
  const counted = await untilMarker(clients[0] as MqttClient, 0);
  for (const m of counted) tally.received(idOf(m));
  console.log(tally.summary('devices → mqtt-listener → [spool] → amqp091 → RabbitMQ across an outage'));
  const violations = orderViolations(counted);
  expect(violations).toEqual([]);
  expect(tally.counts).toMatchObject({ sent: DEVICES * 800, unique: DEVICES * 800, lost: 0, unexpected: 0 });
});

it('keeps what it spooled across a gateway restart and drains it after', async () => {
  // the previous gateway stops while RabbitMQ is unreachable, with messages in its spool
  await consume();
  const start = got.length;
  const previous = gateways[0] as Gateway;
  proxy.refuse(true);
  proxy.cut();
  await waitFor(() => previous.connectorStates()['rabbit'] !== 'up', 'the amqp091 connector to notice the cut');
  const tally = new Tally();
  await publish(tally, 1000, 100);
  expect(previous.spoolDepth()['rabbit']?.messages).toBe(DEVICES * 100);
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await previous.stop(2000);

  // a new gateway over the same directory, RabbitMQ reachable again
  proxy.refuse(false);
  const next = await gateway();
  await waitFor(() => got.length - start >= DEVICES * 100, 'the restarted gateway to drain', 20_000);
  await waitFor(() => (next.spoolDepth()['rabbit']?.messages ?? -1) === 0, 'the spool to be empty');
  const marking = await device(listenerPort, `${run}-marker`);
  clients.push(marking);
  const after = await untilMarker(marking, start);
  for (const m of after) tally.received(idOf(m));
  console.log(tally.summary('spooled before a gateway restart, drained after'));
  expect(orderViolations(after)).toEqual([]);
  expect(tally.counts).toMatchObject({ sent: DEVICES * 100, unique: DEVICES * 100, lost: 0, unexpected: 0 });
});
