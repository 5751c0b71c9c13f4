/**
 * A connected subscriber whose session queue is full holds the publisher's PUBACK instead of
 * dropping the message: the publisher is paced by its own window, and nothing is lost. Bounded:
 * a subscriber that takes nothing holds its publishers for sessionQueueWaitMs once, then its
 * copies are dropped and counted; an absent subscriber and the publisher's own session drop at
 * once; two clients that are each other's slow subscriber cannot wedge. Real TCP on localhost,
 * no broker.
 */
import type { Socket } from 'node:net';
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { silentLogger } from '@ferry/core';
import { RecordingMetrics, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { mqttjsClient, rawClient, type RawClient } from './test-support.js';

jest.setTimeout(60_000);

let listener: MqttListenerConnector;
let metrics: RecordingMetrics;
let port: number;
const sockets: Socket[] = [];
const clients: MqttClient[] = [];
const timers: NodeJS.Timeout[] = [];

async function start(extra: Record<string, unknown> = {}): Promise<void> {
  port = await freePort();
  metrics = new RecordingMetrics();
  const options = mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, sessionQueueLimit: 50, maxInflightMessages: 10, receiveMaximum: 100, ...extra });
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics, baseDir: '.' }, 'devices', options);
  await listener.start();
}

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const s of sockets.splice(0)) s.destroy();
  await listener.stop();
});

const dropped = (): number => metrics.count('messages_dropped_total', { reason: 'queue-full' });
const publishes = (c: RawClient): mqttPacket.IPublishPacket[] => c.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');

/**
 * A raw 3.1.1 QoS 1 subscriber to `filter` that acknowledges at most `perTick` deliveries every
 * 2 ms (0: none until `ackAll` is called); returns once SUBACK arrived.
 */
async function slowSubscriber(clientId: string, filter: string, perTick: number, clean = true): Promise<{ client: RawClient; ackAll: () => void }> {
  const c = await rawClient(port, 4, sockets);
  c.send({ cmd: 'connect', protocolVersion: 4, clientId, clean, keepalive: 60 });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await waitFor(() => c.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  let next = 0;
  let all = false;
  const ack = (max: number): void => {
    const got = publishes(c);
    for (let n = 0; next < got.length && n < max; n++) c.send({ cmd: 'puback', messageId: (got[next++] as mqttPacket.IPublishPacket).messageId as number });
  };
  timers.push(setInterval(() => ack(all ? Infinity : perTick), 2));
  return { client: c, ackAll: () => (all = true) };
}

/**
 * Publish `n` QoS 1 messages (payloads 0..n-1) from an mqtt.js client with at most `window`
 * unacknowledged (the listener's receiveMaximum: mqtt.js does not keep an MQTT 5 server's
 * Receive Maximum itself); resolves with the last PUBACK. `acked` counts them as they come.
 */
async function flood(c: MqttClient, topic: string, n: number, acked = { count: 0 }, window = 100): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await c.publishAsync(topic, Buffer.from(String(i)), { qos: 1 });
      acked.count++;
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
}

/** the payloads a subscriber got, as numbers, without duplicates */
const received = (c: RawClient): number[] => [...new Set(publishes(c).map((p) => Number(String(p.payload))))];

