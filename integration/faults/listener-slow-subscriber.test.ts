/**
 * Fault 10 (slow consumer on Ferry's own side): a slow QoS 1 subscriber of Ferry's
 * mqtt-listener does not grow Ferry's memory without bound; past the session queue limit its
 * messages are dropped and counted, as docs/connectors/mqtt.md says (`sessionQueueLimit`: "more
 * are dropped and counted (messages_dropped_total{reason="queue-full"})").
 *
 * devices (MQTT 5, QoS 1, 4 KiB payloads) → Ferry mqtt-listener → route → the same listener as
 * sink (topic `<run>/out/<device>`, QoS 1) → a subscriber on that listener that PUBACKs each
 * message 5 ms late and reads nothing meanwhile (support/slow-subscriber.ts), with a Receive
 * Maximum of 10. The devices publish far faster than it reads, so its session queue fills to
 * `sessionQueueLimit` (2,000) and every further message for it is dropped.
 *
 * Sampled every 250 ms: Ferry's RSS and the queue-full drop counter. Asserted: drops happened;
 * the devices got every PUBACK (a full subscriber queue is the subscriber's loss, not a refusal
 * of the device's message: the listener sink accepted it); what the subscriber lacks at the end
 * is exactly the drop counter (lost = dropped, nothing unaccounted for); RSS flat after the
 * warm-up while the devices go on publishing, and its peak within a bound over the idle process.
 * No timing assertions.
 */
