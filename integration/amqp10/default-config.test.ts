/**
 * The shipped default route file (config/gateway.yaml) through a real gateway, with nobody
 * listening: its amqp10-listener addresses `temperature.*` are topics, so a device's QoS 1
 * readings are PUBACKed and, with no AMQP 1.0 receiver attached, dropped and counted
 * (messages_dropped_total reason "no-receiver") instead of piling up in a queue until it is
 * full and the device is cut off. A receiver that attaches gets the readings published from then
 * on, bytes and `x-room` header intact, and none of the earlier ones (no copy was kept).
 */
import { jest } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import rhea from 'rhea';
import { parseConfig } from '@ferry/config';
import { Gateway, defaultRegistry } from '@ferry/gateway';
import { silentLogger } from '@ferry/core';
import { freePort, RecordingMetrics, Tally, waitFor } from '@ferry/testkit';

jest.setTimeout(60_000);

let gateway: Gateway | undefined;
let dev: MqttClient | undefined;
let conn: rhea.Connection | undefined;
let recorded: RecordingMetrics | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await dev?.endAsync(true).catch(() => undefined);
  if (conn?.is_open() === true) conn.close();
  await gateway?.stop(2000);
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

it('config/gateway.yaml runs with nobody listening: 2,000 QoS 1 readings all PUBACKed, none kept; a receiver attaching later gets the next ones', async () => {
  const env = {
    FERRY_MQTT_PORT: String(await freePort()),
    FERRY_STOMP_PORT: String(await freePort()),
    FERRY_AMQP_PORT: String(await freePort()),
    FERRY_HTTP_PORT: String(await freePort()),
    FERRY_DATA_DIR: (dataDir = await mkdtemp(join(tmpdir(), 'ferry-default-config-'))),
  };
  const text = await readFile(new URL('../../config/gateway.yaml', import.meta.url), 'utf8');
  // startGateway (integration/support) reads process.env; the ports come in through `env` here
  const result = parseConfig(text, 'config/gateway.yaml', defaultRegistry(), { env });
  if (!result.ok) throw new Error('config/gateway.yaml invalid:\n' + result.errors.map((e) => e.format()).join('\n'));
  const metrics = new RecordingMetrics();
  recorded = metrics;
  gateway = await Gateway.load(result.config, { registry: defaultRegistry(), logger: silentLogger, metrics });
  await gateway.start();

  dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${env.FERRY_MQTT_PORT}`, { protocolVersion: 5, clientId: 'default-config-dev', reconnectPeriod: 0, connectTimeout: 5000 });
  // mqtt.js types its stream as a Duplex; over TCP it is a net.Socket
  (dev.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  let closed = false;
  dev.on('close', () => (closed = true));
  dev.on('error', () => undefined);

  // more than the listener's queueBufferMessages (1,000), which a queue would have hit
  const N = 2_000;
  let acked = 0;
  const window = 50;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const i = next++;
      // each publishAsync resolves on its PUBACK, with reason code success
      const packet = await dev!.publishAsync('sensors/hall/temperature', Buffer.from(`old-${i}`), { qos: 1 });
      expect((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0).toBe(0);
      acked++;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  expect(acked).toBe(N);
  expect(closed).toBe(false);
  expect(metrics.count('messages_dropped_total', { connector: 'apps', reason: 'no-receiver' })).toBe(N);

  const c = rhea.create_container();
  c.on('error', () => undefined);
  conn = c.connect({ host: '127.0.0.1', port: Number(env.FERRY_AMQP_PORT), reconnect: false, tcp_no_delay: true } as rhea.ConnectionOptions);
  conn.on('error', () => undefined);
  conn.on('disconnected', () => undefined);
  const got: { body: string; room: unknown; to: unknown }[] = [];
  const tally = new Tally();
  const r = conn.open_receiver({ source: { address: 'temperature.hall' } });
  r.on('message', (ctx: rhea.EventContext) => {
    const b: unknown = ctx.message?.body;
    // Ferry sends the MQTT payload as one data section: rhea hands it over as a Section
    const bytes = Buffer.isBuffer(b) ? b : Buffer.from((b as { content: Buffer }).content);
    got.push({ body: bytes.toString(), room: ctx.message?.application_properties?.['x-room'], to: ctx.message?.to });
    if (bytes.toString() !== 'last') tally.received(bytes.toString());
  });
  await new Promise<void>((res) => r.once('receiver_open', () => res()));
  const M = 20;
  for (let i = 0; i < M; i++) {
    tally.sent(`new-${i}`);
    await dev.publishAsync('sensors/hall/temperature', Buffer.from(`new-${i}`), { qos: 1 });
  }
  // one more after every PUBACK, not counted: the listener hands a receiver its messages in
  // order, so a copy of an earlier reading comes before it
  await dev.publishAsync('sensors/hall/temperature', Buffer.from('last'), { qos: 1 });
  await waitFor(() => tally.complete && got.some((g) => g.body === 'last'), 'every reading published after the receiver attached');
  got.splice(got.findIndex((g) => g.body === 'last'), 1);
  console.log(tally.summary(`default config: ${N} readings with nobody listening dropped (no-receiver), then MQTT device → amqp10-listener topic → AMQP 1.0 receiver`));
  expect(tally.counts).toMatchObject({ sent: M, received: M, lost: 0, duplicated: 0, unexpected: 0 });
  expect(got.map((g) => g.body)).toEqual(Array.from({ length: M }, (_, k) => `new-${k}`));
  expect(got.every((g) => g.room === 'hall' && g.to === 'temperature.hall')).toBe(true);
});

it('a topic address whose last receiver leaves keeps nothing: what waited for it is confirmed, dropped and counted; the next receiver gets only later readings', async () => {
  // the gateway, device and connection of the test above
  expect(gateway && dev && conn).toBeTruthy();
  const metrics = (): number => recorded!.count('messages_dropped_total', { connector: 'apps', reason: 'no-receiver' });
  const before = metrics();
  // a receiver that gives no credit: readings for its address wait in the queue for it
  const stingy = conn!.open_receiver({ source: { address: 'temperature.attic' }, credit_window: 0 });
  await new Promise<void>((res) => stingy.once('receiver_open', () => res()));
  const pubacks = Array.from({ length: 5 }, (_, i) => dev!.publishAsync('sensors/attic/temperature', Buffer.from(`waiting-${i}`), { qos: 1 }));
  let acked = 0;
  for (const p of pubacks) void p.then(() => acked++);
  // each write waits for the receiver's outcome (§3.4). The MQTT listener writes to a connection
  // in order: a PUBACK sent up to now would come before the SUBACK of a SUBSCRIBE sent now.
  await dev!.subscribeAsync('sensors/attic/fence', { qos: 1 });
  expect(acked).toBe(0);

  stingy.close();
  await Promise.all(pubacks);
  await waitFor(() => metrics() - before === 5, 'the 5 queued readings dropped as no-receiver');

  const got: string[] = [];
  const next = conn!.open_receiver({ source: { address: 'temperature.attic' } });
  next.on('message', (ctx: rhea.EventContext) => {
    const b: unknown = ctx.message?.body;
    got.push((Buffer.isBuffer(b) ? b : Buffer.from((b as { content: Buffer }).content)).toString());
  });
  await new Promise<void>((res) => next.once('receiver_open', () => res()));
  await dev!.publishAsync('sensors/attic/temperature', Buffer.from('later'), { qos: 1 });
  // the waiting readings were queued before it: had any been kept for this receiver, it would
  // have come first
  await waitFor(() => got.length >= 1, 'the later reading at the new receiver');
  expect(got).toEqual(['later']);
});
