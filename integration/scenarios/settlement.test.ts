/**
 * Scenario 5: settlement end to end, through the whole gateway against the real
 * brokers. A message is acknowledged upstream only after its destination confirmed it:
 *  - unroutable at RabbitMQ (mandatory publish, basic.return): permanent → reject → the MQTT 5
 *    device gets a PUBACK with a failure reason code (≥ 0x80); MQTT 3.1.1 has no negative
 *    PUBACK, so a legacy device is acknowledged and the loss is counted and logged, or, with the
 *    route's dead letter, the message is kept there;
 *  - nacked by RabbitMQ (x-max-length 1 + x-overflow reject-publish): transient → release → the
 *    listener closes the device's connection without a PUBACK, the device resends on its next
 *    connection, and the message arrives once the queue has room, counted for duplicates;
 *  - an amqp091 queue source whose sink is an MQTT broker Ferry cannot reach: nothing is acked,
 *    the messages stay in the queue, and arrive once the broker is reachable.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { IPubackPacket, Packet } from 'mqtt-packet';
import type { Gateway } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, delay, deleteVhost, freePort, queueInfo, rabbitUrl, Tally, TcpProxy, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishConfirmed, runId, type Plain } from './helpers.js';

jest.setTimeout(60_000);

const run = runId('s5');
const log = captureLogger();
let vhost: string;
let gateway: Gateway;
let listenerPort: number;
let proxy: TcpProxy;
let plain: Plain;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('scen-settle');
  listenerPort = await freePort();
  // Ferry reaches Mosquitto through a proxy that refuses connections until the test allows them
  proxy = new TcpProxy(brokerPorts().mosquitto);
  const proxyPort = await proxy.start();
  proxy.refuse(true);
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: nowhere, type: topic } ]
      queues:
        - { name: tiny, arguments: { x-max-length: 1, x-overflow: reject-publish } }
        - { name: outbox }
        - { name: legacy-dead }
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${proxyPort}
    protocolVersion: 5
    clientId: ${run}-ferry
    reconnect: { initialMs: 50, maxMs: 250 }
routes:
  - name: unroutable
    from: { connector: devices, topic: "${run}/unroutable/#" }
    to: { connector: rabbit, exchange: nowhere, routingKey: "{address}" }
  - name: legacy
    from: { connector: devices, topic: "${run}/legacy/#" }
    to: { connector: rabbit, exchange: nowhere, routingKey: "{address}" }
    onFailure: { deadLetter: { connector: rabbit, exchange: "", routingKey: legacy-dead } }
  - name: full
    from: { connector: devices, topic: "${run}/full/#" }
    to: { connector: rabbit, exchange: "", routingKey: tiny }
    # give a nacked message back at once (the default retries a transient failure for up to 30 s
    # first): this scenario is about the release path, a closed connection per redelivery
    onFailure: { retry: { maxAttempts: 1 } }
  - name: outbox
    from: { connector: rabbit, queue: outbox }
    to: { connector: plant, topic: "${run}/outbox/{header.n}" }
`,
    log,
  );
  await waitFor(() => gateway.connectorStates()['rabbit'] === 'up', 'RabbitMQ connected');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(proxy)?.stop();
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

function pubacks(c: MqttClient): IPubackPacket[] {
  const out: IPubackPacket[] = [];
  c.on('packetreceive', (p: Packet) => {
    if (p.cmd === 'puback') out.push(p);
  });
  return out;
}

it('unroutable at RabbitMQ: the MQTT 5 device gets a PUBACK with a failure reason code, nothing is acknowledged as delivered', async () => {
  const dev = await device(listenerPort, `${run}-unroutable`);
  clients.push(dev);
  const acks = pubacks(dev);
  const N = 20;
  const results = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      dev.publishAsync(`${run}/unroutable/dev/${i}`, Buffer.from(`u${i}`), { qos: 1 }).then(
        () => 'accepted',
        (err: unknown) => `refused 0x${Number((err as { code?: unknown }).code).toString(16)}`,
      ),
    ),
  );
  console.log(`unroutable: ${N} publishes → ${JSON.stringify(countBy(results))}; PUBACK reason codes ${JSON.stringify(countBy(acks.map((a) => `0x${(a.reasonCode ?? 0).toString(16)}`)))}`);
  expect(acks).toHaveLength(N);
  for (const a of acks) expect(a.reasonCode ?? 0).toBeGreaterThanOrEqual(0x80);
  expect(results.every((r) => r.startsWith('refused 0x8'))).toBe(true);
  // a rejection is an answer, not a failure of the connection: the device stays connected
  expect(dev.connected).toBe(true);
  const reasons = acks.map((a) => a.properties?.reasonString ?? '');
  console.log('reason string:', reasons[0]);
  expect(reasons[0]).toMatch(/nowhere|unroutable|route/i);
});

it('unroutable at RabbitMQ, MQTT 3.1.1 device: acknowledged (3.1.1 has no negative PUBACK), each rejection logged; with a dead letter every message is kept there', async () => {
  const dev = await device(listenerPort, `${run}-legacy`, { protocolVersion: 4 });
  clients.push(dev);
  const acks = pubacks(dev);
  const N = 20;
  const rejectedBefore = log.lines.filter((l) => l.message === 'device message rejected').length;
  // no dead letter: the device must not stall on a message that can never be delivered
  for (let i = 0; i < N; i++) await dev.publishAsync(`${run}/unroutable/legacy/${i}`, Buffer.from(`l${i}`), { qos: 1 });
  expect(acks).toHaveLength(N);
  await waitFor(() => log.lines.filter((l) => l.message === 'device message rejected').length - rejectedBefore === N, 'one rejection line per message');

  // with the route's dead letter nothing is lost: all of them wait in legacy-dead, reason attached
  const dead = await collectQueue(plain.ch, 'legacy-dead');
  const tally = new Tally();
  for (let i = 0; i < N; i++) {
    tally.sent(`d${i}`);
    await dev.publishAsync(`${run}/legacy/dev/${i}`, Buffer.from(`d${i}`), { qos: 1 });
  }
  expect(acks).toHaveLength(2 * N);
  // one more after every PUBACK, not counted: Ferry dead-letters in order, so a copy of an
  // earlier message is in the queue before it
  await dev.publishAsync(`${run}/legacy/dev/last`, Buffer.from('last'), { qos: 1 });
  await waitFor(() => dead.length >= N + 1 && dead.some((m) => m.content.toString() === 'last'), 'every legacy message in the dead-letter queue');
  dead.splice(dead.findIndex((m) => m.content.toString() === 'last'), 1);
  for (const m of dead) {
    tally.received(m.content.toString());
    expect(String(m.properties.headers?.['x-ferry-dead-letter-reason'])).toMatch(/^SINK_UNROUTABLE: /);
    expect(m.properties.headers?.['x-ferry-route']).toBe('legacy');
  }
  console.log(tally.summary('MQTT 3.1.1, unroutable, dead-lettered'));
  expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
});

it('nacked by RabbitMQ (queue full, reject-publish): no successful PUBACK, the connection is closed, the message arrives once there is room', async () => {
  // fill the queue: x-max-length 1 with reject-publish nacks every further publish
  await publishConfirmed(plain.confirm, '', 'tiny', Buffer.from('filler'));
  const dev = await device(listenerPort, `${run}-full`, {
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    reconnectPeriod: 100,
  });
  clients.push(dev);
  const acks = pubacks(dev);
  let closes = 0;
  const disconnects: number[] = [];
  dev.on('close', () => closes++);
  dev.on('disconnect', (p) => disconnects.push(p.reasonCode ?? 0));

  let settled: string | undefined;
  const published = dev.publishAsync(`${run}/full/dev`, Buffer.from('precious'), { qos: 1 }).then(
    () => (settled = 'accepted'),
    (err: unknown) => (settled = `refused: ${String(err)}`),
  );
  // released → the connection is closed → the device resends on its next connection → again
  await waitFor(() => closes >= 3, 'three closed connections (each one a redelivery)', 15_000);
  expect(settled).toBeUndefined();
  expect(acks.filter((a) => (a.reasonCode ?? 0) < 0x80)).toEqual([]);
  expect(acks).toEqual([]); // no negative PUBACK either: a release must come again
  console.log(`queue full: ${closes} connections closed by Ferry so far, DISCONNECT reason codes ${JSON.stringify(countBy(disconnects.map((c) => `0x${c.toString(16)}`)))}, PUBACKs 0`);
  expect(disconnects.length).toBeGreaterThan(0);
  for (const c of disconnects) expect(c).toBe(0x89); // MQTT 5 §3.14.2.1 Server busy

  // room in the queue: take the filler out
  const filler = await plain.ch.get('tiny', { noAck: true });
  expect(filler && filler.content.toString()).toBe('filler');
  await published;
  expect(settled).toBe('accepted');
  const tally = new Tally();
  tally.sent('precious');
  const got = await collectQueue(plain.ch, 'tiny');
  await waitFor(() => got.length >= 1, 'the message in the queue');
  // one more after the PUBACK, not counted: Ferry publishes to RabbitMQ on one channel in order
  // and the queue hands out in order, so a copy of 'precious' arrives before it
  await dev.publishAsync(`${run}/full/dev`, Buffer.from('last'), { qos: 1 });
  await waitFor(() => got.some((m) => m.content.toString() === 'last'), 'the last message in the queue');
  for (const m of got.filter((x) => x.content.toString() !== 'last')) tally.received(m.content.toString());
  console.log(tally.summary(`device → Ferry → full queue, after ${closes} redeliveries`));
  expect(tally.counts).toMatchObject({ sent: 1, received: 1, duplicated: 0, lost: 0, unexpected: 0 });
  const released = log.lines.filter((l) => l.message.startsWith('closing client connection so it redelivers'));
  expect(released.length).toBeGreaterThanOrEqual(3);
});

it('amqp091 queue → MQTT broker Ferry cannot reach: nothing acked, the messages stay queued, and arrive once it is reachable', async () => {
  expect(gateway.connectorStates()['plant']).not.toBe('up');
  expect(gateway.ready()).toBe(false);
  const sub = await device(brokerPorts().mosquitto, `${run}-outbox-sub`);
  clients.push(sub);
  await sub.subscribeAsync(`${run}/outbox/#`, { qos: 1 });
  const tally = new Tally();
  sub.on('message', (_t, payload) => tally.received(payload.toString()));

  const N = 50;
  const failedBefore = log.lines.filter((l) => l.message === 'sink write failed').length;
  await Promise.all(
    Array.from({ length: N }, (_, i) => {
      tally.sent(`o${i}`);
      return publishConfirmed(plain.confirm, '', 'outbox', Buffer.from(`o${i}`), { headers: { n: i } });
    }),
  );
  // the management API refreshes queue statistics every few seconds: wait for it to show them
  await waitFor(async () => (await queueInfo(vhost, 'outbox'))?.messages === N, `${N} messages in outbox`, 15_000, 250);
  const t0 = Date.now();
  // no event to wait for: nothing is acked while Mosquitto is unreachable, and an ack that does
  // not happen signals nothing; the second is the window the failed attempts are counted over
  await delay(1000);
  const depth = await queueInfo(vhost, 'outbox');
  const attempts = log.lines.filter((l) => l.message === 'sink write failed').length - failedBefore;
  console.log(`broker unreachable: outbox ${JSON.stringify(depth)}; ${attempts} failed writes (each a release = basic.nack requeue) in ~${Date.now() - t0 + 1000} ms`);
  expect(depth?.messages).toBe(N);
  expect(tally.counts.received).toBe(0);

  proxy.refuse(false);
  await waitFor(() => gateway.ready(), 'Ferry connected to Mosquitto', 15_000);
  await waitFor(() => tally.complete, 'every message at the Mosquitto subscriber', 15_000);
  await waitFor(async () => (await queueInfo(vhost, 'outbox'))?.messages === 0, 'outbox drained', 15_000, 250);
  // one more once the outbox is drained, counted: the queue hands messages to Ferry in order, and
  // Ferry's connection to Mosquitto keeps it, so a redelivered copy of an earlier one comes first
  tally.sent('last');
  await publishConfirmed(plain.confirm, '', 'outbox', Buffer.from('last'), { headers: { n: 'last' } });
  await waitFor(() => tally.complete, 'the last message at the Mosquitto subscriber', 15_000);
  console.log(tally.summary('RabbitMQ outbox → Ferry → Mosquitto (unreachable, then reachable)'));
  expect(tally.counts).toMatchObject({ sent: N + 1, unique: N + 1, lost: 0, unexpected: 0 });
  console.log(`duplicates after the broker came back: ${tally.counts.duplicated}`);
});

function countBy(xs: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}
