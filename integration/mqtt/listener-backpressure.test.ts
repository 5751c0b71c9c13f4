/**
 * A fast publisher and a deliberately slow subscriber on the same mqtt-listener, both Eclipse
 * Paho (Debian's python3-paho-mqtt 1.6.1; paho_backpressure.py): the subscriber's session queue
 * (sessionQueueLimit 200) fills, and from there the publisher's PUBACKs wait for room instead of
 * its messages being dropped. Counted: sent, received, duplicated, lost, and the listener's
 * queue-full drops, all 0 except what was sent and received.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, RecordingMetrics, Tally } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import { context } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, 'paho_backpressure.py');
const python = '/usr/bin/python3';

/** Run paho_backpressure.py; resolves with its last stdout line as JSON, `onReady` once it printed "ready". */
function paho(args: readonly (string | number)[], onReady?: () => void): { done: Promise<Record<string, unknown>>; child: ChildProcessWithoutNullStreams } {
  const child = spawn(python, [script, ...args.map(String)]);
  let out = '';
  let err = '';
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (onReady !== undefined && /^ready$/m.test(out)) {
        const ready = onReady;
        onReady = undefined;
        ready();
      }
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`paho_backpressure.py ${args.join(' ')} exited ${code} without JSON:\n${out.slice(-2000)}\n${err}`));
      }
    });
  });
  return { done, child };
}

beforeAll(() => {
  if (!existsSync('/usr/lib/python3/dist-packages/paho/mqtt/client.py')) {
    throw new Error('python3-paho-mqtt (1.6.1, Debian) is missing: apt-get install -y python3-paho-mqtt, or run integration/brokers/install.sh');
  }
});

describe('backpressure from a slow subscriber to its publisher on the mqtt-listener (paho both ends)', () => {
  let listener: MqttListenerConnector;
  let port: number;
  let metrics: RecordingMetrics;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeEach(async () => {
    port = await freePort();
    metrics = new RecordingMetrics();
    listener = new MqttListenerConnector(context(metrics), 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, sessionQueueLimit: 200 }));
    await listener.start();
  });

  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
    await listener.stop();
  });

  it.each([4, 5] as const)('MQTT %s: 3,000 QoS 1 messages, the subscriber 1 ms per message: nothing lost, nothing duplicated, nothing dropped', async (version) => {
    const n = 3000;
    const topic = `bp/${version}`;
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const sub = paho(['sub', '127.0.0.1', port, topic, n, 1, version], ready);
    children.push(sub.child);
    await subscribed;
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
