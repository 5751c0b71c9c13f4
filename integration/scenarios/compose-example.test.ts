/**
 * The route file docker-compose.yml runs (config/examples/compose.yaml), the very file, against
 * the test brokers: its connector URLs and listener ports come from the environment variables
 * it reads, so a user's first `docker compose up` runs routes that were seen to work.
 *
 * - device-telemetry: legacy MQTT 3.1.1 devices → Ferry → RabbitMQ exchange `telemetry` → the
 *   `telemetry` queue the file declares and binds (without it every publish is unroutable);
 * - plant-temperatures: the plant's Mosquitto → Ferry → RabbitMQ and Ferry's STOMP listener,
 *   `x-site` set and `debug` removed;
 * - commands: RabbitMQ queue `device-commands` → the device named in the `device` header;
 * - orders-to-activemq: a STOMP client's SEND to Ferry → ActiveMQ `/queue/orders`.
 */
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import type { IMessage } from '@stomp/stompjs';
import type { MqttClient } from 'mqtt';
import { loadConfig } from '@ferry/config';
import { Gateway, PromMetrics, defaultRegistry } from '@ferry/gateway';
import { Tally, brokerPorts, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, renderLine, waitFor, type LogLine } from '@ferry/testkit';
import { collectQueue, device, plainClient, publishConfirmed, publishWindowed, runId, type Plain } from './helpers.js';
import { deactivate, stompjs, type StompJsClient } from '../stomp-listener/helpers.js';

jest.setTimeout(90_000);

const FILE = new URL('../../config/examples/compose.yaml', import.meta.url).pathname;
const run = runId('cx');
const lines: LogLine[] = [];
let vhost: string;
let gateway: Gateway | undefined;
let plain: Plain | undefined;
let telemetry: ConsumeMessage[] = [];
const mqttClients: MqttClient[] = [];
const stompClients: StompJsClient[] = [];
let ports: { mqtt: number; stomp: number };

beforeAll(async () => {
  vhost = await createVhost('compose');
  ports = { mqtt: await freePort(), stomp: await freePort() };
  const b = brokerPorts();
  const env = {
    FERRY_MQTT_PORT: String(ports.mqtt),
    FERRY_STOMP_PORT: String(ports.stomp),
    FERRY_HTTP_PORT: String(await freePort()),
    RABBIT_URL: rabbitUrl(vhost),
    PLANT_URL: `mqtt://127.0.0.1:${b.mosquitto}`,
    ACTIVEMQ_URL: `stomp://127.0.0.1:${b.activemqStomp}`,
  };
  const loaded = await loadConfig(FILE, defaultRegistry(), { env });
  if (!loaded.ok) throw new Error(loaded.errors.map((e) => e.format()).join('\n'));
  const g = await Gateway.load(loaded.config, { registry: defaultRegistry(), logger: captureLogger(lines), metrics: new PromMetrics(loaded.config.gateway.id) });
  gateway = g;
  await g.start();
  await waitFor(() => g.ready(), `every connector up: ${JSON.stringify(g.connectorStates())}`, 20_000);
  plain = await plainClient(vhost);
  // the queue is Ferry's topology, declared on connect: consuming it proves it exists and is bound
  telemetry = await collectQueue(plain.ch, 'telemetry');
});

afterAll(async () => {
  await Promise.all(mqttClients.map((c) => c.endAsync(true).catch(() => undefined)));
  await deactivate(...stompClients);
  await plain?.close();
  await gateway?.stop(2_000);
  await deleteVhost(vhost).catch(() => undefined);
});

