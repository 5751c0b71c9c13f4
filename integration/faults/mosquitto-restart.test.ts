/**
 * Fault 3 (issue 6): restart Mosquitto in the middle of a Mosquitto → RabbitMQ stream
 * (persistent session): nothing lost.
 *
 * plant publishers (MQTT 5, QoS 1, clean = false) → a Mosquitto of the test's own with
 * persistence → Ferry's `mqtt` client connector (child process; clean = false, fixed client id,
 * session expiry) → amqp091 sink → durable queue → counting consumer.
 *
 * Why nothing can be lost: Mosquitto takes a publisher's message (PUBACK) into Ferry's session;
 * Ferry acknowledges it to Mosquitto only after RabbitMQ confirmed it. On SIGTERM Mosquitto
 * writes every session, with its queued and unacknowledged messages, to its database and
 * reads it back at start; Ferry reconnects to a session that is present and Mosquitto resends
 * the unacknowledged messages (DUP) and the queued ones. The publishers resend what Mosquitto
 * had not acknowledged. Messages Ferry confirmed to RabbitMQ whose PUBACK to Mosquitto was
 * lost come twice (allowed, printed).
 */
import { jest } from '@jest/globals';
import { Tally, createVhost, freePort, rabbitUrl } from '@ferry/testkit';
import { QueueCounter } from './support/counter.js';
import { FerryProcess, requireBuiltCli } from './support/ferry-process.js';
import { Fleet } from './support/fleet.js';
import { PersistentMosquitto } from './support/mosquitto.js';
import { eventually, printCounts, runId, seconds, tempDir, until, within, removeWorkspace } from './support/scenario.js';

jest.setTimeout(240_000);

const PUBLISHERS = 3;
const PER_PUBLISHER = 10_000;
const WINDOW = 500;
/**
 * Restart Mosquitto once the publishers have this share acknowledged (they outrun Ferry, so by
 * then Ferry's session on Mosquitto holds a backlog and some of its messages are in flight).
 */
const RESTART_AT = 0.5;

const run = runId('f3');
let dir: string | undefined;
let vhost: string | undefined;
let ferry: FerryProcess | undefined;
let mosquitto: PersistentMosquitto | undefined;
let counter: QueueCounter | undefined;
let fleet: Fleet | undefined;
let passed = false;

afterAll(async () => {
  await fleet?.close();
  await ferry?.dispose();
  await mosquitto?.dispose();
  await counter?.close();
  await removeWorkspace(dir, vhost, passed);
});

it('restart Mosquitto in the middle of a Mosquitto → Ferry → RabbitMQ stream (persistent session): 0 lost', async () => {
  requireBuiltCli();
  const t0 = Date.now();
  dir = await tempDir('mosquitto');
  vhost = await createVhost('faults-mosq');
  const mqttPort = await freePort();
  const adminPort = await freePort();
  const tally = new Tally();

  mosquitto = new PersistentMosquitto(dir, mqttPort);
  await mosquitto.start();
  counter = new QueueCounter({ vhost, exchange: 'plant', queue: 'plant-count', bindingKey: 'plant.#', tally });
  await counter.start();

  ferry = new FerryProcess({
    dir,
    adminPort,
    yaml: `
gateway: { id: ${run}, http: { port: ${adminPort}, host: 127.0.0.1 } }
connectors:
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${mqttPort}
    protocolVersion: 5
    clientId: ${run}-ferry
    clean: false
    sessionExpiryInterval: 600
    reconnect: { initialMs: 100, maxMs: 1000 }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    reconnect: { initialMs: 100, maxMs: 1000 }
    topology:
      exchanges: [ { name: plant, type: topic } ]
routes:
  - name: temps
    from: { connector: plant, topic: "${run}/line/+/temp", qos: 1 }
    to: { connector: rabbit, exchange: plant, routingKey: "plant.{1}.temp" }
`,
  });
  await ferry.start();
  const diag = (): string => `${tally.summary('so far')}\nfleet: published=${fleet?.published} acked=${fleet?.acked}\n${ferry?.diagnostics() ?? ''}`;

  // Ferry subscribes when its sources open; a probe through the whole path shows the
  // subscription is in place before the stream starts (the probe is counted like the rest)
  const probe = new Fleet({ port: mqttPort, prefix: `${run}-probe`, devices: 1, perDevice: 1, window: 1, tally, topic: () => `${run}/line/probe/temp` });
  await probe.start();
  await within(probe.done(), 'the probe PUBACK', 10_000, diag);
  await until(() => tally.complete, 'the probe at the consumer', 15_000, diag);
  await probe.close();

  fleet = new Fleet({ port: mqttPort, prefix: run, devices: PUBLISHERS, perDevice: PER_PUBLISHER, window: WINDOW, tally, topic: (d) => `${run}/line/l${d}/temp` });
  const tStream = Date.now();
  await fleet.start();

  await until(() => fleet!.acked >= RESTART_AT * fleet!.total && tally.counts.unique > 1000, `${RESTART_AT * 100}% of the publishes acknowledged`, 60_000, diag);
  const faultAfterMs = Date.now() - tStream;
  const atStop = { received: tally.counts.unique, acked: fleet.acked, outstanding: fleet.outstanding };
  const tStop = Date.now();
  await mosquitto.restart();
  const restartMs = Date.now() - tStop;

  await within(fleet.done(), 'every publisher PUBACK', 120_000, diag);
  const tAcked = Date.now();
  const complete = await eventually(() => tally.complete, 60_000);
  const tDone = Date.now();
  if (complete) await new Promise((r) => setTimeout(r, 1000)); // room for a late duplicate before counting
  else console.log(`[faults] not every message arrived within 60 s after the last PUBACK\n${ferry.diagnostics()}`);

  printCounts('restart Mosquitto mid-stream (publishers → Mosquitto → Ferry mqtt → RabbitMQ)', tally, {
    restartedAtReceived: atStop.received,
    restartedAtPublisherAcked: atStop.acked,
    restartedAfter: seconds(faultAfterMs),
    mosquittoRestart: seconds(restartMs),
    publisherReconnects: fleet.reconnects,
    republished: fleet.republished,
    ferryRestored: ferry.grep(/connection restored/).length,
    allPublishesAckedAfter: seconds(tAcked - tStream),
    allReceivedAfter: seconds(tDone - tStream),
    total: seconds(Date.now() - t0),
  });

  // the restart landed mid-stream, with Ferry holding unacknowledged messages of its session
  expect(atStop.received).toBeLessThan(fleet.total);
  expect(atStop.acked).toBeLessThan(fleet.total);
  expect(fleet.reconnects).toBeGreaterThanOrEqual(PUBLISHERS);
  expect(ferry.starts).toBe(1);
  expect(ferry.running).toBe(true);
  const c = tally.counts;
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: fleet.rejected.size }).toEqual({
    sent: fleet.total + 1,
    unique: fleet.total + 1,
    lost: 0,
    unexpected: 0,
    rejected: 0,
  });
  passed = true;
});
