/**
 * A route into the listener (its sink) waits for room in a connected subscriber's full queue
 * as a device publish does, and confirms only once every copy is queued: a copy a connected
 * subscriber did not take fails the write (typed), so the route's source is never told a
 * thrown-away message was delivered. An absent subscriber keeps Mosquitto's rule (queue to the
 * limit, drop and count, the write confirms). Real TCP on localhost, no broker.
 */
import type { Socket } from 'node:net';
import { jest } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import { createMessage, FerryError, silentLogger } from '@ferry/core';
import { RecordingMetrics, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { rawClient, type RawClient } from './test-support.js';

jest.setTimeout(60_000);

let listener: MqttListenerConnector;
let metrics: RecordingMetrics;
let port: number;
const sockets: Socket[] = [];
const timers: NodeJS.Timeout[] = [];

async function start(extra: Record<string, unknown> = {}): Promise<void> {
  port = await freePort();
  metrics = new RecordingMetrics();
  const options = mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, sessionQueueLimit: 20, maxInflightMessages: 5, ...extra });
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics, baseDir: '.' }, 'devices', options);
  await listener.start();
}

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const s of sockets.splice(0)) s.destroy();
  await listener.stop();
});

const dropped = (): number => metrics.count('messages_dropped_total', { reason: 'queue-full' });
const publishes = (c: RawClient): mqttPacket.IPublishPacket[] => c.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
/** the payloads a subscriber got, as numbers, without duplicates */
const received = (c: RawClient): number[] => [...new Set(publishes(c).map((p) => Number(String(p.payload))))];

const write = (i: number | Buffer, topic = 'sw/t'): Promise<void> =>
  listener.sink.write(createMessage({ body: Buffer.isBuffer(i) ? i : Buffer.from(String(i)), source: { connector: 'x', protocol: 'amqp091', address: 'q' } }), { topic, qos: 1 });

/**
 * A raw 3.1.1 QoS 1 subscriber to `filter` that acknowledges what it got once `ack()` is
 * called, then keeps acknowledging; returns once SUBACK arrived.
 */
async function subscriber(clientId: string, filter: string, clean = true): Promise<{ client: RawClient; ack: () => void }> {
  const c = await rawClient(port, 4, sockets);
  c.send({ cmd: 'connect', protocolVersion: 4, clientId, clean, keepalive: 60 });
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await waitFor(() => c.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  let next = 0;
  let on = false;
  timers.push(
    setInterval(() => {
      if (!on) return;
      const got = publishes(c);
      while (next < got.length) c.send({ cmd: 'puback', messageId: (got[next++] as mqttPacket.IPublishPacket).messageId as number });
    }, 2),
  );
  return { client: c, ack: () => (on = true) };
}

/** how a promise ended, without waiting for it */
function track(p: Promise<void>): { done: boolean; error: unknown } {
  const t: { done: boolean; error: unknown } = { done: false, error: undefined };
  p.then(
    () => (t.done = true),
    (e: unknown) => {
      t.done = true;
      t.error = e;
    },
  );
  return t;
}

it('a write into a connected subscriber\'s full queue waits for room: it confirms only once queued, and nothing is dropped', async () => {
  await start({ sessionQueueWaitMs: 60_000 });
  const { client, ack } = await subscriber('slow', 'sw/#');
  // 5 in flight + 20 queued: the listener holds 25 without the subscriber acknowledging
  for (let i = 0; i < 25; i++) await write(i);
  const held = [25, 26, 27].map((i) => track(write(i)));
  await waitFor(() => listener.broker?.sessionStats('slow')?.waiting === 3, 'three copies waiting for room');
  await new Promise((r) => setImmediate(r));
  expect(held.map((t) => t.done)).toEqual([false, false, false]);
  ack();
  await waitFor(() => held.every((t) => t.done), 'the held writes confirmed');
  expect(held.map((t) => t.error)).toEqual([undefined, undefined, undefined]);
  await waitFor(() => received(client).length === 28, '28 deliveries');
  expect(received(client)).toEqual(Array.from({ length: 28 }, (_, i) => i));
  expect(dropped()).toBe(0);
  expect(metrics.count('messages_sent_total', { connector: 'devices' })).toBe(28);
});

it('a subscriber that takes nothing for sessionQueueWaitMs: the waiting write fails LIMIT_EXCEEDED (transient), and so does the next at once', async () => {
  await start({ sessionQueueWaitMs: 300 });
  await subscriber('dead', 'sw/#');
  for (let i = 0; i < 25; i++) await write(i);
  const started = Date.now();
  const err = await write(25).catch((e: unknown) => e);
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  expect(err).toBeInstanceOf(FerryError);
  expect(err).toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false, details: { stalled: 1, tooLarge: 0, queued: 0 } });
  // stalled: the next copy is not held again, and not confirmed either
  const next = track(write(26));
  await new Promise((r) => setImmediate(r));
  expect(next.done).toBe(true);
  expect(next.error).toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false });
  expect(dropped()).toBe(2);
  expect(metrics.count('messages_rejected_total', { connector: 'devices', reason: 'queue-full' })).toBe(2);
  expect(metrics.count('messages_sent_total', { connector: 'devices' })).toBe(25);
});

