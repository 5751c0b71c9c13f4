/**
 * Graceful shutdown: SIGTERM stops taking new messages and drains the ones in flight
 * within the drain timeout (the CLI's --drain-timeout, 10 s by default).
 *
 * devices (MQTT 5, persistent sessions, QoS 1, publishing continuously) → Ferry mqtt-listener
 * (a real child process) → amqp091 sink → RabbitMQ, reached through a TcpProxy → durable queue →
 * counting consumer (directly on RabbitMQ).
 *
 * The proxy holds RabbitMQ's confirms, so messages are in flight inside Ferry (taken, published,
 * not confirmed, devices without PUBACK) when SIGTERM arrives; it lets them through shortly
 * after. Expected: Ferry exits 0 without its drain timing out; every message a device got a
 * PUBACK for is in RabbitMQ at that moment; the devices' unacknowledged messages (the ones
 * Ferry refused to take once stopping) are resent to a restarted Ferry: 0 lost in total.
 */
import { readFileSync } from 'node:fs';
import { jest } from '@jest/globals';
import { delay } from '@ferry/testkit';
import { Fleet } from './support/fleet.js';
import { devicesToRabbit } from './support/pipelines.js';
import { eventually, printCounts, runId, seconds, unchangedFor, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(120_000);

const DEVICES = 3;
const PER_DEVICE = 3_000;
const WINDOW = 20;
/** SIGTERM once the consumer has this many messages */
const TERM_AT = 1_000;
/** the CLI's default --drain-timeout (packages/gateway/src/cli.ts) */
const DRAIN_TIMEOUT_MS = 10_000;

const run = runId('f7');
const ws = new Workspace({ dir: 'sigterm', vhost: 'faults-sigterm' });
/** the devices keep every message until its PUBACK and remember which ids were acknowledged (`ackedIds`) */
let devices: Fleet | undefined;

afterAll(() => ws.close());

it('SIGTERM with confirms in flight: Ferry drains them and exits 0, every PUBACKed message is in RabbitMQ, the rest come after a restart: 0 lost', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally } = ws;
  const proxy = await ws.rabbitProxy(); // holds RabbitMQ's confirms on the way to Ferry
  const { listenerPort, counter, ferry } = await devicesToRabbit(ws, { run, rabbitUrl: ws.rabbitUrl(proxy) });
  await ferry.start();
  const diag = ws.diag(() => `acked=${devices?.acked ?? 0} outstanding=${devices?.outstanding ?? 0}`);

  devices = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
  await devices.start();
  await until(() => tally.counts.unique >= TERM_AT, `${TERM_AT} messages at the consumer`, 60_000, diag);

  // confirms held: what Ferry publishes from now on is in flight (no PUBACK to its device)
  proxy.holdDownstream();
  // Confirms that passed the proxy before the hold still become PUBACKs, and each PUBACK frees a
  // window slot that the still-running Ferry takes a new message into. Those are Ferry's before
  // the signal, so SIGTERM waits until no PUBACK has arrived for 500 ms: a signal sent as soon as
  // the first window is full would count those as "taken after SIGTERM".
  const noPubackOnItsWay = unchangedFor(() => devices!.acked, 500);
  await until(() => noPubackOnItsWay() && devices!.outstanding >= DEVICES * WINDOW, 'every device window waiting for its PUBACK, none on its way', 10_000, diag);
  const atTerm = { acked: devices.acked, outstanding: devices.outstanding, received: tally.counts.unique };
  const tTerm = Date.now();
  const stopped = ferry.stop(DRAIN_TIMEOUT_MS + 5_000); // SIGTERM; SIGKILL only if Ferry overstays the drain timeout
  await delay(500);
  proxy.release(); // the held confirms reach Ferry now, during its drain
  await within(stopped, 'Ferry to exit after SIGTERM', DRAIN_TIMEOUT_MS + 10_000, diag);
  const exitMs = Date.now() - tTerm;
  const ackedAtExit = [...devices.ackedIds];
  const outstandingAtExit = devices.outstanding;

  // every message a device got a PUBACK for is in RabbitMQ (the consumer may still be reading)
  const missing = (): string[] => ackedAtExit.filter((id) => !counter.last.has(id));
  const allThere = await eventually(() => missing().length === 0, 10_000);
  const missingAtExit = missing().length;

  // the messages Ferry did not take come from their devices to a restarted Ferry
  await ferry.start();
  await within(devices.done(), 'every device PUBACK after the restart', 60_000, diag);
  const complete = await eventually(() => tally.complete, 30_000);
  if (complete) await delay(1000); // room for a late duplicate before counting
  const log = readFileSync(ferry.logFile, 'utf8');
  const drainTimedOut = log.includes('drain timed out');

  printCounts('SIGTERM with confirms in flight (devices → Ferry → RabbitMQ)', tally, {
    ackedAtTerm: atTerm.acked,
    inFlightAtTerm: atTerm.outstanding,
    receivedAtTerm: atTerm.received,
    ackedDuringDrain: ackedAtExit.length - atTerm.acked,
    ackedAtExit: ackedAtExit.length,
    unackedAtExit: outstandingAtExit,
    ackedButMissingAtExit: missingAtExit,
    sigtermToExit: seconds(exitMs),
    drainTimedOut,
    firstExit: ferry.exits[0] ?? '?',
    reconnectsWithoutSession: devices.sessionLost,
    republished: devices.republished,
    rejected: devices.rejected.size,
    total: seconds(Date.now() - t0),
  });

  // the signal hit with messages in flight, and they were confirmed during the drain
  expect(atTerm.outstanding).toBeGreaterThan(0);
  expect(ackedAtExit.length).toBeGreaterThan(atTerm.acked);
  // it took nothing new after SIGTERM: only messages in flight at the signal were PUBACKed since
  // (the devices sent more as those PUBACKs freed their windows)
  expect(ackedAtExit.length - atTerm.acked).toBeLessThanOrEqual(atTerm.outstanding);
  // a clean exit within the drain timeout: exit code 0, not our SIGKILL, no drain time-out
  expect(ferry.exits[0]).toBe('exit 0');
  expect(drainTimedOut).toBe(false);
  // PUBACKed means in RabbitMQ
  expect({ allThere, missingAtExit }).toEqual({ allThere: true, missingAtExit: 0 });
  // Ferry stopped taking: devices still had messages to send, and sent them to the new process
  expect(outstandingAtExit).toBeGreaterThan(0);
  expect(ferry.starts).toBe(2);
  const c = tally.counts;
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: devices.rejected.size }).toEqual({
    sent: devices.total,
    unique: devices.total,
    lost: 0,
    unexpected: 0,
    rejected: 0,
  });
  ws.passed = true;
});
