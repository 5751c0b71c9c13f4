/**
 * Scenario 2: a remote Mosquitto → Ferry's `mqtt` client connector (MQTT 5, persistent
 * session) → RabbitMQ. Counted, with the connection to Mosquitto cut in the middle of the
 * stream and kept away while the plant publishes on: the persistent session holds the
 * messages published meanwhile, and nothing is lost.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, delay, deleteVhost, rabbitUrl, Tally, TcpProxy, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from './helpers.js';

jest.setTimeout(90_000);

const PHASE = 1_000; // messages per phase: before the cut, while Ferry is away, after it is back
const run = runId('s2');
const log = captureLogger();
let vhost: string;
let gateway: Gateway;
let proxy: TcpProxy;
let plain: Plain;
let plant: MqttClient;

beforeAll(async () => {
  vhost = await createVhost('scen-plant');
  proxy = new TcpProxy(brokerPorts().mosquitto);
  const proxyPort = await proxy.start();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${proxyPort}
    protocolVersion: 5
    clientId: ${run}-ferry
    clean: false
    sessionExpiryInterval: 120
    reconnect: { initialMs: 50, maxMs: 300 }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: plant, type: topic } ]
      queues: [ { name: plant-temps } ]
      bindings: [ { queue: plant-temps, source: plant, bindingKey: "plant.#" } ]
routes:
  - name: temps
    from: { connector: plant, topic: "${run}/factory/+/temp", qos: 1 }
    to: { connector: rabbit, exchange: plant, routingKey: "plant.{1}.temp" }
`,
    log,
  );
  await waitFor(() => gateway.ready(), 'gateway ready (Mosquitto and RabbitMQ connected)');
  plain = await plainClient(vhost);
  plant = await device(brokerPorts().mosquitto, `${run}-plc`);
});

afterAll(async () => {
  await ifAssigned(plant)?.endAsync(true).catch(() => undefined);
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(proxy)?.stop();
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it('counts every message from Mosquitto into RabbitMQ across a cut and an outage: none lost', async () => {
  const got = await collectQueue(plain.ch, 'plant-temps', 1000);
  // Ferry subscribes right after its CONNACK: probe until a message makes it through, so no
  // counted message is published before the subscription exists
  let probes = 0;
  await waitFor(async () => {
    await plant.publishAsync(`${run}/factory/probe/temp`, Buffer.from('probe'), { qos: 1, properties: { userProperties: { id: `probe${probes++}` } } });
    return got.length > 0;
  }, "Ferry's subscription on Mosquitto", 10_000, 50);
  got.splice(0); // the probes are not counted (nor one that comes later: see below)
  const tally = new Tally();
  const publish = (from: number): Promise<void> =>
    publishWindowed(plant, PHASE, 100, (k) => {
      const i = from + k;
      const id = `m${i}`;
      tally.sent(id);
      return {
        topic: `${run}/factory/line${i % 4}/temp`,
        payload: Buffer.from(id),
        opts: { properties: { userProperties: { id, line: `line${i % 4}` }, contentType: 'text/plain' } },
      };
    });

  // phase 1, with the cut landing while messages are in flight through Ferry
  const phase1 = publish(0);
  await waitFor(() => got.length >= PHASE / 2, 'half of phase 1 at the consumer');
  proxy.refuse(true);
  proxy.cut();
  await phase1; // Mosquitto acknowledged the plant's publishes; Ferry's are held in its session
  await waitFor(() => gateway.connectorStates()['plant'] !== 'up', 'Ferry sees the connection to Mosquitto down');
  expect(gateway.ready()).toBe(false);

  // phase 2: Ferry is away; its persistent session on Mosquitto queues these
  await publish(PHASE);
  // bounded, as no event exists: Ferry is disconnected, and nothing arriving is no signal
  await delay(500);
  const whileAway = got.length;

  // phase 3: Ferry is back, the session resumes, then more traffic
  proxy.refuse(false);
  await waitFor(() => gateway.ready(), 'Ferry reconnected to Mosquitto', 15_000);
  await publish(2 * PHASE);
  await waitFor(() => tally.counts.sent === 3 * PHASE && new Set(got.map((m) => String(m.properties.headers?.['id']))).size >= 3 * PHASE, 'every message at the consumer', 30_000);
  // one more, not counted, once every message arrived: Mosquitto hands the session's messages to
  // Ferry in order and Ferry publishes them in order, so a redelivered copy comes before it
  await plant.publishAsync(`${run}/factory/probe/temp`, Buffer.from('last'), { qos: 1, properties: { userProperties: { id: 'last' } } });
  await waitFor(() => got.some((m) => m.properties.headers?.['id'] === 'last'), 'the last message at the consumer', 30_000);
  for (const m of got) {
    const id = String(m.properties.headers?.['id']);
    if (!id.startsWith('probe') && id !== 'last') tally.received(id); // a probe redelivered after the cut is not a counted message
  }
  console.log(tally.summary('Mosquitto → Ferry mqtt (v5, persistent session) → RabbitMQ, cut + outage mid-stream'));
  console.log(`at the consumer while Ferry was away: ${whileAway} (phase 2 had not reached Ferry: ${whileAway < 2 * PHASE})`);
  const c = tally.counts;
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected }).toEqual({ sent: 3 * PHASE, unique: 3 * PHASE, lost: 0, unexpected: 0 });
  // at least once across a reconnect: only messages in flight at the cut may come twice
  expect(c.duplicated).toBeLessThanOrEqual(1000);
  // phase 2 was not routed while Ferry was away: it came from the session, after the reconnect
  expect(whileAway).toBeLessThan(2 * PHASE);

  const sample = got.find((m) => m.properties.headers?.['id'] === 'm1234')!;
  expect(sample.fields.routingKey).toBe('plant.line2.temp');
  expect(sample.content.toString()).toBe('m1234');
  expect(sample.properties.contentType).toBe('text/plain');
  expect(sample.properties.headers).toEqual({ id: 'm1234', line: 'line2', 'x-ferry-hops': 1, 'x-ferry-publish-id': expect.any(String) as unknown });
  // the outage is logged once per kind of failure (the socket error of the cut, then the closed
  // connection of every refused retry), not once per retry; and its end once
  const lines = log.lines.filter((l) => l.fields['connector'] === 'plant' && l.level !== 'debug').map((l) => `${l.level} ${l.message}${l.level === 'warn' ? ' ' + String(l.fields['error']) : ''}`);
  console.log('plant connector log:', lines);
  expect(lines.filter((l) => l.startsWith('warn')).length).toBeLessThanOrEqual(2);
  expect(lines).toContain('info MQTT connection restored');
});
