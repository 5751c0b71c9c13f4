/**
 * One slow consumer must not stall unrelated devices. An AMQP 1.0 receiver
 * that never settles fills route A's maxInFlight; the device publishing on route A is held back
 * (its socket is no longer read) while another device on the same mqtt-listener, publishing on
 * route B into RabbitMQ, gets every PUBACK within 1 s. Real gateway, real RabbitMQ for route B,
 * a rhea receiver on Ferry's amqp10-listener for route A.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type rhea from 'rhea';
import type { Gateway } from '@ferry/gateway';
import { captureLogger, createVhost, delay, deleteVhost, freePort, rabbitUrl, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { client as amqpClient, openReceiver, type TestClient } from '../amqp10/helpers.js';
import { collectQueue, device, plainClient, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(90_000);

const run = runId('sbp');
const MAX_A = 20;
const GOOD = 200;

let vhost: string;
let gateway: Gateway;
let plain: Plain;
let mqttPort: number;
let amqpPort: number;
let consumer: TestClient;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('policy-sbp');
  mqttPort = await freePort();
  amqpPort = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${mqttPort}, host: 127.0.0.1, anonymous: true }
  apps: { type: amqp10-listener, port: ${amqpPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      queues: [ { name: good } ]
routes:
  - name: a-slow
    from: { connector: devices, topic: "${run}/slow/#" }
    to: { connector: apps, address: slow }
    maxInFlight: ${MAX_A}
  - name: b-rabbit
    from: { connector: devices, topic: "${run}/good/#" }
    to: { connector: rabbit, exchange: "", routingKey: good }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.connectorStates()['rabbit'] === 'up', 'RabbitMQ connected');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(consumer)?.close();
  await ifAssigned(gateway)?.stop(1000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it(`a receiver that never settles fills route A (maxInFlight ${MAX_A}); a device on route B into RabbitMQ gets each of ${GOOD} PUBACKs within 1 s`, async () => {
  const engine = gateway.engine;
  if (engine === undefined) throw new Error('gateway has no engine');
  // the slow consumer: takes deliveries with credit, never settles any
  consumer = await amqpClient(amqpPort);
  const receiver: rhea.Receiver = await openReceiver(consumer, 'slow', { autoaccept: false, credit_window: 1000 });
  let unsettledAtConsumer = 0;
  receiver.on('message', () => {
    unsettledAtConsumer++;
  });

  // a device floods route A with QoS 1 (a window of 100 unacknowledged)
  const flooder = await device(mqttPort, `${run}-flooder`);
  clients.push(flooder);
  let flooded = 0;
  for (let i = 0; i < 100; i++) {
    flooder.publish(`${run}/slow/x`, Buffer.from(`s${i}`), { qos: 1 }, (err) => {
      if (err === undefined) flooded++;
    });
  }
  await waitFor(() => engine.routeLoad('a-slow')?.inFlight === MAX_A && unsettledAtConsumer >= MAX_A, `route A full (${MAX_A} in flight at the receiver)`, 20_000);
  await waitFor(() => (engine.routeLoad('a-slow')?.waiting ?? 0) > 0, 'a publish of the flooder waits for route A');

  // the unrelated device, on the same listener, into RabbitMQ
  const received = await collectQueue(plain.ch, 'good');
  const good = await device(mqttPort, `${run}-good`);
  clients.push(good);
  const tally = new Tally();
  const latencies: number[] = [];
  for (let i = 0; i < GOOD; i++) {
    const id = `g${i}`;
    tally.sent(id);
    const t0 = performance.now();
    // a PUBACK later than 5 s ends the loop (the assertion below reports it) rather than the test's timeout
    const acked = await Promise.race([good.publishAsync(`${run}/good/d`, Buffer.from(id), { qos: 1 }).then(() => true), delay(5_000).then(() => false)]);
    latencies.push(performance.now() - t0);
    if (!acked) break;
  }
  expect({ pubacks: latencies.length, slowest: Math.round(Math.max(...latencies)) }).toEqual({ pubacks: GOOD, slowest: expect.any(Number) as unknown });
  await waitFor(() => received.length >= GOOD, `${GOOD} messages in RabbitMQ`);
  for (const m of received) tally.received(m.content.toString());

  const a = engine.routeLoad('a-slow');
  const sorted = [...latencies].sort((x, y) => x - y);
  console.log(
    tally.summary(`route B while route A is stuck`) +
      `; PUBACK ms p50 ${sorted[Math.floor(GOOD / 2)]?.toFixed(1)} p99 ${sorted[Math.floor(GOOD * 0.99)]?.toFixed(1)} max ${sorted[GOOD - 1]?.toFixed(1)}` +
      `; route A in flight ${a?.inFlight}, waiting ${a?.waiting}, flooder acked ${flooded}, listener paused ${engine.flow('devices').paused}`,
  );
  expect(tally.counts).toMatchObject({ sent: GOOD, received: GOOD, duplicated: 0, lost: 0, unexpected: 0 });
  expect(Math.max(...latencies)).toBeLessThan(1000);
  // route A is still stuck the whole time: nothing of the flooder was acknowledged, and Ferry
  // holds no more of it than route A's in-flight plus the one read that was waiting
  expect(flooded).toBe(0);
  expect(a?.inFlight).toBe(MAX_A);
  expect(engine.flow('devices').paused).toBe(false);
  expect((a?.inFlight ?? 0) + (a?.waiting ?? 0)).toBeLessThan(100);
});
