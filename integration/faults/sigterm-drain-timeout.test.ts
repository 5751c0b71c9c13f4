/**
 * Fault 9 (graceful shutdown when the drain does not finish): SIGTERM with RabbitMQ's confirms
 * held past `--drain-timeout`.
 *
 * devices (MQTT 5, persistent sessions, QoS 1) → Ferry mqtt-listener (a real child process,
 * `--drain-timeout 1000`) → amqp091 sink → TcpProxy → RabbitMQ → durable queue → counting
 * consumer (directly on RabbitMQ).
 *
 * The proxy holds every byte RabbitMQ sends back to Ferry from before the signal until Ferry has
 * exited, so the messages in flight at SIGTERM (published: RabbitMQ has them; unconfirmed: their
 * devices have no PUBACK) can never be confirmed. What docs/operations.md promises: Ferry waits
 * up to --drain-timeout, then closes its connectors; what is unsettled is not acknowledged, so
 * its senders redeliver it; exit code 0. Asserted: the log says the drain timed out, exit 0
 * (not the harness's SIGKILL), no PUBACK between the signal and the exit, the devices resend to
 * a restarted Ferry, 0 lost, and the duplicates are at most the messages in flight at the
 * signal (RabbitMQ got them once from the first process, once from the second).
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
/** passed as --drain-timeout: the held confirms outlast it */
const DRAIN_TIMEOUT_MS = 1_000;
/** the harness's SIGKILL if Ferry has not exited by then (a hang, not a drain time-out) */
const EXIT_LIMIT_MS = 15_000;

const run = runId('f9');
const ws = new Workspace({ dir: 'drain-timeout', vhost: 'faults-drain-timeout' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('SIGTERM with confirms held past --drain-timeout 1000: drain times out, exit 0, nothing in flight PUBACKed, devices resend to a restarted Ferry: 0 lost', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally } = ws;
  const proxy = await ws.rabbitProxy(); // holds RabbitMQ's confirms on the way to Ferry
  const { listenerPort, ferry } = await devicesToRabbit(ws, { run, rabbitUrl: ws.rabbitUrl(proxy), args: ['--drain-timeout', String(DRAIN_TIMEOUT_MS)] });
  await ferry.start();
  const diag = ws.diag(() => `acked=${fleet?.acked ?? 0} outstanding=${fleet?.outstanding ?? 0}`);

  fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
  await fleet.start();
  await until(() => tally.counts.unique >= TERM_AT, `${TERM_AT} messages at the consumer`, 60_000, diag);

  // confirms held from now on; SIGTERM once every window waits and no PUBACK is on its way
  // (confirms past the proxy before the hold still become PUBACKs: sigterm-drain.test.ts)
  proxy.holdDownstream();
  const noPubackOnItsWay = unchangedFor(() => fleet!.acked, 500);
  await until(() => noPubackOnItsWay() && fleet!.outstanding >= DEVICES * WINDOW, 'every device window waiting for its PUBACK, none on its way', 10_000, diag);
  const atTerm = { acked: fleet.acked, outstanding: fleet.outstanding, received: tally.counts.unique };
  const tTerm = Date.now();
  await within(ferry.stop(EXIT_LIMIT_MS), 'Ferry to exit after SIGTERM', EXIT_LIMIT_MS + 5_000, diag); // confirms still held
  const exitMs = Date.now() - tTerm;
  const ackedAtExit = fleet.acked;
  const log = readFileSync(ferry.logFile, 'utf8');
  const drainTimedOut = log.includes('drain timed out');
  proxy.release(); // stop holding; what was held belonged to the dead process's connections
  proxy.cut();

  // the messages in flight at the signal come again from their devices, to a restarted Ferry
  await ferry.start();
  await within(fleet.done(), 'every device PUBACK after the restart', 60_000, diag);
  const complete = await eventually(() => tally.complete, 30_000);
  if (complete) await delay(1000); // room for a late duplicate before counting

  const c = tally.counts;
  printCounts('SIGTERM with confirms held past --drain-timeout (devices → Ferry → RabbitMQ)', tally, {
    drainTimeout: `${DRAIN_TIMEOUT_MS} ms`,
    ackedAtTerm: atTerm.acked,
    inFlightAtTerm: atTerm.outstanding,
    receivedAtTerm: atTerm.received,
    ackedDuringDrain: ackedAtExit - atTerm.acked,
    sigtermToExit: seconds(exitMs),
    drainTimedOut,
    firstExit: ferry.exits[0] ?? '?',
    reconnectsWithoutSession: fleet.sessionLost,
    republished: fleet.republished,
    rejected: fleet.rejected.size,
    total: seconds(Date.now() - t0),
  });

  expect(atTerm.outstanding).toBeGreaterThan(0);
  // the drain could not finish: Ferry says so and exits with the code docs/operations.md gives a signal, by itself
  expect(drainTimedOut).toBe(true);
  expect(ferry.exits[0]).toBe('exit 0');
  // the messages it could not confirm were not acknowledged to their devices
  expect(ackedAtExit).toBe(atTerm.acked);
  expect(ferry.starts).toBe(2);
  // ... so the devices resent them: nothing lost, and a duplicate only for what was in flight
  expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: fleet.rejected.size }).toEqual({
    sent: fleet.total,
    unique: fleet.total,
    lost: 0,
    unexpected: 0,
    rejected: 0,
  });
  expect(c.duplicated).toBeLessThanOrEqual(atTerm.outstanding);
  ws.passed = true;
});
