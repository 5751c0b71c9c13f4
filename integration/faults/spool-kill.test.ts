/**
 * Fault 8 (durable spool): messages Ferry acknowledged from the spool survive kill -9.
 *
 * devices (MQTT 5, persistent sessions, QoS 1) → Ferry mqtt-listener (a real child process,
 * `gateway.spool`) → amqp091 sink → TcpProxy → RabbitMQ → durable queue → counting consumer.
 *
 * The proxy refuses and has cut every connection before the first device message, so RabbitMQ
 * is unreachable the whole time the devices get their PUBACKs: each one was sent only after its
 * message was written to the spool (docs/spool.md), and the spool is the only place those
 * messages exist. With thousands in it, Ferry gets SIGKILL (no drain, no close of the store),
 * and is started again while the destination is still unreachable: it must recover every entry
 * at open, take the devices' resends (what was not PUBACKed) into the spool behind them, and,
 * once the proxy lets connections through, drain it all.
 *
 * Asserted: every message acknowledged to a device reached RabbitMQ (0 lost), the recovered
 * spool held at least every message PUBACKed before the kill, nothing reached RabbitMQ before
 * the proxy opened, `ferry_spool_messages{connector="rabbit"}` back to 0, and the first arrival
 * of every message in per-device publish order (docs/spool.md, "Order": the destination was
 * unreachable before the first message, so none of its caveats applies).
 */