it('sessionQueueWaitMs 0: a write into a connected subscriber\'s full queue fails at once instead of confirming', async () => {
  await start({ sessionQueueWaitMs: 0 });
  await subscriber('dead', 'sw/#');
  for (let i = 0; i < 25; i++) await write(i);
  await expect(write(25)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false });
  expect(dropped()).toBe(1);
});

it('one copy refused, another queued: the write fails, and says how many copies a retry repeats', async () => {
  await start({ sessionQueueWaitMs: 200 });
  await subscriber('dead', 'sw/#');
  const { client: live, ack } = await subscriber('live', 'sw/#');
  ack();
  for (let i = 0; i < 25; i++) await write(i);
  const err = await write(25).catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { stalled: 1, queued: 1 } });
  expect((err as Error).message).toContain('1 other subscriber(s) queued it and get it again on a retry');
  await waitFor(() => received(live).length === 26, 'the live subscriber got all 26');
});

it('a message larger than a connected subscriber\'s whole queue fails the write permanently', async () => {
  await start({ sessionQueueBytes: 1024 });
  await subscriber('small', 'sw/#');
  await expect(write(Buffer.alloc(2000))).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: true, details: { tooLarge: 1 } });
});

it('an absent persistent session queues to its limit and drops the rest, and the write confirms (Mosquitto\'s max_queued_messages)', async () => {
  await start({ sessionQueueWaitMs: 60_000 });
  const { client } = await subscriber('away', 'sw/#', false);
  client.socket.destroy();
  await waitFor(() => listener.broker?.sessionStats('away')?.connected === false, 'the subscriber gone');
  for (let i = 0; i < 30; i++) await write(i);
  expect(listener.broker?.sessionStats('away')).toMatchObject({ queued: 20, waiting: 0 });
  expect(dropped()).toBe(10);
});

it('a subscriber that leaves while writes wait: they confirm (what an absent subscriber cannot take is dropped and counted)', async () => {
  await start({ sessionQueueWaitMs: 60_000 });
  const { client } = await subscriber('leaves', 'sw/#', false);
  for (let i = 0; i < 25; i++) await write(i);
  const held = [25, 26].map((i) => write(i));
  await waitFor(() => listener.broker?.sessionStats('leaves')?.waiting === 2, 'two copies waiting');
  client.socket.destroy();
  await Promise.all(held);
  expect(dropped()).toBe(2);
});

it('the callback form the engine calls (Sink.send) reports each write exactly once: a confirm, then the held write\'s LIMIT_EXCEEDED', async () => {
  await start({ sessionQueueWaitMs: 300 });
  await subscriber('dead', 'sw/#');
  const sink = listener.sink;
  if (sink.send === undefined) throw new Error('the mqtt-listener sink has no send');
  const outcomes: (FerryError | undefined)[][] = [];
  const sendOne = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const mine: (FerryError | undefined)[] = [];
      outcomes.push(mine);
      sink.send?.(createMessage({ body: Buffer.from(String(i)), source: { connector: 'x', protocol: 'amqp091', address: 'q' } }), { topic: 'sw/t', qos: 1 }, (error) => {
        mine.push(error);
        resolve();
      });
    });
  for (let i = 0; i < 25; i++) await sendOne(i);
  await sendOne(25);
  // a second call for the same write would come by the next turn
  await new Promise((r) => setImmediate(r));
  expect(outcomes.slice(0, 25).every((o) => o.length === 1 && o[0] === undefined)).toBe(true);
  expect(outcomes[25]).toHaveLength(1);
  expect(outcomes[25]?.[0]).toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false, details: { stalled: 1, tooLarge: 0, queued: 0 } });
  expect(metrics.count('messages_sent_total', { connector: 'devices' })).toBe(25);
});