it('device-telemetry: 200 QoS 1 messages from MQTT 3.1.1 devices reach the telemetry queue, routing key device.<id>.<metric>', async () => {
  const tally = new Tally();
  const devs = await Promise.all([0, 1].map((d) => device(ports.mqtt, `${run}-dev${d}`, { protocolVersion: 4 })));
  mqttClients.push(...devs);
  await Promise.all(
    devs.map((c, d) =>
      publishWindowed(c, 100, 10, (i) => {
        const id = `${run}:dev${d}:${i}`;
        tally.sent(id);
        return { topic: `devices/${run}-dev${d}/telemetry/temp`, payload: Buffer.from(id), opts: {} };
      }),
    ),
  );
  const mine = (): ConsumeMessage[] => telemetry.filter((m) => m.fields.routingKey.startsWith(`device.${run}-`));
  await waitFor(() => mine().length >= 200, 'the 200 device messages in the telemetry queue', 20_000);
  for (const m of mine()) {
    tally.received(m.content.toString());
    const dev = /^[^:]+:(dev\d):/.exec(m.content.toString())?.[1];
    expect(m.fields.routingKey).toBe(`device.${run}-${dev ?? '?'}.temp`);
    expect(m.properties.deliveryMode).toBe(2);
  }
  console.log(tally.summary('compose example, device-telemetry'));
  expect(tally.counts).toMatchObject({ sent: 200, received: 200, duplicated: 0, lost: 0, unexpected: 0 });
});

it("plant-temperatures: the plant's Mosquitto → RabbitMQ and Ferry's STOMP listener, x-site set, debug removed", async () => {
  const tally = { rabbit: new Tally(), stomp: new Tally() };
  const sub = await stompjs(ports.stomp, '1.2');
  stompClients.push(sub);
  const atStomp: IMessage[] = [];
  await new Promise<void>((resolve) => {
    sub.client.watchForReceipt('sub-temp', () => resolve());
    sub.client.subscribe(`/topic/temp.${run}`, (m) => atStomp.push(m), { receipt: 'sub-temp' });
  });
  const plant = await device(brokerPorts().mosquitto, `${run}-plant-sensor`);
  mqttClients.push(plant);
  for (let i = 0; i < 20; i++) {
    const id = `${run}:plant:${i}`;
    tally.rabbit.sent(id);
    tally.stomp.sent(id);
    await plant.publishAsync(`factory/${run}/m${i % 2}/temp`, Buffer.from(id), { qos: 1, properties: { userProperties: { debug: 'yes', unit: 'C' } } });
  }
  const mine = (): ConsumeMessage[] => telemetry.filter((m) => m.fields.routingKey.startsWith(`factory.${run}.`));
  await waitFor(() => mine().length >= 20 && atStomp.length >= 20, 'the 20 plant readings in RabbitMQ and at the STOMP subscriber', 20_000);
  for (const m of mine()) {
    tally.rabbit.received(m.content.toString());
    const i = Number(m.content.toString().split(':')[2]);
    expect(m.fields.routingKey).toBe(`factory.${run}.m${i % 2}.temp`);
    expect(m.properties.headers).toMatchObject({ 'x-site': 'lisbon', unit: 'C' });
    expect(m.properties.headers).not.toHaveProperty('debug');
  }
  for (const m of atStomp) {
    tally.stomp.received(m.body);
    expect(m.headers['x-site']).toBe('lisbon');
    expect(m.headers['unit']).toBe('C');
    expect(m.headers['debug']).toBeUndefined();
  }
  console.log(tally.rabbit.summary('compose example, plant-temperatures → RabbitMQ'));
  console.log(tally.stomp.summary('compose example, plant-temperatures → STOMP'));
  for (const t of [tally.rabbit, tally.stomp]) expect(t.counts).toMatchObject({ sent: 20, received: 20, duplicated: 0, lost: 0, unexpected: 0 });
});

