/**
 * Loop protection through two real brokers: a route takes Mosquitto's `<run>/loop/#` into
 * RabbitMQ, another takes RabbitMQ's `<run>.loop.#` back into Mosquitto, the same topics, so every
 * message bounces between them. With `gateway.maxHops: 4` each message passes through Ferry four
 * times (Mosquitto → RabbitMQ → Mosquitto → RabbitMQ → Mosquitto) and is then dropped: counted in
 * messages_dropped_total{reason="max_hops"} and logged once for the route. Copies are counted on
 * both brokers by clients of their own (paho-mqtt on Mosquitto, amqplib on RabbitMQ).
 */
import { jest } from '@jest/globals';
import { parseConfig } from '@ferry/config';
import { Gateway, defaultRegistry } from '@ferry/gateway';
import { RecordingMetrics, Tally, brokerPorts, captureLogger, createVhost, deleteVhost, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { collectQueue, plainClient, runId, type Plain } from '../scenarios/helpers.js';
import { mosquittoPub, paho } from './clients.js';

jest.setTimeout(90_000);

const run = runId('lp');
const K = 10;
const MAX_HOPS = 4;
let vhost: string;
let gateway: Gateway;
let plain: Plain;
const metrics = new RecordingMetrics();
const logger = captureLogger();

beforeAll(async () => {
  vhost = await createVhost('trips-loop');
  const parsed = parseConfig(
    `
gateway: { id: ${run}, maxHops: ${MAX_HOPS} }
connectors:
  mosq: { type: mqtt, url: "mqtt://127.0.0.1:${brokerPorts().mosquitto}", protocolVersion: 5, clientId: ${run}-ferry }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: loop, type: topic } ]
      queues: [ { name: tap } ]
      bindings: [ { queue: tap, source: loop, bindingKey: "#" } ]
routes:
  - name: to-rabbit
    from: { connector: mosq, topic: "${run}/loop/#" }
    to: { connector: rabbit, exchange: loop, routingKey: "{address}" }
  - name: to-mosquitto
    from: { connector: rabbit, exchange: loop, bindingKey: "${run}.loop.#" }
    to: { connector: mosq, topic: "{address}" }
`,
    'loop.yaml',
    defaultRegistry(),
  );
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.format()).join('\n'));
  gateway = await Gateway.load(parsed.config, { registry: defaultRegistry(), logger, metrics });
  await gateway.start();
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it(`two routes bouncing messages between RabbitMQ and Mosquitto stop after maxHops (${MAX_HOPS}), counted`, async () => {
  const atRabbit = await collectQueue(plain.ch, 'tap');
  // on Mosquitto: each message as sent, then after passages 2 and 4
  const watcher = paho({ port: brokerPorts().mosquitto, clientId: `${run}-watch`, filter: `${run}/loop/#`, count: 3 * K, timeoutS: 60 });
  await watcher.ready;
  for (let i = 0; i < K; i++) await mosquittoPub(brokerPorts().mosquitto, `${run}/loop/m${i}`, Buffer.from(`m${i}`), ['-q', '1']);

  // the event that ends the loop: every message dropped once
  await waitFor(() => metrics.count('messages_dropped_total', { reason: 'max_hops' }) >= K, 'every message dropped at maxHops', 60_000);
  const seenAtMosquitto = await watcher.done;
  await waitFor(() => atRabbit.length >= 2 * K, 'two copies of each at RabbitMQ (passages 1 and 3)');

  const mosq = new Tally();
  const rabbit = new Tally();
  for (let i = 0; i < K; i++) {
    mosq.sent(`m${i}`);
    rabbit.sent(`m${i}`);
  }
  for (const m of seenAtMosquitto) mosq.received(Buffer.from(m.payload, 'hex').toString());
  for (const m of atRabbit) rabbit.received(m.content.toString());
  console.log(mosq.summary('copies at Mosquitto (3 each)'));
  console.log(rabbit.summary('copies at RabbitMQ (2 each)'));
  expect(mosq.counts).toMatchObject({ sent: K, unique: K, lost: 0, unexpected: 0, duplicated: 2 * K });
  expect(rabbit.counts).toMatchObject({ sent: K, unique: K, lost: 0, unexpected: 0, duplicated: K });
  // the hop count each copy carried
  expect(atRabbit.map((m): unknown => m.properties.headers?.['x-ferry-hops']).sort()).toEqual([...Array<number>(K).fill(1), ...Array<number>(K).fill(3)]);
  const hopsAtMosquitto = seenAtMosquitto.map((m) => m.userProperties.find(([k]) => k === 'x-ferry-hops')?.[1] ?? 'none').sort();
  expect(hopsAtMosquitto).toEqual([...Array<string>(K).fill('2'), ...Array<string>(K).fill('4'), ...Array<string>(K).fill('none')]);

  // stopped: no more copies once every message was dropped (the drop is the loop's last step)
  expect(metrics.count('messages_dropped_total', { connector: 'mosq', reason: 'max_hops' })).toBe(K);
  expect(atRabbit).toHaveLength(2 * K);
  // logged once for the route, not once per message
  const lines = logger.lines.filter((l) => l.message === 'message looped: not written again');
  expect(lines.map((l) => l.fields['route'])).toEqual(['to-rabbit']);
});
