/**
 * A fast publisher and a deliberately slow subscriber on the same mqtt-listener, both Eclipse
 * Paho (Debian's python3-paho-mqtt 1.6.1; paho_backpressure.py): the subscriber's session queue
 * (sessionQueueLimit 200) fills, and from there the publisher's PUBACKs wait for room instead of
 * its messages being dropped. Counted: sent, received, duplicated, lost, and the listener's
 * queue-full drops, all 0 except what was sent and received.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { freePort, RecordingMetrics, Tally } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import { context } from './helpers.js';
import { paho, requirePaho, slowPahoSubscriber } from './paho-backpressure.js';

beforeAll(requirePaho);

describe('backpressure from a slow subscriber to its publisher on the mqtt-listener (paho both ends)', () => {
  let listener: MqttListenerConnector;
  let port: number;
  let metrics: RecordingMetrics;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeEach(async () => {
    port = await freePort();
    metrics = new RecordingMetrics();
    listener = new MqttListenerConnector(context(metrics), 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, sessionQueueLimit: 200, maxInflightMessages: 100 }));
    await listener.start();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
    await listener.stop();
  });

  it.each([4, 5] as const)('MQTT %s: 1,000 QoS 1 messages, the subscriber 1 ms per message: nothing lost, nothing duplicated, nothing dropped', async (version) => {
    // the subscriber's in-flight window (maxInflightMessages, 100) and its queue (200) are full
    // from about the 300th message on: the other 700 each wait for room, as 2,700 did at 3,000
    const n = 1000;
    const topic = `bp/${version}`;
    const sub = await slowPahoSubscriber(port, topic, n, 1, version, children);
    const pub = paho(['pub', '127.0.0.1', port, topic, n, version]);
    children.push(pub.child);
    const published = await pub.done;
    const got = (await sub.done).received as string[];

    const tally = new Tally();
    for (let i = 0; i < n; i++) tally.sent(String(i));
    for (const id of got) tally.received(id);
    const dropped = metrics.count('messages_dropped_total', { reason: 'queue-full' });
    console.log(`${tally.summary(`paho ${version} → listener → slow paho`)} queue-full drops=${dropped} publisher ${JSON.stringify(published)}`);
    expect(published).toMatchObject({ published: n, acked: n });
    expect(tally.counts).toEqual({ sent: n, received: n, unique: n, duplicated: 0, lost: 0, unexpected: 0 });
    expect(dropped).toBe(0);
    // in the order published: the waiting copies enter the queue in their order
    expect(got).toEqual(Array.from({ length: n }, (_, i) => String(i)));
  });
});
