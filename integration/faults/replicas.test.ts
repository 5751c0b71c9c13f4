/**
 * Scale-out: three Ferry processes side by side against the same RabbitMQ and the same Mosquitto,
 * one replica killed with kill -9 mid-stream and another drained with SIGTERM. Nothing lost.
 *
 * Two paths run at once, both counted at one durable queue in RabbitMQ:
 * - devices (MQTT 5, persistent sessions, QoS 1) → a TCP load balancer → the replicas'
 *   mqtt-listeners → amqp091 → RabbitMQ. A device whose replica goes reconnects through the
 *   balancer to another one and resends what was not acknowledged (the new replica has no
 *   session for it: listener sessions live on one replica);
 * - publishers → a Mosquitto of the scenario's own → the replicas' `mqtt` connectors, all three
 *   in one shared subscription (`share`), each with a stable client id and a persistent session
 *   → amqp091 → RabbitMQ. The broker gives each message to one replica.
 *
 * As a StatefulSet would, the killed replica is started again (same id, same client id), and so
 * is the drained one (a rolling restart): what Mosquitto kept in their sessions is delivered then.
 *
 * Duplicates are allowed (at least once). The devices' are bounded by what they had in flight
 * when their replica went (their windows). The shared-subscription path's are bounded by each
 * replica's `receiveMaximum`, which Ferry keeps itself: Mosquitto 2.0.11 sends further ahead
 * than the Receive Maximum a replica announces (hundreds; hundreds of duplicates after the kill
 * when Ferry routed all of it), and resends to a returning session only what was not
 * acknowledged. A tap between the replicas and Mosquitto records both (docs/scaling.md).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { freePort } from '@ferry/testkit';
import { TcpBalancer } from './support/balancer.js';
import { FerryProcess } from './support/ferry-process.js';
import { Fleet } from './support/fleet.js';
import { MqttTap, summarize } from './support/mqtt-tap.js';
import { Progress, eventually, printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(240_000);

const REPLICAS = 3;
const DEVICES = 6;
const PUBLISHERS = 3;
const PER_CLIENT = 2_000;
const WINDOW = 20;
/** Mosquitto's in-flight window per MQTT 3.1.1 subscriber (max_inflight_messages of the scenario's Mosquitto) */
const MOSQUITTO_INFLIGHT = 20;
/** what each replica's MQTT 5 `plant` connector lets Mosquitto send ahead of its PUBACKs */
const RECEIVE_MAXIMUM = 100;
const KILL_AT = 0.3;
const TERM_AT = 0.6;

const run = runId('f11');
const ws = new Workspace({ dir: 'replicas', vhost: 'faults-replicas' });

afterAll(() => ws.close());

function routeFile(i: number, listenerPort: number, adminPort: number, mqttPort: number): string {
  return `
gateway:
  id: ${run}-r${i}
  http: { port: ${adminPort}, host: 127.0.0.1 }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${mqttPort}
    protocolVersion: 5
    clientId: ${run}-ferry-r${i}
    clean: false
    sessionExpiryInterval: 600
    receiveMaximum: ${RECEIVE_MAXIMUM}
    reconnect: { initialMs: 100, maxMs: 1000 }
  rabbit:
    type: amqp091
    url: "${ws.rabbitUrl()}"
    reconnect: { initialMs: 100, maxMs: 1000 }
    topology:
      exchanges: [ { name: telemetry, type: topic } ]
routes:
  - name: devices
    from: { connector: devices, topic: "${run}/+/telemetry" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "device.{1}" }
  - name: plant
    from: { connector: plant, topic: "${run}/line/+/temp", qos: 1, share: ferry }
    to: { connector: rabbit, exchange: telemetry, routingKey: "plant.{1}" }
`;
}