describe.each([4, 5] as const)('MQTT %s publisher', (version) => {
  it('a slow subscriber holds the PUBACKs, not the messages: every one arrives, in order, none dropped, the queue within its limit', async () => {
    await start();
    const { client } = await slowSubscriber('slow', 'bp/#', 2);
    const pub = await mqttjsClient(port, version, 'fast', clients);
    let maxQueued = 0;
    let maxWaiting = 0;
    timers.push(
      setInterval(() => {
        const s = listener.broker?.sessionStats('slow');
        maxQueued = Math.max(maxQueued, s?.queued ?? 0);
        maxWaiting = Math.max(maxWaiting, s?.waiting ?? 0);
      }, 1),
    );
    const n = 1000;
    const acked = { count: 0 };
    const all = flood(pub, 'bp/t', n, acked);
    // the subscriber takes ~1,000/s: the publisher is held before half is acknowledged
    await waitFor(() => (listener.broker?.sessionStats('slow')?.waiting ?? 0) > 0, 'a publish waiting for room');
    expect(acked.count).toBeLessThan(n);
    await all;
    await waitFor(() => received(client).length === n, `${n} deliveries`, 30_000);
    expect(received(client)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(publishes(client)).toHaveLength(n);
    expect(dropped()).toBe(0);
    expect(maxQueued).toBeLessThanOrEqual(50);
    // what waits is bounded by the publisher's window (receiveMaximum 100)
    expect(maxWaiting).toBeGreaterThan(0);
    expect(maxWaiting).toBeLessThanOrEqual(100);
  });
});

it('a shared subscription ($share, MQTT 5 §4.8.2) whose member is slow holds the publisher too: nothing dropped', async () => {
  await start();
  const { client } = await slowSubscriber('member', '$share/g/bp/#', 4);
  const pub = await mqttjsClient(port, 5, 'fast', clients);
  await flood(pub, 'bp/t', 600);
  await waitFor(() => received(client).length === 600, '600 deliveries');
  expect(received(client)).toEqual(Array.from({ length: 600 }, (_, i) => i));
  expect(dropped()).toBe(0);
});

it('a subscriber that takes nothing holds the publisher for sessionQueueWaitMs once, then its copies are dropped and counted', async () => {
  await start({ sessionQueueWaitMs: 300 });
  const { client } = await slowSubscriber('dead', 'bp/#', 0);
  const pub = await mqttjsClient(port, 4, 'fast', clients);
  const started = Date.now();
  await flood(pub, 'bp/t', 500);
  // held for the wait, then not again for every message
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  const s = listener.broker?.sessionStats('dead');
  expect(s?.waiting).toBe(0);
  // every message: in flight, queued or counted
  expect((s?.inflight ?? 0) + (s?.queued ?? 0) + dropped()).toBe(500);
  expect(dropped()).toBeGreaterThan(0);
  expect(publishes(client).length).toBe(s?.inflight);
});

it('sessionQueueWaitMs 0: a full queue drops at once, as before', async () => {
  await start({ sessionQueueWaitMs: 0 });
  await slowSubscriber('dead', 'bp/#', 0);
  const pub = await mqttjsClient(port, 5, 'fast', clients);
  await flood(pub, 'bp/t', 200);
  expect(listener.broker?.sessionStats('dead')?.waiting).toBe(0);
  expect(dropped()).toBe(200 - 10 - 50);
});

it('an absent persistent session queues to its limit and drops the rest: the publisher is never held', async () => {
  await start();
  const { client } = await slowSubscriber('away', 'bp/#', 0, false);
  client.socket.destroy();
  await waitFor(() => listener.broker?.sessionStats('away')?.connected === false, 'the subscriber gone');
  const pub = await mqttjsClient(port, 4, 'fast', clients);
  await flood(pub, 'bp/t', 200);
  expect(listener.broker?.sessionStats('away')).toMatchObject({ queued: 50, waiting: 0 });
  expect(dropped()).toBe(150);
});

it('a subscriber that leaves while publishes wait: what fits is queued, the rest dropped and counted, every publisher answered', async () => {
  await start({ sessionQueueWaitMs: 60_000 });
  const { client } = await slowSubscriber('leaves', 'bp/#', 0, false);
  const pub = await mqttjsClient(port, 5, 'fast', clients);
  const acked = { count: 0 };
  const all = flood(pub, 'bp/t', 200, acked);
  await waitFor(() => listener.broker?.sessionStats('leaves')?.waiting === 100, 'the publisher window waiting');
  expect(acked.count).toBeLessThan(200);
  client.socket.destroy();
  await all;
  const s = listener.broker?.sessionStats('leaves');
  expect(s?.waiting).toBe(0);
  expect((s?.inflight ?? 0) + (s?.queued ?? 0) + dropped()).toBe(200);
});

it("the publisher's own session is never waited for: its own acknowledgements are what make room", async () => {
  await start({ sessionQueueWaitMs: 60_000 });
  const self = await rawClient(port, 4, sockets);
  self.send({ cmd: 'connect', protocolVersion: 4, clientId: 'self', clean: true, keepalive: 60 });
  self.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bp/#', qos: 1 }] });
  await waitFor(() => self.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  // it publishes to itself and acknowledges none of the deliveries
  for (let i = 1; i <= 200; i++) self.send({ cmd: 'publish', topic: 'bp/t', payload: Buffer.from(String(i)), qos: 1, retain: false, dup: false, messageId: i });
  await waitFor(() => self.packets.filter((p) => p.cmd === 'puback').length === 200, 'every PUBACK');
  expect(listener.broker?.sessionStats('self')?.waiting).toBe(0);
  expect(dropped()).toBe(200 - 10 - 50);
});

it('two clients, each the other one\'s slow subscriber, paused at their receiveMaximum: they cannot wedge', async () => {
  await start({ sessionQueueLimit: 5, maxInflightMessages: 5, receiveMaximum: 5, sessionQueueWaitMs: 300 });
  const a = await slowSubscriber('a', 'to/a', 1000);
  const b = await slowSubscriber('b', 'to/b', 1000);
  const n = 300;
  const burst = (c: RawClient, topic: string): void => {
    for (let i = 1; i <= n; i++) c.send({ cmd: 'publish', topic, payload: Buffer.from(String(i)), qos: 1, retain: false, dup: false, messageId: i });
  };
  burst(a.client, 'to/b');
  burst(b.client, 'to/a');
  const pubacks = (c: RawClient): number => c.packets.filter((p) => p.cmd === 'puback').length;
  await waitFor(() => pubacks(a.client) === n && pubacks(b.client) === n, 'every publish of both acknowledged', 30_000);
  // what neither got was counted, and nothing waits any more
  await waitFor(() => received(a.client).length + received(b.client).length + dropped() === 2 * n, 'every message delivered or counted');
  expect(listener.broker?.sessionStats('a')?.waiting).toBe(0);
  expect(listener.broker?.sessionStats('b')?.waiting).toBe(0);
});