it('commands: a RabbitMQ message on device-commands reaches the device its `device` header names', async () => {
  const tally = new Tally();
  const target = await device(ports.mqtt, `${run}-target`, { protocolVersion: 4 });
  const other = await device(ports.mqtt, `${run}-other`, { protocolVersion: 4 });
  mqttClients.push(target, other);
  const got: { topic: string; body: string }[] = [];
  const strays: string[] = [];
  target.on('message', (topic, payload) => got.push({ topic, body: payload.toString() }));
  other.on('message', (topic) => strays.push(topic));
  await target.subscribeAsync(`devices/${run}-target/cmd`, { qos: 1 });
  await other.subscribeAsync(`devices/${run}-other/cmd`, { qos: 1 });
  for (let i = 0; i < 20; i++) {
    const id = `${run}:cmd:${i}`;
    tally.sent(id);
    await publishConfirmed(plain!.confirm, '', 'device-commands', Buffer.from(id), { headers: { device: `${run}-target` }, persistent: true });
  }
  // one more command after them, to each device: the queue hands them to Ferry in order, and the
  // listener writes to a device in order, so a copy or a stray comes before it
  for (const to of ['target', 'other']) await publishConfirmed(plain!.confirm, '', 'device-commands', Buffer.from(`${run}:last`), { headers: { device: `${run}-${to}` }, persistent: true });
  await waitFor(() => got.length >= 21 && got.some((g) => g.body === `${run}:last`) && strays.includes(`devices/${run}-other/cmd`), 'the 20 commands and the last one at the device', 20_000);
  got.splice(got.findIndex((g) => g.body === `${run}:last`), 1);
  strays.splice(strays.indexOf(`devices/${run}-other/cmd`), 1);
  for (const g of got) {
    tally.received(g.body);
    expect(g.topic).toBe(`devices/${run}-target/cmd`);
  }
  console.log(tally.summary('compose example, commands → device'));
  expect(tally.counts).toMatchObject({ sent: 20, received: 20, duplicated: 0, lost: 0, unexpected: 0 });
  expect(strays).toEqual([]);
});

it('orders-to-activemq: a STOMP SEND to Ferry with a receipt lands in ActiveMQ /queue/orders', async () => {
  const tally = new Tally();
  const consumer = await stompjs(brokerPorts().activemqStomp, '1.2', { login: 'admin', passcode: 'admin' });
  stompClients.push(consumer);
  const atActivemq: string[] = [];
  // the queue is ActiveMQ's and outlives runs: only this run's orders are counted
  consumer.client.subscribe('/queue/orders', (m) => {
    if (m.body.startsWith(`${run}:`)) atActivemq.push(m.body);
  });
  const sender = await stompjs(ports.stomp, '1.2');
  stompClients.push(sender);
  for (let i = 0; i < 20; i++) {
    const id = `${run}:order:${i}`;
    tally.sent(id);
    const receipt = `r-${i}`;
    const confirmed = new Promise<void>((resolve) => sender.client.watchForReceipt(receipt, () => resolve()));
    sender.client.publish({ destination: '/queue/orders', body: id, headers: { receipt } });
    await confirmed; // RECEIPT only after ActiveMQ's own RECEIPT reached Ferry
  }
  // one more order after every RECEIPT: Ferry writes to ActiveMQ in order, and the queue hands
  // them to the consumer in order, so a copy of an earlier one comes before it
  const last = new Promise<void>((resolve) => sender.client.watchForReceipt('r-last', () => resolve()));
  sender.client.publish({ destination: '/queue/orders', body: `${run}:last`, headers: { receipt: 'r-last' } });
  await last;
  await waitFor(() => atActivemq.length >= 21 && atActivemq.includes(`${run}:last`), 'the 20 orders and the last one at ActiveMQ', 20_000);
  atActivemq.splice(atActivemq.indexOf(`${run}:last`), 1);
  for (const b of atActivemq) tally.received(b);
  console.log(tally.summary('compose example, orders → ActiveMQ'));
  expect(tally.counts).toMatchObject({ sent: 20, received: 20, duplicated: 0, lost: 0, unexpected: 0 });
  expect(sender.errors).toEqual([]);
  expect(lines.filter((l) => l.level === 'error').map(renderLine)).toEqual([]);
});
