/**
 * Fault 1: kill -9 Ferry in the middle of 100,000 QoS 1 messages from devices into
 * RabbitMQ, restart it: nothing lost.
 *
 * devices (MQTT 5, persistent sessions, window 500 each) → Ferry mqtt-listener (a real child
 * process) → amqp091 sink → topic exchange → durable queue → counting consumer.
 *
 * Why nothing can be lost: a device gets its PUBACK only after RabbitMQ confirmed the message
 * (persistent, durable queue), so every message Ferry had taken but not yet confirmed when it
 * died is still unacknowledged at its device, which resends it to the restarted Ferry (the new
 * Ferry has no session for it: see support/fleet.ts for what mqtt.js does then). Messages
 * RabbitMQ had already taken but not confirmed come twice: duplicates are allowed and printed.
 */
import { jest } from '@jest/globals';
import { Fleet } from './support/fleet.js';
import { devicesToRabbit } from './support/pipelines.js';
import { Progress, eventually, printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(240_000);

const DEVICES = 4;
const PER_DEVICE = 25_000; // 100,000 in all
const WINDOW = 500;
/** kill Ferry once the consumer has this share of the messages */
const KILL_AT = 0.4;

const run = runId('f1');
const ws = new Workspace({ dir: 'kill', vhost: 'faults-kill' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('kill -9 Ferry in the middle of 100,000 QoS 1 device messages into RabbitMQ, restart it: 0 lost', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally } = ws;
  const { listenerPort, ferry } = await devicesToRabbit(ws, { run, rabbitUrl: ws.rabbitUrl() });
  await ferry.start();
  const progress = new Progress(() => `received=${tally.counts.unique} acked=${fleet?.acked ?? 0} outstanding=${fleet?.outstanding ?? 0} rssKiB=${ferry.rssKiB() ?? '-'}`);
  const diag = ws.diag(() => progress.toString());

  fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
  const tStream = Date.now();
  await fleet.start();

  await until(() => tally.counts.unique >= KILL_AT * fleet!.total, `${KILL_AT * 100}% of the messages at the consumer`, 90_000, diag);
  const atKill = { received: tally.counts.unique, acked: fleet.acked, outstanding: fleet.outstanding };
  progress.mark('kill -9 Ferry');
  await ferry.kill9();
  const tKilled = Date.now();
  progress.mark('Ferry killed; starting it again');
  await ferry.start(); // same ports, same route file; a fresh process with no sessions
  const restartMs = Date.now() - tKilled;
  progress.mark('Ferry ready');

  await within(fleet.done(), 'every device PUBACK', 150_000, diag);
  const tAcked = Date.now();
  const complete = await eventually(() => tally.complete, 60_000);
  if (complete) await new Promise((r) => setTimeout(r, 1000)); // room for a late duplicate before counting
  progress.stop();
  if (!complete) console.log(`[faults] not every message arrived within 60 s after the last PUBACK\n${diag()}`);
  if (process.env['FERRY_FAULTS_PROGRESS'] !== undefined) console.log(progress.toString());
  const streamMs = Date.now() - tStream;

  printCounts('kill -9 Ferry mid-stream (devices → Ferry → RabbitMQ)', tally, {
    killedAtReceived: atKill.received,
    killedAtAcked: atKill.acked,
    unackedAtKill: atKill.outstanding,
    restartToReadyMs: restartMs,
    deviceReconnects: fleet.reconnects,
    reconnectsWithoutSession: fleet.sessionLost,
    republished: fleet.republished,
    rejected: fleet.rejected.size,
    allAckedAfter: seconds(tAcked - tStream),
    stream: seconds(streamMs),
    total: seconds(Date.now() - t0),
  });

  // the fault hit the stream in the middle, with messages in flight through Ferry
  expect(atKill.acked).toBeLessThan(fleet.total);
  expect(atKill.outstanding).toBeGreaterThan(0);
  expect(ferry.exits[0]).toBe('SIGKILL');
  expect(ferry.starts).toBe(2);
  // every device came back without a session (Ferry's listener keeps them in memory) and resent
  expect(fleet.sessionLost).toBeGreaterThanOrEqual(DEVICES);
  const c = tally.counts;
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: fleet.rejected.size }).toEqual({
    sent: fleet.total,
    unique: fleet.total,
    lost: 0,
    unexpected: 0,
    rejected: 0,
  });
  ws.passed = true;
});
