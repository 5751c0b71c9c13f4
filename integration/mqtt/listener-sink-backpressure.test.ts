/**
 * A route into the mqtt-listener is paced by a slow subscriber instead of losing messages:
 * amqplib publishes N messages (publisher confirms) to a RabbitMQ queue (the shared test broker)
 * → Ferry's amqp091 source → route → mqtt-listener sink → a deliberately slow Eclipse Paho
 * subscriber (Debian's python3-paho-mqtt 1.6.1, paho_backpressure.py) with a session queue of
 * 20. The sink's writes wait for room in that queue and confirm only once queued; the route's
 * maxInFlight fills and RabbitMQ keeps the rest of the queue. Counted: sent, received,
 * duplicated, lost; and the listener's queue-full drops and refused writes, and the engine's
 * retries: all 0.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { jest } from '@jest/globals';
import { silentLogger } from '@ferry/core';
import { parseConfig } from '@ferry/config';
import { Gateway, defaultRegistry } from '@ferry/gateway';
import { RecordingMetrics, Tally, brokerPorts, createVhost, deleteVhost, freePort, ifAssigned } from '@ferry/testkit';
import { plainClient, publishConfirmed, runId, type Plain } from '../scenarios/helpers.js';
import { requirePaho, slowPahoSubscriber } from './paho-backpressure.js';

jest.setTimeout(60_000);

beforeAll(requirePaho);

describe('RabbitMQ queue → amqp091 source → mqtt-listener sink → slow paho subscriber', () => {
  const run = runId('sinkbp');
  const queue = `${run}.to-devices`;
  let vhost: string;
  let gateway: Gateway;
  let plain: Plain;
  let port: number;
  let metrics: RecordingMetrics;
  const children: ChildProcessWithoutNullStreams[] = [];

  beforeAll(async () => {
    vhost = await createVhost('sinkbp');
    port = await freePort();
    metrics = new RecordingMetrics();
    const result = parseConfig(
      `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, anonymous: true, sessionQueueLimit: 20, maxInflightMessages: 100 }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${brokerPorts().rabbitAmqp}/${encodeURIComponent(vhost)}"
    prefetch: 50
    topology:
      queues: [ { name: "${queue}" } ]
routes:
  - name: rabbit-to-devices
    from: { connector: rabbit, queue: "${queue}" }
    to: { connector: devices, topic: "${run}/out", qos: 1 }
    maxInFlight: 50
`,
      'test.yaml',
      defaultRegistry(),
    );
    if (!result.ok) throw new Error('route file invalid:\n' + result.errors.map((e) => e.format()).join('\n'));
    gateway = await Gateway.load(result.config, { registry: defaultRegistry(), logger: silentLogger, metrics });
    await gateway.start();
    plain = await plainClient(vhost);
  });

  afterAll(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill();
    await ifAssigned(plain)?.close();
    await ifAssigned(gateway)?.stop(2000);
    if (vhost) await deleteVhost(vhost).catch(() => undefined);
  });

  it('1,000 QoS 1 messages, the subscriber 2 ms per message, its queue 20: nothing lost, nothing duplicated, nothing dropped', async () => {
    const n = 1000;
    const sub = await slowPahoSubscriber(port, `${run}/out`, n, 2, 5, children);
    // every message in RabbitMQ's queue before Ferry's writes can catch up with the subscriber
    await Promise.all(Array.from({ length: n }, (_, i) => publishConfirmed(plain.confirm, '', queue, Buffer.from(String(i)), { persistent: false })));
    const ids = (await sub.done).received as string[];

    const tally = new Tally();
    for (let i = 0; i < n; i++) tally.sent(String(i));
    for (const id of ids) tally.received(id);
    const dropped = metrics.count('messages_dropped_total', { connector: 'devices' });
    const refused = metrics.count('messages_rejected_total', { connector: 'devices' });
    const retried = metrics.count('messages_retried_total', { route: 'rabbit-to-devices' });
    console.log(`${tally.summary('RabbitMQ → amqp091 → listener sink → slow paho')} drops=${dropped} refused writes=${refused} retries=${retried}`);
    expect(tally.counts).toEqual({ sent: n, received: n, unique: n, duplicated: 0, lost: 0, unexpected: 0 });
    expect({ dropped, refused, retried }).toEqual({ dropped: 0, refused: 0, retried: 0 });
    // every message was confirmed to the route, and so acknowledged to RabbitMQ
    expect(metrics.count('messages_sent_total', { connector: 'devices' })).toBe(n);
  });
});
