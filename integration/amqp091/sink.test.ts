/**
 * amqp091 sink against the real RabbitMQ: a write completes on the publisher confirm; every
 * property and typed header reaches a plain consumer; unroutable and nacked publishes fail the
 * write with the right error.
 */
import type { ConsumeMessage } from 'amqplib';
import { createMessage, FerryError, TypedNumber, type GatewayMessage, type HeaderValue } from '@ferry/core';
import { createVhost, deleteVhost, waitFor, ifAssigned } from '@ferry/testkit';
import { buildConnector, parseTo, plainClient, type Built, type Plain } from './helpers.js';

import { jest } from '@jest/globals';

jest.setTimeout(30_000);

let vhost: string;
let built: Built;
let plain: Plain;

beforeAll(async () => {
  vhost = await createVhost('amqp091-sink');
  built = buildConnector(vhost, {
    topology: {
      exchanges: [{ name: 'out', type: 'topic' }],
      queues: [
        { name: 'all', durable: true },
        // RabbitMQ nacks publishes that a full reject-publish queue refuses
        { name: 'tiny', durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } },
      ],
      bindings: [
        { queue: 'all', source: 'out', bindingKey: 'all.#' },
        { queue: 'tiny', source: 'out', bindingKey: 'tiny' },
      ],
    },
  });
  await built.connector.start();
  expect(built.connector.state).toBe('up');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(built)?.connector.stop();
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

function message(body: string, init: Partial<GatewayMessage> = {}): GatewayMessage {
  return createMessage({ body: Buffer.from(body), source: { connector: 'test', protocol: 'mqtt', address: 'a/b' }, ...init });
}

async function consumeOne(queue: string): Promise<ConsumeMessage> {
  let got: ConsumeMessage | undefined;
  const { consumerTag } = await plain.ch.consume(queue, (m) => {
    if (m !== null && got === undefined) got = m;
  }, { noAck: true });
  await waitFor(() => got !== undefined, `a message on ${queue}`);
  await plain.ch.cancel(consumerTag);
  return got!;
}

test('a write resolves on the publisher confirm: the message is in the queue by then', async () => {
  await plain.ch.purgeQueue('all');
  await built.connector.sink.write(message('confirmed'), parseTo({ exchange: 'out', routingKey: 'all.one' }));
  // queue.declare-ok reports the live message count (no management-stats lag)
  const q = await plain.ch.checkQueue('all');
  expect(q.messageCount).toBe(1);
  expect(built.metrics.count('messages_sent_total')).toBeGreaterThanOrEqual(1);
  await plain.ch.purgeQueue('all');
});

test('every property and typed header arrives at a plain amqplib consumer', async () => {
  await plain.ch.purgeQueue('all');
  const headers = new Map<string, HeaderValue>([
    ['s', 'text'],
    ['i32', new TypedNumber('int', 70000)],
    ['u8', new TypedNumber('ubyte', 200)],
    ['i64', 9007199254740993n],
    ['f', new TypedNumber('float', 1.5)],
    ['d', 2.25],
    ['b', true],
    ['n', null],
    ['when', new Date(1_700_000_000_000)],
    ['bin', Buffer.from([0, 255])],
    ['arr', [1, 'x']],
    ['tbl', { k: 'v' }],
  ]);
  const now = Date.now();
  const body = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  await built.connector.sink.write(
    message('', {
      body,
      headers,
      contentType: 'application/octet-stream',
      contentEncoding: 'identity',
      messageId: 'm-1',
      correlationId: 'c-1',
      replyTo: 'replies',
      timestamp: 1_700_000_000_000,
      expiresAt: now + 600_000,
      priority: 4,
      userId: 'guest',
      meta: { amqp091: { type: 'order.created', appId: 'shop' } },
    }),
    parseTo({ exchange: 'out', routingKey: 'all.props' }),
  );
  const m = await consumeOne('all');
  expect(m.content.equals(body)).toBe(true);
  expect(m.fields.routingKey).toBe('all.props');
  const p = m.properties;
  expect(p.contentType).toBe('application/octet-stream');
  expect(p.contentEncoding).toBe('identity');
  expect(p.messageId).toBe('m-1');
  expect(p.correlationId).toBe('c-1');
  expect(p.replyTo).toBe('replies');
  expect(p.timestamp).toBe(1_700_000_000);
  expect(Number(p.expiration)).toBeGreaterThan(590_000);
  expect(Number(p.expiration)).toBeLessThanOrEqual(600_000);
  expect(p.priority).toBe(4);
  expect(p.userId).toBe('guest');
  expect(p.type).toBe('order.created');
  expect(p.appId).toBe('shop');
  expect(p.deliveryMode).toBe(2); // at-least-once → persistent
  const h = p.headers ?? {};
  expect(h.s).toBe('text');
  expect(h.i32).toBe(70000);
  expect(h.u8).toBe(200);
  expect(h.i64).toBe(9007199254740992); // amqplib decodes int64 to a JS number
  expect(h.f).toBe(1.5);
  expect(h.d).toBe(2.25);
  expect(h.b).toBe(true);
  expect(h.n).toBeNull();
  expect(h.when).toEqual({ '!': 'timestamp', value: 1_700_000_000 });
  expect(Buffer.from(h.bin as Buffer).equals(Buffer.from([0, 255]))).toBe(true);
  expect(h.arr).toEqual([1, 'x']);
  expect(h.tbl).toEqual({ k: 'v' });
  // the correlation header of mandatory publishes travels too (documented; dropped by Ferry's sources)
  expect(typeof h['x-ferry-publish-id']).toBe('string');
  // (the exact wire tags — I for int, B for ubyte, f for float — are checked against amqplib's
  // codec in packages/amqp091/src/field-table.test.ts: amqplib's decoder drops them on this side)
});

test('unroutable with mandatory: the write fails SINK_UNROUTABLE (permanent) and is not counted as sent', async () => {
  const sentBefore = built.metrics.count('messages_sent_total');
  const err = await built.connector.sink.write(message('nowhere'), parseTo({ exchange: 'out', routingKey: 'nobody.listens' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'SINK_UNROUTABLE')).toBe(true);
  expect((err as FerryError).permanent).toBe(true);
  expect(built.metrics.count('messages_sent_total')).toBe(sentBefore);
  // default exchange, no such queue: the same
  const err2 = await built.connector.sink.write(message('nowhere'), parseTo({ exchange: '', routingKey: 'no-such-queue' })).catch((e: unknown) => e);
  expect(FerryError.is(err2, 'SINK_UNROUTABLE')).toBe(true);
  // and the publisher keeps working afterwards
  await plain.ch.purgeQueue('all');
  await built.connector.sink.write(message('after'), parseTo({ exchange: 'out', routingKey: 'all.after' }));
  expect((await plain.ch.checkQueue('all')).messageCount).toBe(1);
});

test('mandatory false: an unroutable publish is confirmed and dropped by the broker', async () => {
  await expect(built.connector.sink.write(message('dropped'), parseTo({ exchange: 'out', routingKey: 'nobody', mandatory: false }))).resolves.toBeUndefined();
});

test('a missing exchange fails only that write (permanent), other writes keep flowing', async () => {
  const err = await built.connector.sink.write(message('x'), parseTo({ exchange: 'no-such-exchange', routingKey: 'k' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'SINK_UNROUTABLE')).toBe(true);
  expect((err as FerryError).permanent).toBe(true);
  expect(built.connector.state).toBe('up');
  await built.connector.sink.write(message('still'), parseTo({ exchange: 'out', routingKey: 'all.still' }));
});

test('a nacked publish fails the write: SINK_REJECTED, transient', async () => {
  await plain.ch.purgeQueue('tiny');
  await built.connector.sink.write(message('fits'), parseTo({ exchange: 'out', routingKey: 'tiny' }));
  const err = await built.connector.sink.write(message('overflow'), parseTo({ exchange: 'out', routingKey: 'tiny' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'SINK_REJECTED')).toBe(true);
  expect((err as FerryError).permanent).toBe(false);
  expect((await plain.ch.checkQueue('tiny')).messageCount).toBe(1);
});

test('an expired message is dropped and counted, never published', async () => {
  await plain.ch.purgeQueue('all');
  await built.connector.sink.write(message('old', { expiresAt: Date.now() - 1 }), parseTo({ exchange: 'out', routingKey: 'all.old' }));
  expect(built.metrics.count('messages_dropped_total', { reason: 'expired' })).toBe(1);
  expect((await plain.ch.checkQueue('all')).messageCount).toBe(0);
});

test('many concurrent writes all confirm; a plain consumer counts each once', async () => {
  await plain.ch.purgeQueue('all');
  const n = 2000;
  await Promise.all(
    Array.from({ length: n }, (_, i) => built.connector.sink.write(message(`m${i}`), parseTo({ exchange: 'out', routingKey: `all.${i % 7}` }))),
  );
  expect((await plain.ch.checkQueue('all')).messageCount).toBe(n);
});

test('not connected: a write fails fast with NOT_CONNECTED (transient)', async () => {
  const other = buildConnector(vhost);
  const err = await other.connector.sink.write(message('x'), parseTo({ exchange: '', routingKey: 'all' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'NOT_CONNECTED')).toBe(true);
  expect((err as FerryError).permanent).toBe(false);
});
