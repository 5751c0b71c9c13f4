/**
 * Fault 10 (slow consumer on Ferry's own side): a slow QoS 1 subscriber of Ferry's
 * mqtt-listener, fed by a route, paces the devices instead of losing their messages, and does
 * not grow Ferry's memory: the route's write into the listener waits for room in the
 * subscriber's full session queue and confirms only once queued (docs/connectors/mqtt.md, "A
 * route into the listener waits the same way"), the route's `maxInFlight` fills, and the
 * devices' PUBACKs wait for the route.
 *
 * devices (MQTT 5, QoS 1, 4 KiB payloads) → Ferry mqtt-listener → route → the same listener as
 * sink (topic `<run>/out/<device>`, QoS 1) → a subscriber on that listener that PUBACKs each
 * message 5 ms late and reads nothing meanwhile (support/slow-subscriber.ts), with a Receive
 * Maximum of 10 and a session queue of 200.
 *
 * While it is slow (until it has 1,000): sampled every 250 ms, no device PUBACK is ever further
 * ahead of the subscriber than its queue and window (what is confirmed was queued), and Ferry's
 * RSS. Then it acknowledges at once and everything flows. Asserted: nothing dropped, lost or
 * duplicated, every device message PUBACKed, none refused, no reconnect, RSS peak within a bound
 * over the idle process. No timing assertions.
 */
import { jest } from '@jest/globals';
import { delay } from '@ferry/testkit';
import { metric } from './support/ferry-process.js';
import { Fleet, idOfPayload } from './support/fleet.js';
import { SlowSubscriber } from './support/slow-subscriber.js';
import { printCounts, runId, seconds, until, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(120_000);

const DEVICES = 4;
const PER_DEVICE = 2_500; // 10,000 in all
const WINDOW = 50;
const PAYLOAD_BYTES = 4_096;
const QUEUE_LIMIT = 200;
const RECEIVE_MAXIMUM = 10;
const SLOW_ACK_MS = 5;
/** the subscriber stays slow until it has this many */
const SLOW_UNTIL = 1_000;
const SAMPLE_MS = 250;
/**
 * Over the idle process. What Ferry holds while the devices wait: the route's 1,000 in flight,
 * the subscriber's 200 queued and 10 in flight, 4 KiB each, and V8's heap grown to the rate.
 */
const RSS_OVER_IDLE_LIMIT_KIB = 176 * 1024;

const run = runId('f10');
const ws = new Workspace({ dir: 'listener-slow' }); // no broker: no vhost
let fleet: Fleet | undefined;

afterAll(() => ws.close());

it('a slow QoS 1 subscriber fed by a route on the mqtt-listener: the devices are paced, nothing dropped or lost, RSS bounded', async () => {
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
  const dropped = async (): Promise<number> => (await metric(adminPort, 'ferry_messages_dropped_total', { connector: 'devices' })) ?? 0;

  const subscriber = ws.own(new SlowSubscriber({ port: listenerPort, clientId: `${run}-slow`, filter: `${run}/out/+`, tally, idOf: idOfPayload, receiveMaximum: RECEIVE_MAXIMUM, ackDelayMs: SLOW_ACK_MS }));
  await subscriber.start();
  await delay(1000); // the idle process, with its listener and one subscriber
  const idleKiB = ferry.rssKiB() ?? 0;

  const rss: number[] = [];
  /** the most a device PUBACK was ahead of the subscriber in any sample */
  let maxAhead = 0;
  const sampler = setInterval(() => {
    const r = ferry.rssKiB();
    if (r !== undefined) rss.push(r);
    // the PUBACKs first: both only grow, so what is read second is never behind
    const acked = fleet?.acked ?? 0;
    if (subscriber.ackDelayMs > 0) maxAhead = Math.max(maxAhead, acked - subscriber.received);
  }, SAMPLE_MS);
  const diag = ws.diag(() => `acked=${fleet?.acked ?? 0} received=${subscriber.received}`);

  try {
    fleet = ws.own(new Fleet({ port: listenerPort, prefix: run, devices: DEVICES, perDevice: PER_DEVICE, window: WINDOW, tally, payloadBytes: PAYLOAD_BYTES, topic: (d) => `${run}/dev${d}/in` }));
    const tStream = Date.now();
    await fleet.start();
    await until(() => subscriber.received >= SLOW_UNTIL, `${SLOW_UNTIL} at the slow subscriber`, 60_000, diag);
    const ackedWhileSlow = fleet.acked;
    const receivedWhileSlow = subscriber.received;

    // the subscriber catches up: the devices are let go as it takes their messages
    subscriber.ackDelayMs = 0;
    await within(fleet.done(), 'every device PUBACK', 60_000, diag);
    const publishedMs = Date.now() - tStream;
    await until(() => subscriber.received >= fleet!.total, 'every message at the subscriber', 60_000, diag);
    const droppedFinal = await dropped();
    const peakKiB = Math.max(...rss);

    const c = tally.counts;
    printCounts('slow QoS 1 subscriber fed by a route on the mqtt-listener (devices → Ferry → the same listener → subscriber)', tally, {
      sessionQueueLimit: QUEUE_LIMIT,
      dropped: droppedFinal,
      ackedWhileSlow,
      receivedWhileSlow,
      maxPubackAheadOfSubscriber: maxAhead,
      devicesAcked: fleet.acked,
      rejected: fleet.rejected.size,
      subscriberReconnects: subscriber.reconnects,
      rssIdleMiB: (idleKiB / 1024).toFixed(1),
      rssPeakMiB: (peakKiB / 1024).toFixed(1),
      rssOverIdleMiB: ((peakKiB - idleKiB) / 1024).toFixed(1),
      published: seconds(publishedMs),
      total: seconds(Date.now() - t0),
    });

    // the devices were held: a PUBACK only for what the subscriber's queue and window took
    expect(maxAhead).toBeLessThanOrEqual(QUEUE_LIMIT + 2 * RECEIVE_MAXIMUM);
    expect(ackedWhileSlow).toBeLessThan(fleet.total);
    // nothing dropped, lost or duplicated; every device message taken
    expect({ dropped: droppedFinal, acked: fleet.acked, rejected: fleet.rejected.size }).toEqual({ dropped: 0, acked: fleet.total, rejected: 0 });
    expect({ sent: c.sent, lost: c.lost, duplicated: c.duplicated, unexpected: c.unexpected, reconnects: subscriber.reconnects }).toEqual({
      sent: fleet.total,
      lost: 0,
      duplicated: 0,
      unexpected: 0,
      reconnects: 0,
    });
    expect(peakKiB - idleKiB).toBeLessThan(RSS_OVER_IDLE_LIMIT_KIB);
    ws.passed = true;
  } finally {
    clearInterval(sampler);
  }
});
