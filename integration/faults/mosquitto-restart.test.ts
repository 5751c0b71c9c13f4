/**
 * Fault 3: restart Mosquitto in the middle of a Mosquitto → RabbitMQ stream
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
import { Fleet } from './support/fleet.js';
import { plantToRabbit } from './support/pipelines.js';
import { eventually, printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

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
const ws = new Workspace({ dir: 'mosquitto', vhost: 'faults-mosq' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('restart Mosquitto in the middle of a Mosquitto → Ferry → RabbitMQ stream (persistent session): 0 lost', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally } = ws;
  const { mqttPort, mosquitto, ferry, probe } = await plantToRabbit(ws, { run, rabbitUrl: ws.rabbitUrl(), routeName: 'temps' });
  await ferry.start();
  const diag = ws.diag(() => `fleet: published=${fleet?.published} acked=${fleet?.acked}`);

  // Ferry subscribes when its sources open; a probe through the whole path shows the
  // subscription is in place before the stream starts (the probe is counted like the rest)
  await probe(diag);

  fleet = ws.own(new Fleet({ port: mqttPort, prefix: run, devices: PUBLISHERS, perDevice: PER_PUBLISHER, window: WINDOW, tally, topic: (d) => `${run}/line/l${d}/temp` }));
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
  ws.passed = true;
});
