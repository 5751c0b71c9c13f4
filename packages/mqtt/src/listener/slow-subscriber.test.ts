/**
 * A QoS 1 subscriber that never reads: before, the listener wrote it up to
 * 65,535 unacknowledged messages, all kept in the socket's buffer (16 KB messages: RSS from 193 MB
 * to 2.8 GB in 15 s, and it stayed after the subscriber left). Now what is written and not
 * acknowledged is bounded in messages and bytes, nothing is written while the socket holds more
 * than WRITE_HIGH_WATER unsent, the session queue is bounded in bytes, and beyond it messages are
 * dropped and counted, and the sink write of each fails (sink-wait.ts). Real TCP on localhost, no
 * broker.
 */
import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { jest } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import { createMessage, silentLogger } from '@ferry/core';
import { RecordingMetrics, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { WRITE_HIGH_WATER } from './session.js';
import { mqttListenerOptions } from '../options.js';
import { rawClient, type RawClient } from './test-support.js';

jest.setTimeout(60_000);

let gcFn: (() => void) | undefined;
function gc(): void {
  if (gcFn === undefined) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as (() => void) | undefined;
  }
  if (typeof gcFn !== 'function') throw new Error('no gc: the memory assertions need node --expose-gc');
  gcFn();
  gcFn();
}

/** heap and buffers outside it, MB, after a full collection */
function memoryMb(): number {
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / 2 ** 20;
}

let listener: MqttListenerConnector;
let metrics: RecordingMetrics;
let port: number;
const sockets: Socket[] = [];

beforeEach(async () => {
  port = await freePort();
  metrics = new RecordingMetrics();
  // sessionQueueWaitMs 0: a write into the full queue fails at once rather than waiting for room
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, sessionQueueWaitMs: 0 }));
  await listener.start();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener.stop();
});

/** a raw 3.1.1 subscriber (clean session) to `filter` at QoS 1; returns once SUBACK arrived */
async function subscriber(clientId: string, filter: string): Promise<RawClient> {
  const c = await rawClient(port, 4, sockets);
  c.send({ cmd: 'connect', protocolVersion: 4, clientId, clean: true, keepalive: 60 });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await waitFor(() => c.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  return c;
}

const publish = (i: number, size: number): Promise<void> =>
  listener.sink.write(createMessage({ body: Buffer.alloc(size, i % 251), source: { connector: 'x', protocol: 'mqtt', address: 'x' } }), { topic: 'slow/t', qos: 1 });

it('a subscriber that never reads: in flight, socket buffer and queue bounded in bytes, the rest dropped and counted, memory back once it leaves', async () => {
  const { socket } = await subscriber('never-reads', 'slow/#');
  socket.pause();
  const before = memoryMb();
  const rss0 = process.memoryUsage().rss;
  const n = 6000;
  const size = 16 * 1024;
  let refused = 0;
  for (let i = 0; i < n; i++) {
    await publish(i, size).catch((err: unknown) => {
      expect(err).toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false });
      refused++;
    });
    // let the socket write what it can, as under a real stream of publishes
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  const during = memoryMb();
  const rss1 = process.memoryUsage().rss;
  const dropped = metrics.count('messages_dropped_total', { reason: 'queue-full' });
  const s = listener.broker?.sessionStats('never-reads') ?? { inflight: NaN, inflightBytes: NaN, backlog: NaN, queued: NaN, queuedBytes: NaN };
  console.log(
    `never-reading subscriber, ${n} x 16 KB: in flight ${s.inflight} (${(s.inflightBytes / 2 ** 20).toFixed(1)} MB), socket unsent ${(s.backlog / 2 ** 20).toFixed(1)} MB, queued ${s.queued} (${(s.queuedBytes / 2 ** 20).toFixed(1)} MB), dropped ${dropped}; heap+buffers ${before.toFixed(0)} -> ${during.toFixed(0)} MB, rss ${(rss0 / 2 ** 20).toFixed(0)} -> ${(rss1 / 2 ** 20).toFixed(0)} MB`,
  );
  // what the listener holds for it: queue + in flight + socket, and slack for the rest
  expect(during - before).toBeLessThan(16 + 4 + 1 + 12);
  expect(dropped).toBeGreaterThan(0);
  // a dropped message is never confirmed to its route
  expect(refused).toBe(dropped);
  // the defaults: 1,000 messages / 4 MB in flight (with these messages the bytes bind first),
  // 16 MB queued, 1 MB unsent in the socket
  expect(s.inflight).toBeLessThanOrEqual(1000);
  expect(s.inflightBytes).toBeLessThanOrEqual(4 * 2 ** 20);
  expect(s.inflightBytes).toBeGreaterThan(4 * 2 ** 20 - size);
  expect(s.backlog).toBeLessThanOrEqual(WRITE_HIGH_WATER + size + 64);
  expect(s.queuedBytes).toBeLessThanOrEqual(16 * 2 ** 20);
  // every message is in flight, queued or counted as dropped
  expect(s.inflight + s.queued + dropped).toBe(n);

  socket.destroy();
  await waitFor(() => listener.broker?.sessionStats('never-reads') === undefined, 'the clean session ends with its connection');
  expect(memoryMb() - before).toBeLessThan(8);
});

it('a subscriber that reads late gets every queued message, in order, as the socket drains', async () => {
  const { socket, packets } = await subscriber('late-reader', 'slow/#');
  socket.pause();
  const n = 600;
  for (let i = 0; i < n; i++) await publish(i, 8 * 1024);
  // written only while the socket holds less than its unsent bound: the rest waits in the queue
  expect(listener.broker?.sessionStats('late-reader')?.inflight).toBeLessThan(n);
  expect(metrics.count('messages_dropped_total')).toBe(0);
  // now read and acknowledge everything
  const acked = new Set<number>();
  const ackAll = (): void => {
    for (const p of packets) {
      if (p.cmd === 'publish' && p.messageId !== undefined && !acked.has(p.messageId)) {
        acked.add(p.messageId);
        socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }));
      }
    }
  };
  const timer = setInterval(ackAll, 5);
  socket.resume();
  try {
    await waitFor(() => packets.filter((p) => p.cmd === 'publish').length === n, `${n} deliveries`, 20_000);
  } finally {
    clearInterval(timer);
  }
  const firstBytes = packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish').map((p) => (p.payload as Buffer)[0]);
  expect(firstBytes).toEqual(Array.from({ length: n }, (_, i) => i % 251));
});