it('three replicas, one killed with kill -9 and one drained with SIGTERM mid-stream: 0 lost, duplicates bounded by the devices\' windows and the replicas\' receiveMaximum', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally } = ws;
  await ws.counter({ exchange: 'telemetry', queue: 'replicas-count', bindingKey: '#' });
  const mqttPort = await ws.port();
  await ws.mosquitto(mqttPort, MOSQUITTO_INFLIGHT);
  // the replicas reach Mosquitto through the tap, which records what each one was sent and acknowledged
  const tap = new MqttTap(mqttPort);
  await tap.start();
  ws.atClose(() => tap.stop());

  const replicas: FerryProcess[] = [];
  const listenerPorts: number[] = [];
  for (let i = 0; i < REPLICAS; i++) {
    const dir = join(ws.dir, `r${i}`);
    await mkdir(dir);
    const listenerPort = await freePort();
    listenerPorts.push(listenerPort);
    const adminPort = await freePort();
    const ferry = new FerryProcess({ dir, adminPort, yaml: routeFile(i, listenerPort, adminPort, tap.port) });
    ws.atClose(() => ferry.dispose());
    replicas.push(ferry);
  }
  await Promise.all(replicas.map((r) => r.start()));
  const balancer = new TcpBalancer(listenerPorts);
  await balancer.start();
  ws.atClose(() => balancer.stop());

  const devices = ws.own(new Fleet({ port: balancer.port, prefix: `${run}-dev`, devices: DEVICES, perDevice: PER_CLIENT, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
  const publishers = ws.own(new Fleet({ port: mqttPort, prefix: `${run}-plant`, devices: PUBLISHERS, perDevice: PER_CLIENT, window: WINDOW, tally, topic: (d) => `${run}/line/${d}/temp` }));
  const total = devices.total + publishers.total;
  const progress = new Progress(() => `received=${tally.counts.unique}/${total} devicesAcked=${devices.acked} plantAcked=${publishers.acked}`);
  const diag = ws.diag(() => `${progress.toString()}\nbalancer=${JSON.stringify([...balancer.accepted])}\n${replicas.map((r, i) => `--- replica ${i}\n${r.diagnostics()}`).join('\n')}`);

  const tStream = Date.now();
  await devices.start();
  await publishers.start();
  // the devices are spread over the three replicas
  expect([...balancer.accepted.keys()].sort()).toEqual([...listenerPorts].sort());

  await until(() => tally.counts.unique >= KILL_AT * total, `${KILL_AT * 100}% at the consumer`, 90_000, diag);
  progress.mark('kill -9 replica 0');
  await replicas[0]!.kill9();
  await until(() => tally.counts.unique >= TERM_AT * total, `${TERM_AT * 100}% at the consumer`, 90_000, diag);
  progress.mark('restart replica 0; SIGTERM replica 1');
  await Promise.all([replicas[0]!.start(), replicas[1]!.stop(30_000)]);
  progress.mark('restart replica 1');
  await replicas[1]!.start();

  await within(Promise.all([devices.done(), publishers.done()]), 'every PUBACK', 150_000, diag);
  const complete = await eventually(() => tally.complete, 60_000);
  if (complete) await new Promise((r) => setTimeout(r, 1000)); // room for a late duplicate before counting
  progress.stop();
  if (!complete) console.log(`[faults] not every message arrived within 60 s after the last PUBACK\n${diag()}`);

  const c = tally.counts;
  // Two replica events (the kill and the drain); each can cost a device at most its window (a
  // device may be moved twice).
  const duplicatesByClient = tally.duplicatesBy((id) => id.slice(0, id.lastIndexOf(':')));
  const sum = (prefix: string): number =>
    Object.entries(duplicatesByClient)
      .filter(([client]) => client.startsWith(prefix))
      .reduce((n, [, d]) => n + d, 0);
  const deviceDuplicates = sum(`${run}-dev`);
  const duplicateBound = 2 * DEVICES * WINDOW;
  // The shared subscription: a duplicate is a message a replica routed to RabbitMQ and did not
  // acknowledge to Mosquitto before its connection ended; Mosquitto sends it again to the same
  // session. The kill leaves at most one window (receiveMaximum) routed and unacknowledged; the
  // drain leaves none (it acknowledges what it routed, then disconnects) unless its timeout ran out.
  const plantDuplicates = sum(`${run}-plant`);
  const drainTimedOut = replicas[1]!.grep(/drain timed out/).length > 0;
  const plantDuplicateBound = (drainTimedOut ? 2 : 1) * RECEIVE_MAXIMUM;
  const wire = summarize(tap.records, (id) => id.startsWith(`${run}-ferry-`));
  printCounts('three replicas: kill -9 one, SIGTERM another (devices and a shared subscription → RabbitMQ)', tally, {
    deviceReconnects: devices.reconnects,
    republished: devices.republished + publishers.republished,
    deviceDuplicates,
    deviceDuplicateBound: duplicateBound,
    plantDuplicates,
    plantDuplicateBound,
    drainTimedOut,
    mosquittoResentUnacked: wire.resentUnacked,
    mosquittoResentAfterAck: wire.resentAfterAck,
    mosquittoMostAhead: wire.mostUnacked,
    duplicatesByClient: JSON.stringify(duplicatesByClient),
    connectionsPerReplica: JSON.stringify(listenerPorts.map((p) => balancer.accepted.get(p) ?? 0)),
    stream: seconds(Date.now() - tStream),
    total: seconds(Date.now() - t0),
  });

  expect(replicas[0]!.exits[0]).toBe('SIGKILL');
  expect(replicas[1]!.exits[0]).toBe('exit 0'); // drained, not killed
  expect(devices.reconnects).toBeGreaterThan(0); // devices of the two replicas moved to another
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: devices.rejected.size + publishers.rejected.size }).toEqual({
    sent: total,
    unique: total,
    lost: 0,
    unexpected: 0,
    rejected: 0,
  });
  expect(deviceDuplicates).toBeLessThanOrEqual(duplicateBound);
  // Mosquitto sends again only what a replica had not acknowledged
  expect(wire.resentAfterAck).toBe(0);
  expect(plantDuplicates).toBeLessThanOrEqual(plantDuplicateBound);
  ws.passed = true;
});
