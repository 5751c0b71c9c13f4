/**
 * Scenario 1: MQTT 5 devices → Ferry's mqtt-listener → a RabbitMQ topic exchange
 * declared by the amqp091 connector's topology, with a templated routing key, consumed by a
 * plain amqplib consumer on a bound queue. 10,000 QoS 1 messages from several devices with
 * windowed publishes: none lost, none duplicated, every routing key right, and the properties of
 * a sample of messages checked field by field (user properties → headers, content type,
 * correlation data → correlation-id, response topic → reply-to, expiry → expiration).
 */
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import type { IClientPublishOptions, MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { captureLogger, createVhost, deleteVhost, freePort, ifAssigned, rabbitUrl, Tally, waitFor } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from './helpers.js';

jest.setTimeout(90_000);

const DEVICES = 5;
const PER_DEVICE = 2_000;
const WINDOW = 100;
/** every SAMPLE-th message of a device carries the full property set and is checked field by field */
const SAMPLE = 97;
const EXPIRY_S = 3600;

const run = runId('s1');
const log = captureLogger();
let vhost: string;
let gateway: Gateway;
let listenerPort: number;
let plain: Plain;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('scen-telemetry');
  listenerPort = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: telemetry, type: topic } ]
      queues: [ { name: telemetry-all } ]
      bindings: [ { queue: telemetry-all, source: telemetry, bindingKey: "device.#" } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/devices/+/telemetry/#" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "device.{1}.{2}" }
`,
    log,
  );
  await waitFor(() => gateway.ready(), 'gateway ready (RabbitMQ connected, topology declared)');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

interface Sent {
  readonly routingKey: string;
  readonly payload: Buffer;
  readonly opts: IClientPublishOptions;
}

/** Topic levels after `telemetry/`: one or two, so `#` is seen covering several levels. */
function tail(i: number): string[] {
  return i % 2 === 0 ? ['temp'] : ['humidity', `zone${i % 3}`];
}

function message(d: number, i: number): { id: string; topic: string; sent: Sent } {
  const id = `d${d}-${i}`;
  const dev = `dev${d}`;
  const rest = tail(i);
  // payload bytes with NULs and high bytes around the id, never text-decoded on the way
  const payload = Buffer.concat([Buffer.from([0, 0xff, 0]), Buffer.from(id), Buffer.from([0, 13, 10, 0x80])]);
  const full = i % SAMPLE === 0;
  const opts: IClientPublishOptions = {
    qos: 1,
    properties: full
      ? {
          userProperties: { id, device: dev, unit: 'celsius', tag: ['a', 'b'] },
          contentType: 'application/vnd.ferry.reading',
          // one in four samples has correlation data that is not UTF-8 (goes as base64)
          correlationData: i % (SAMPLE * 4) === 0 ? Buffer.from([0xff, 0xfe, 0, 1]) : Buffer.from(`corr-${id}\u0000`),
          responseTopic: `${run}/replies/${dev}`,
          messageExpiryInterval: EXPIRY_S,
        }
      : { userProperties: { id, device: dev }, contentType: 'application/octet-stream' },
  };
  return { id, topic: `${run}/devices/${dev}/telemetry/${rest.join('/')}`, sent: { routingKey: ['device', dev, ...rest].join('.'), payload, opts } };
}

function idOf(m: ConsumeMessage): string {
  const h = m.properties.headers ?? {};
  return typeof h['id'] === 'string' ? h['id'] : `no-id:${m.content.toString('hex')}`;
}

it(`carries ${DEVICES * PER_DEVICE} QoS 1 device messages into RabbitMQ: none lost, none duplicated, properties intact`, async () => {
  const got = await collectQueue(plain.ch, 'telemetry-all', 1000);
  const tally = new Tally();
  const sent = new Map<string, Sent>();
  for (let d = 0; d < DEVICES; d++) clients.push(await device(listenerPort, `${run}-dev${d}`));

  const started = Date.now();
  await Promise.all(
    clients.map((c, d) =>
      publishWindowed(c, PER_DEVICE, WINDOW, (i) => {
        const m = message(d, i);
        tally.sent(m.id);
        sent.set(m.id, m.sent);
        return { topic: m.topic, payload: m.sent.payload, opts: m.sent.opts };
      }),
    ),
  );
  const acked = Date.now();
  // every PUBACK came back, so every message was confirmed by RabbitMQ before it. One more
  // message after them all, not counted: a copy of an earlier one would be in the queue first
  const last = message(0, PER_DEVICE);
  await (clients[0] as MqttClient).publishAsync(last.topic, last.sent.payload, { ...last.sent.opts, qos: 1 });
  await waitFor(() => got.some((m) => idOf(m) === last.id) && got.length >= DEVICES * PER_DEVICE + 1, 'every message at the consumer', 30_000);
  got.splice(got.findIndex((m) => idOf(m) === last.id), 1);
  for (const m of got) tally.received(idOf(m));
  console.log(tally.summary('devices → mqtt-listener → RabbitMQ exchange telemetry → queue telemetry-all'));
  console.log(`${DEVICES * PER_DEVICE} PUBACKs in ${acked - started} ms (${Math.round((DEVICES * PER_DEVICE * 1000) / Math.max(1, acked - started))} msg/s, window ${WINDOW} per device)`);
  expect(tally.counts).toEqual({
    sent: DEVICES * PER_DEVICE,
    received: DEVICES * PER_DEVICE,
    unique: DEVICES * PER_DEVICE,
    duplicated: 0,
    lost: 0,
    unexpected: 0,
  });

  // every message: routing key from the template, body bytes, the headers it was sent with. The
  // fields of all 10,000 are gathered, seen beside expected, and compared by one toEqual at the
  // end: eight expect() calls per message took longer than carrying the messages.
  let wrongKey = 0;
  let wrongBody = 0;
  let checked = 0;
  const seen: Record<string, unknown>[] = [];
  const expected: Record<string, unknown>[] = [];
  for (const m of got) {
    const id = idOf(m);
    const s = sent.get(id)!;
    if (m.fields.routingKey !== s.routingKey) wrongKey++;
    if (!m.content.equals(s.payload)) wrongBody++;
    const up = s.opts.properties!.userProperties!;
    const headers = m.properties.headers ?? {};
    const { 'x-ferry-publish-id': publishId, 'x-ferry-hops': hops, 'x-correlation-id': binaryCorrelation, ...rest } = headers;
    const sampled = Number(id.split('-')[1]) % SAMPLE === 0;
    // amqplib types every property `any`: read them as the unknowns they are
    const props: Readonly<Record<string, unknown>> = { ...m.properties };
    seen.push({
      id,
      exchange: m.fields.exchange,
      deliveryMode: props['deliveryMode'],
      publishId: typeof publishId,
      hops,
      headers: rest,
      contentType: props['contentType'],
      ...(sampled ? {} : { correlationId: props['correlationId'], replyTo: props['replyTo'], expiration: props['expiration'] }),
    });
    expected.push({
      id,
      exchange: 'telemetry',
      deliveryMode: 2, // QoS 1 = at least once → persistent
      publishId: 'string', // the sink's return-matching tag (docs/mapping/amqp091.md)
      hops: 1, // one passage through Ferry (loop protection, docs/mapping.md)
      headers: up,
      contentType: s.opts.properties!.contentType,
      ...(sampled ? {} : { correlationId: undefined, replyTo: undefined, expiration: undefined }),
    });
    if (!sampled) continue;
    // the sample: every property, fully
    checked++;
    const p = s.opts.properties!;
    const corr = p.correlationData!;
    const corrUtf8 = corr.toString('utf8');
    // a text id (valid UTF-8) is correlation-id; a binary one the header x-correlation-id, bytes intact
    const isText = Buffer.from(corrUtf8, 'utf8').equals(corr);
    expect(binaryCorrelation).toEqual(isText ? undefined : corr);
    const expectedCorr = isText ? corrUtf8 : undefined;
    expect({
      id,
      contentType: props['contentType'],
      correlationId: props['correlationId'],
      replyTo: props['replyTo'],
      headers: rest,
      messageId: props['messageId'],
      priority: props['priority'],
      timestamp: props['timestamp'],
      type: props['type'],
    }).toEqual({
      id,
      contentType: 'application/vnd.ferry.reading',
      correlationId: expectedCorr,
      // the response topic as a routing key ('/' and '.' swap, docs/mapping.md "Addresses")
      replyTo: p.responseTopic!.replace(/[./]/g, (c) => (c === '/' ? '.' : '/')),
      headers: { id, device: up['device'], unit: 'celsius', tag: ['a', 'b'] },
      messageId: undefined,
      priority: undefined,
      timestamp: undefined,
      type: undefined,
    });
    // MQTT 5 §3.3.2.3.3: the remaining interval, counted down inside Ferry, never more
    const exp = Number(m.properties.expiration);
    expect(String(m.properties.expiration)).toMatch(/^\d+$/);
    expect(exp).toBeLessThanOrEqual(EXPIRY_S * 1000);
    expect(exp).toBeGreaterThan(EXPIRY_S * 1000 - 60_000);
  }
  expect(seen).toEqual(expected);
  expect({ wrongKey, wrongBody }).toEqual({ wrongKey: 0, wrongBody: 0 });
  expect(checked).toBe(DEVICES * Math.ceil(PER_DEVICE / SAMPLE));
  console.log(`properties checked field by field on ${checked} sampled messages; routing key and body on all ${got.length}`);
  // nothing failed on the way: no release closed a device connection, no rejection
  expect(log.lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.message)).toEqual([]);
});