import { jest } from '@jest/globals';
import { delay } from '@ferry/testkit';
import { metric } from './support/ferry-process.js';
import { Fleet, idOfPayload } from './support/fleet.js';
import { SlowSubscriber } from './support/slow-subscriber.js';
import { eventually, printCounts, runId, seconds, unchangedFor, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(120_000);

const DEVICES = 4;
const PER_DEVICE = 20_000; // 80,000 in all, 320 MiB of payload
const WINDOW = 50;
const PAYLOAD_BYTES = 4_096;
const QUEUE_LIMIT = 2_000;
const RECEIVE_MAXIMUM = 10;
const SLOW_ACK_MS = 5;
const SAMPLE_MS = 250;
/**
 * The first half of the stream is warm-up: V8's heap and the allocator grow to the rate of 4 KiB
 * messages (measured: RSS rises ~100 MiB over the first ~30,000 messages, then stays flat).
 */
const WARMUP_MESSAGES = 40_000;
/**
 * Growth of RSS over the second half of the stream (after the warm-up, devices still publishing).
 * The subscriber's queue holds at most 2,000 × 4 KiB = 8 MiB of payload plus the objects around
 * each message; each message held beyond it costs ~5 KiB. Measured (docs/faults.md, scenario 10):
 * 12–16 MiB with the limit; 167 MiB with a build that ignores it.
 */
const RSS_GROWTH_LIMIT_KIB = 48 * 1024;
/**
 * Over the idle process, warm-up included. Measured: 119–125 MiB with the limit (the heap sized to
 * the allocation rate of 4 KiB messages, not to what is kept); 405 MiB without it.
 */
const RSS_OVER_IDLE_LIMIT_KIB = 176 * 1024;

const run = runId('f10');
const ws = new Workspace({ dir: 'listener-slow' }); // no broker: no vhost
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('a slow QoS 1 subscriber on the mqtt-listener: RSS bounded, messages past sessionQueueLimit dropped and counted, devices all PUBACKed', async () => {
  const t0 = Date.now();
  await ws.open();
  const { tally, adminPort } = ws;
  const listenerPort = await ws.port();

  const ferry = ws.ferry(`
gateway: { id: ${run}, http: { port: ${adminPort}, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, sessionQueueLimit: ${QUEUE_LIMIT}, anonymous: true }
routes:
  - name: fan-back
    from: { connector: devices, topic: "${run}/+/in" }
    to: { connector: devices, topic: "${run}/out/{1}", qos: 1 }
`);
  await ferry.start();
  const dropped = async (): Promise<number> => (await metric(adminPort, 'ferry_messages_dropped_total', { connector: 'devices', reason: 'queue-full' })) ?? 0;

  const subscriber = ws.own(new SlowSubscriber({ port: listenerPort, clientId: `${run}-slow`, filter: `${run}/out/+`, tally, idOf: idOfPayload, receiveMaximum: RECEIVE_MAXIMUM, ackDelayMs: SLOW_ACK_MS }));
  await subscriber.start();
  await delay(1000); // the idle process, with its listener and one subscriber
  const idleKiB = ferry.rssKiB() ?? 0;

  /** RSS samples: ms since the stream started, PUBACKs the devices had by then */
  const rss: { t: number; kiB: number; acked: number }[] = [];
  let tStream = Date.now();
  let droppedNow = 0;
  const sampler = setInterval(() => {
    const r = ferry.rssKiB();
    if (r !== undefined) rss.push({ t: Date.now() - tStream, kiB: r, acked: fleet?.acked ?? 0 });
    void dropped().then((v) => (droppedNow = v));
  }, SAMPLE_MS);
  const diag = ws.diag(() => `acked=${fleet?.acked ?? 0} dropped=${droppedNow}`);

  try {
    fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, payloadBytes: PAYLOAD_BYTES, topic: (d) => `${run}/dev${d}/in` }));
    tStream = Date.now();
    rss.length = 0;
    await fleet.start();
    await within(fleet.done(), 'every device PUBACK', 60_000, diag);
    const tPublished = Date.now();
    const receivedWhileSlow = subscriber.received;
    const droppedAtEnd = await dropped();

    // the subscriber catches up: what is left in its queue arrives, nothing more is dropped
    subscriber.ackDelayMs = 0;
    const settled = unchangedFor(() => subscriber.received, 1000);
    await until(settled, "the subscriber's queue delivered", 60_000, diag);
    const droppedFinal = await dropped();
    const complete = await eventually(() => tally.counts.unique + droppedFinal >= fleet!.total, 1_000);
    const publishedMs = tPublished - tStream;
    const peakKiB = Math.max(...rss.map((r) => r.kiB));
    // the plateau: samples after the warm-up while the devices were still publishing
    const plateau = rss.filter((r) => r.acked >= WARMUP_MESSAGES && r.t <= publishedMs).map((r) => r.kiB);
    const warmKiB = plateau[0] ?? 0;
    const plateauGrowthKiB = Math.max(...plateau) - warmKiB;

    if (process.env['FERRY_FAULTS_PROGRESS'] !== undefined) console.log(`[faults] RSS MiB every ${SAMPLE_MS} ms: ${rss.map((r) => (r.kiB / 1024).toFixed(0)).join(' ')}`);
    const c = tally.counts;
    printCounts('slow QoS 1 subscriber on the mqtt-listener (devices → Ferry → the same listener → subscriber)', tally, {
      sessionQueueLimit: QUEUE_LIMIT,
      droppedQueueFull: droppedFinal,
      droppedWhenDevicesDone: droppedAtEnd,
      receivedWhileSlow,
      receivedAfterCatchUp: subscriber.received - receivedWhileSlow,
      devicesAcked: fleet.acked,
      rejected: fleet.rejected.size,
      subscriberReconnects: subscriber.reconnects,
      rssIdleMiB: (idleKiB / 1024).toFixed(1),
      rssAfterWarmupMiB: (warmKiB / 1024).toFixed(1),
      rssPeakMiB: (peakKiB / 1024).toFixed(1),
      rssPlateauGrowthMiB: (plateauGrowthKiB / 1024).toFixed(1),
      rssOverIdleMiB: ((peakKiB - idleKiB) / 1024).toFixed(1),
      plateauSamples: plateau.length,
      published: seconds(publishedMs),
      total: seconds(Date.now() - t0),
    });

    // the queue limit was reached, and the messages past it were dropped and counted
    expect(droppedFinal).toBeGreaterThan(0);
    expect(droppedFinal).toBe(droppedAtEnd); // the subscriber catching up dropped nothing more
    // the devices' messages were taken: all PUBACKed, none refused
    expect({ acked: fleet.acked, rejected: fleet.rejected.size }).toEqual({ acked: fleet.total, rejected: 0 });
    // every message the subscriber did not get is one the drop counter counted
    expect(complete).toBe(true);
    expect({ sent: c.sent, lost: c.lost, unexpected: c.unexpected, reconnects: subscriber.reconnects }).toEqual({
      sent: fleet.total,
      lost: droppedFinal,
      unexpected: 0,
      reconnects: 0,
    });
    // Ferry did not hold the whole backlog for the slow subscriber
    expect(plateau.length).toBeGreaterThanOrEqual(4); // a second of the stream after the warm-up, at least
    expect(plateauGrowthKiB).toBeLessThan(RSS_GROWTH_LIMIT_KIB);
    expect(peakKiB - idleKiB).toBeLessThan(RSS_OVER_IDLE_LIMIT_KIB);
    ws.passed = true;
  } finally {
    clearInterval(sampler);
  }
});
