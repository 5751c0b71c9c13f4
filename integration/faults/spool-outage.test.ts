/**
 * Fault 4: the destination is down for 30 seconds while devices keep publishing: the
 * spool grows, then drains, nothing lost.
 *
 * devices → Ferry mqtt-listener (child process, `gateway.spool`) → amqp091 → RabbitMQ, with
 * Ferry reaching RabbitMQ through a TcpProxy that cuts every connection and refuses new ones for
 * OUTAGE_MS (the shared broker keeps running). While RabbitMQ is unreachable Ferry writes each
 * device message to its durable spool (fsynced) and then sends the PUBACK; when RabbitMQ is
 * reachable again the spool drains in order, deleting an entry only after its publisher confirm.
 * `ferry_spool_messages{connector="rabbit"}` is sampled from /metrics.
 */
import { jest } from '@jest/globals';
import { metric } from './support/ferry-process.js';
import { Fleet } from './support/fleet.js';
import { devicesToRabbit } from './support/pipelines.js';
import { Progress, eventually, printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(240_000);

const DEVICES = 4;
const PER_DEVICE = 5_000;
const WINDOW = 100;
const OUTAGE_MS = 30_000;
/** cut RabbitMQ off once the consumer has this share */
const CUT_AT = 0.1;

const run = runId('f4');
const ws = new Workspace({ dir: 'spool', vhost: 'faults-spool' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('destination down for 30 s while devices keep publishing: the spool grows, then drains, 0 lost', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally, adminPort } = ws;
  const proxy = await ws.rabbitProxy();
  const { listenerPort, ferry } = await devicesToRabbit(ws, {
    run,
    rabbitUrl: ws.rabbitUrl(proxy),
    gateway: { spool: '{ dir: spool, maxBytes: 256MiB, overflow: refuse }' },
    rabbit: { heartbeat: 5, connectTimeoutMs: 2000 },
  });
  await ferry.start();
  let spoolNow = 0;
  let spoolMax = 0;
  const progress = new Progress(() => `received=${tally.counts.unique} acked=${fleet?.acked ?? 0} spool=${spoolNow}`);
  const sampler = setInterval(() => {
    void metric(adminPort, 'ferry_spool_messages', { connector: 'rabbit' }).then((v) => {
      if (v === undefined) return;
      spoolNow = v;
      spoolMax = Math.max(spoolMax, v);
    });
  }, 250);
  const diag = ws.diag(() => progress.toString());

  try {
    fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, topic: (d) => `${run}/dev${d}/telemetry` }));
    const tStream = Date.now();
    await fleet.start();
    await until(() => tally.counts.unique >= CUT_AT * fleet!.total, `${CUT_AT * 100}% at the consumer`, 60_000, diag);

    proxy.refuse(true);
    proxy.cut();
    progress.mark('RabbitMQ unreachable');
    const tCut = Date.now();
    const ackedAtCut = fleet.acked;
    const receivedAtCut = tally.counts.unique;
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const ackedDuringOutage = fleet.acked - ackedAtCut;
    const spoolAtEndOfOutage = spoolNow;
    // what reached the consumer during the outage had been confirmed before the cut
    const receivedDuringOutage = tally.counts.unique - receivedAtCut;
    proxy.refuse(false);
    progress.mark('RabbitMQ reachable again');
    const tBack = Date.now();

    await within(fleet.done(), 'every device PUBACK', 120_000, diag);
    const complete = await eventually(() => tally.complete, 90_000);
    const tDrained = Date.now();
    await eventually(() => spoolNow === 0, 10_000);
    if (complete) await new Promise((r) => setTimeout(r, 1000));
    else console.log(`[faults] not every message arrived\n${diag()}`);
    if (process.env['FERRY_FAULTS_PROGRESS'] !== undefined) console.log(progress.toString());

    printCounts('destination down 30 s, devices keep publishing, spool (devices → Ferry → RabbitMQ)', tally, {
      outage: seconds(tBack - tCut),
      ackedDuringOutage,
      receivedDuringOutage,
      spoolAtEndOfOutage,
      spoolMax,
      spoolAfterDrain: spoolNow,
      drainedIn: seconds(tDrained - tBack),
      deviceReconnects: fleet.reconnects,
      stream: seconds(tDrained - tStream),
      total: seconds(Date.now() - t0),
    });

    // devices kept getting PUBACKs while RabbitMQ was unreachable: from the spool
    expect(ackedDuringOutage).toBeGreaterThan(0);
    expect(spoolMax).toBeGreaterThan(0);
    expect(spoolAtEndOfOutage).toBeGreaterThan(0);
    // ... and it drained
    expect(spoolNow).toBe(0);
    expect(ferry.starts).toBe(1);
    const c = tally.counts;
    expect({ sent: c.sent, unique: c.unique, lost: c.lost, unexpected: c.unexpected, rejected: fleet.rejected.size }).toEqual({
      sent: fleet.total,
      unique: fleet.total,
      lost: 0,
      unexpected: 0,
      rejected: 0,
    });
    ws.passed = true;
  } finally {
    clearInterval(sampler);
    progress.stop();
  }
});