import { readFileSync } from 'node:fs';
import { jest } from '@jest/globals';
import { delay } from '@ferry/testkit';
import { metric } from './support/ferry-process.js';
import { Fleet } from './support/fleet.js';
import { orderViolations } from './support/order.js';
import { devicesToRabbit } from './support/pipelines.js';
import { Progress, eventually, printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(180_000);

const DEVICES = 4;
const PER_DEVICE = 8_000; // 32,000 in all: devices still publish while the spool drains
const WINDOW = 50;
/** kill -9 once the devices hold this many PUBACKs, every one of them from the spool */
const KILL_AT_ACKED = 6_000;
/** after the restart the destination stays unreachable at most this long, while devices resend into the spool */
const STILL_DOWN_MS = 2_000;
/** publishes the devices still have to make when RabbitMQ comes back (the test asks for at least 5,000) */
const LEFT_WHEN_BACK = 10_000;

const run = runId('f8');
const ws = new Workspace({ dir: 'spool-kill', vhost: 'faults-spool-kill' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

/** The messages per queue of the last `spool open` line in Ferry's log (what the new process recovered). */
function recoveredAtOpen(logFile: string, queue: string): number | undefined {
  const line = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('spool open'))
    .at(-1);
  if (line === undefined) return undefined;
  const m = new RegExp(`"queue":"${queue}","messages":(\\d+)`).exec(line);
  return m ? Number(m[1]) : 0;
}

it('kill -9 Ferry while its spool holds thousands of PUBACKed messages, restart it into the outage: every one arrives, in order, spool back to 0', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally, adminPort } = ws;
  const proxy = await ws.rabbitProxy();
  const { listenerPort, counter, ferry } = await devicesToRabbit(ws, {
    run,
    rabbitUrl: ws.rabbitUrl(proxy),
    keepArrivals: true,
    gateway: { spool: '{ dir: spool, maxBytes: 256MiB, overflow: refuse }' },
    rabbit: { heartbeat: 5, connectTimeoutMs: 2000 },
  });
  await ferry.start(); // ready: the exchange is declared through the proxy

  let spoolNow = 0;
  let spoolMax = 0;
  const progress = new Progress(() => `received=${tally.counts.unique} acked=${fleet?.acked ?? 0} outstanding=${fleet?.outstanding ?? 0} spool=${spoolNow}`);
  const sampler = setInterval(() => {
    void metric(adminPort, 'ferry_spool_messages', { connector: 'rabbit' }).then((v) => {
      if (v === undefined) return;
      spoolNow = v;
      spoolMax = Math.max(spoolMax, v);
    });
  }, 250);
  const diag = ws.diag(() => progress.toString());

  try {
    // the destination goes away before the first device message: every PUBACK from here on is the spool's
    proxy.refuse(true);
    proxy.cut();
    await until(async () => !(await ferry.ready()), 'Ferry to see RabbitMQ unreachable (/readyz 503)', 15_000, diag);
    progress.mark('RabbitMQ unreachable');

    fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
    const tStream = Date.now();
    await fleet.start();
    await until(() => fleet!.acked >= KILL_AT_ACKED, `${KILL_AT_ACKED} PUBACKs from the spool`, 60_000, diag);

    const atKill = { acked: fleet.acked, outstanding: fleet.outstanding, received: tally.counts.received, spool: await metric(adminPort, 'ferry_spool_messages', { connector: 'rabbit' }) };
    progress.mark('kill -9 Ferry');
    await ferry.kill9();
    const tKilled = Date.now();
    // PUBACKs already in the devices' sockets still arrive; after that the count is final
    await delay(250);
    const ackedByKilled = fleet.acked;
    spoolNow = -1; // no process: the next sample is the new one's
    // the destination is still unreachable: wait for the admin endpoint, not /readyz
    await ferry.start(30_000, 'live');
    const restartMs = Date.now() - tKilled;
    progress.mark('Ferry answering again (RabbitMQ still unreachable)');
    // the admin endpoint answers before the gateway (and its spool) start: wait for the new
    // process's own `spool open` line, the second one in the log
    await until(() => readFileSync(ferry.logFile, 'utf8').split('\n').filter((l) => l.includes('spool open')).length >= 2, 'the restarted spool open', 30_000, diag);
    const recovered = recoveredAtOpen(ferry.logFile, 'rabbit');

    // the outage lasts STILL_DOWN_MS, or ends sooner once only LEFT_WHEN_BACK publishes remain: a
    // fast machine would otherwise take every publish into the spool before RabbitMQ returns
    const stillDownUntil = Date.now() + STILL_DOWN_MS;
    await until(() => Date.now() >= stillDownUntil || fleet!.acked >= fleet!.total - LEFT_WHEN_BACK, 'the outage to have lasted long enough', STILL_DOWN_MS + 5_000, diag);
    const stillDown = { acked: fleet.acked, received: tally.counts.received, spool: spoolNow, ready: await ferry.ready() };
    proxy.refuse(false);
    progress.mark('RabbitMQ reachable again');
    const tBack = Date.now();

    await within(fleet.done(), 'every device PUBACK', 90_000, diag);
    const complete = await eventually(() => tally.complete, 60_000);
    const tComplete = Date.now();
    await eventually(() => spoolNow === 0, 10_000);
    if (complete) await delay(1000); // room for a late duplicate before counting
    else console.log(`[faults] not every message arrived\n${diag()}`);
    if (process.env['FERRY_FAULTS_PROGRESS'] !== undefined) console.log(progress.toString());
    const violations = orderViolations(counter.arrivals);

    printCounts('kill -9 Ferry with a full spool, restart into the outage (devices → Ferry+spool → RabbitMQ)', tally, {
      ackedAtKill: atKill.acked,
      ackedByKilledProcess: ackedByKilled,
      unackedAtKill: atKill.outstanding,
      spoolAtKill: atKill.spool ?? '?',
      recoveredAtOpen: recovered ?? 'no spool open line',
      restartToLive: seconds(restartMs),
      ackedWhileStillDown: stillDown.acked - ackedByKilled,
      leftToPublishWhenReachable: fleet.total - stillDown.acked,
      spoolWhileStillDown: stillDown.spool,
      receivedBeforeReachable: stillDown.received,
      spoolMax,
      spoolAfterDrain: spoolNow,
      drainedIn: seconds(tComplete - tBack),
      orderViolations: violations.length,
      reconnectsWithoutSession: fleet.sessionLost,
      republished: fleet.republished,
      stream: seconds(tComplete - tStream),
      total: seconds(Date.now() - t0),
    });
    if (violations.length > 0) console.log(`[faults] first arrivals out of order: ${violations.slice(0, 20).join(', ')}`);

    // the spool held thousands of acknowledged messages when Ferry died, and RabbitMQ none of them
    expect(atKill.acked).toBeGreaterThanOrEqual(KILL_AT_ACKED);
    expect(atKill.received).toBe(0);
    expect(ferry.exits[0]).toBe('SIGKILL');
    expect(ferry.starts).toBe(2);
    // the new process found every message the dead one PUBACKed on disk (or more: appended, PUBACK not yet out)
    expect(recovered).toBeGreaterThanOrEqual(ackedByKilled);
    // restarted into the outage, it went on acknowledging from the spool and delivered nothing
    expect(stillDown.ready).toBe(false);
    expect(stillDown.received).toBe(0);
    expect(stillDown.acked).toBeGreaterThan(ackedByKilled);
    // devices still had thousands to publish once RabbitMQ was back: they queued behind the drain
    expect(fleet.total - stillDown.acked).toBeGreaterThanOrEqual(5_000);
    // then everything drained: spool empty, nothing lost, first arrivals in publish order per device
    expect(spoolNow).toBe(0);
    const c = tally.counts;
    expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: fleet.rejected.size }).toEqual({
      sent: fleet.total,
      unique: fleet.total,
      lost: 0,
      unexpected: 0,
      rejected: 0,
    });
    expect(violations).toEqual([]);
    ws.passed = true;
  } finally {
    clearInterval(sampler);
    progress.stop();
  }
});
