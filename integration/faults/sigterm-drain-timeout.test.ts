/**
 * Fault 9 (issue 6, graceful shutdown when the drain does not finish): SIGTERM with RabbitMQ's confirms
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
import { Tally, TcpProxy, brokerPorts, createVhost, delay, freePort } from '@ferry/testkit';
import { QueueCounter } from './support/counter.js';
import { FerryProcess, requireBuiltCli } from './support/ferry-process.js';
import { Fleet } from './support/fleet.js';
import { eventually, printCounts, removeWorkspace, runId, seconds, tempDir, unchangedFor, until, within } from './support/scenario.js';

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
let dir: string | undefined;
let vhost: string | undefined;
let ferry: FerryProcess | undefined;
let counter: QueueCounter | undefined;
let fleet: Fleet | undefined;
let proxy: TcpProxy | undefined;
let passed = false;

afterAll(async () => {
  await fleet?.close();
  await ferry?.dispose();
  await counter?.close();
  await proxy?.stop();
  await removeWorkspace(dir, vhost, passed);
});

it('SIGTERM with confirms held past --drain-timeout 1000: drain times out, exit 0, nothing in flight PUBACKed, devices resend to a restarted Ferry: 0 lost', async () => {
  requireBuiltCli();
  const t0 = Date.now();
  dir = await tempDir('drain-timeout');
  vhost = await createVhost('faults-drain-timeout');
  const listenerPort = await freePort();
  const adminPort = await freePort();
  const tally = new Tally();

  counter = new QueueCounter({ vhost, exchange: 'telemetry', queue: 'telemetry-count', bindingKey: 'device.#', tally });
  await counter.start();
  proxy = new TcpProxy(brokerPorts().rabbitAmqp); // holds RabbitMQ's confirms on the way to Ferry
  const proxyPort = await proxy.start();

  ferry = new FerryProcess({
    dir,
    adminPort,
    args: ['--drain-timeout', String(DRAIN_TIMEOUT_MS)],
    yaml: `
gateway: { id: ${run}, http: { port: ${adminPort}, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1 }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${proxyPort}/${encodeURIComponent(vhost)}"
    reconnect: { initialMs: 100, maxMs: 1000 }
    topology:
      exchanges: [ { name: telemetry, type: topic } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/+/telemetry" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "device.{1}" }
`,
  });
  await ferry.start();
  const diag = (): string => `${tally.summary('so far')} acked=${fleet?.acked ?? 0} outstanding=${fleet?.outstanding ?? 0}\n${ferry?.diagnostics() ?? ''}`;

  fleet = new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` });
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
  const drainTimedOut = /drain timed out/.test(log);
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
  passed = true;
});
