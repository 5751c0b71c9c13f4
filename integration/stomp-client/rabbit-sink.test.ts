/**
 * The `stomp` connector as a sink, against RabbitMQ's STOMP plugin: a write resolves only on its
 * RECEIPT, bodies stay bytes, headers cannot inject, a refused SEND fails alone and the
 * connector recovers, and a lost connection fails its waiting writes at once.
 */
import { jest } from '@jest/globals';
import { FerryError, createMessage, type GatewayMessage } from '@ferry/core';
import { brokerPorts, createVhost, deleteVhost, waitFor, type TcpProxy, ifAssigned } from '@ferry/testkit';
import type { ConsumeMessage } from 'amqplib';
import { buildConnector, parseTo, plainAmqp, rabbitOptions, startProxy, uniq, type Built, type Plain } from './helpers.js';

jest.setTimeout(30_000);

let vhost: string;
let plain: Plain;
const started: Built[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  vhost = await createVhost('stomp-sink');
  plain = await plainAmqp(vhost);
});

afterAll(async () => {
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

afterEach(async () => {
  while (started.length > 0) await started.pop()!.connector.stop();
  while (proxies.length > 0) await proxies.pop()!.stop();
});

async function startWith(options: Record<string, unknown> = {}): Promise<Built> {
  const b = buildConnector({ ...rabbitOptions(vhost), ...options });
  started.push(b);
  await b.connector.start();
  return b;
}

function msg(body: Buffer, init: Partial<GatewayMessage> = {}): GatewayMessage {
  return createMessage({ body, source: { connector: 'test', protocol: 'mqtt', address: 'a/b' }, ...init });
}

/** Consume `queue` with amqplib into an array (auto-ack). */
async function collect(queue: string): Promise<ConsumeMessage[]> {
  const got: ConsumeMessage[] = [];
  await plain.ch.consume(queue, (m) => m && got.push(m), { noAck: true });
  return got;
}

test('SEND to /amq/queue/<q> resolves only after the RECEIPT, and the message is in the queue by then', async () => {
  const q = uniq('sink-q');
  await plain.ch.assertQueue(q, { durable: false });
  const proxy = await startProxy(brokerPorts().rabbitStomp);
  proxies.push(proxy);
  // No heart-beats: holding the broker's bytes must not look like a dead broker here.
  const b = await startWith({ ...rabbitOptions(vhost, proxy.port), heartBeat: { outgoingMs: 0, incomingMs: 0 } });
  expect(b.connector.state).toBe('up');

  proxy.holdDownstream(); // the broker's RECEIPT cannot reach the connector
  let resolved = false;
  const w = b.connector.sink.write(msg(Buffer.from('hello')), parseTo({ destination: `/amq/queue/${q}` })).then(() => {
    resolved = true;
  });
  // The broker has the message (it is counted in the queue) but the RECEIPT is held. No wait
  // beyond that: a write resolved on sending would have resolved before RabbitMQ counted the
  // message, and while the proxy holds the broker's bytes nothing else reaches the connector.
  await waitFor(async () => (await plain.ch.checkQueue(q)).messageCount === 1, 'the message in the queue');
  expect(resolved).toBe(false);
  proxy.release();
  await w;
  expect(resolved).toBe(true);
  expect(b.metrics.count('messages_sent_total')).toBe(1);
});

test('a message that expired before the SEND is dropped and counted, never sent; one with time left goes with what remains', async () => {
  const q = uniq('sink-expired');
  await plain.ch.assertQueue(q, { durable: false });
  const b = await startWith();
  const to = parseTo({ destination: `/amq/queue/${q}` });
  await b.connector.sink.write(msg(Buffer.from('late'), { expiresAt: Date.now() - 1 }), to);
  await b.connector.sink.write(msg(Buffer.from('in time'), { expiresAt: Date.now() + 60_000 }), to);
  const got = await collect(q);
  // 'late' was written first, on the same connection: had it been sent, it would have come first
  await waitFor(() => got.length === 1, 'the message with time left');
  expect(got.map((m) => m.content.toString())).toEqual(['in time']);
  expect(Number(got[0]!.properties.expiration)).toBeGreaterThan(59_000);
  expect(Number(got[0]!.properties.expiration)).toBeLessThanOrEqual(60_000);
  expect(b.metrics.count('messages_dropped_total', { reason: 'expired' })).toBe(1);
  expect(b.metrics.count('messages_sent_total')).toBe(1);
});

test('SEND to /exchange/amq.topic/<rk> reaches a bound queue; binary bodies with NUL survive byte for byte', async () => {
  const q = uniq('sink-topic');
  const rk = uniq('rk').replace(/-/g, '.');
  await plain.ch.assertQueue(q, { durable: false });
  await plain.ch.bindQueue(q, 'amq.topic', rk);
  const got = await collect(q);
  const b = await startWith();

  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const bodies = [
    Buffer.from([0, 0, 0]),
    Buffer.from('\u0000CONNECT\n\n\u0000'),
    all,
    Buffer.alloc(0),
    Buffer.concat([Buffer.from('\n\nMESSAGE\ndestination:/queue/x\n\n'), Buffer.from([0, 0xff, 0xfe])]),
    Buffer.alloc(300_000, 0),
  ];
  for (const body of bodies) await b.connector.sink.write(msg(body), parseTo({ destination: `/exchange/amq.topic/${rk}` }));
  await waitFor(() => got.length === bodies.length, 'every message');
  expect(got.map((m) => m.content.toString('hex'))).toEqual(bodies.map((x) => x.toString('hex')));
});

test('headers with `:`, newlines, backslashes and spaces arrive intact as AMQP headers; canonical fields map to properties', async () => {
  const q = uniq('sink-headers');
  await plain.ch.assertQueue(q, { durable: false });
  const got = await collect(q);
  const b = await startWith();
  const headers = new Map<string, import('@ferry/core').HeaderValue>([
    ['colon', 'a:b:c'],
    ['newline', 'line1\nline2\r\nline3'],
    ['inject', 'x\ndestination:/queue/evil\n\nbody'],
    ['backslash', 'C:\\new\\reports\\c'],
    ['spaces', '  padded  '],
    ['nul', 'a\u0000b'],
    ['name:with\ncolon', 'v'],
    ['number', 42],
    ['binary', new Uint8Array([1, 2, 3])],
    // reserved: would be a queue argument to RabbitMQ / a broker-interpreted header
    ['x-max-length', 1],
    ['destination', '/queue/evil'],
    ['content-length', '5'],
  ]);
  await b.connector.sink.write(
    msg(Buffer.from('payload'), {
      headers,
      contentType: 'application/octet-stream',
      correlationId: 'corr-1',
      replyTo: '/queue/replies',
      messageId: 'mid-1',
      priority: 5,
      expiresAt: Date.now() + 60_000,
    }),
    parseTo({ destination: `/amq/queue/${q}` }),
  );
  await waitFor(() => got.length === 1, 'the message');
  const m = got[0]!;
  expect(m.content.toString()).toBe('payload');
  const h = m.properties.headers ?? {};
  expect(h.colon).toBe('a:b:c');
  expect(h.newline).toBe('line1\nline2\r\nline3');
  expect(h.inject).toBe('x\ndestination:/queue/evil\n\nbody');
  expect(h.backslash).toBe('C:\\new\\reports\\c');
  expect(h.spaces).toBe('  padded  ');
  expect(h.nul).toBe('ab');
  expect(h['name:with\ncolon']).toBe('v');
  expect(h.number).toBe('42');
  expect(h.binary).toBe(Buffer.from([1, 2, 3]).toString('base64'));
  expect(h['x-max-length']).toBeUndefined();
  expect(h.destination).toBeUndefined();
  expect(h.evil).toBeUndefined();
  expect(m.properties.contentType).toBe('application/octet-stream');
  expect(m.properties.correlationId).toBe('corr-1');
  expect(m.properties.replyTo).toBe('/queue/replies');
  expect(m.properties.messageId).toBe('mid-1');
  expect(m.properties.priority).toBe(5);
  expect(m.properties.deliveryMode).toBe(2); // at-least-once → persistent
  const ttl = Number(m.properties.expiration);
  expect(ttl).toBeGreaterThan(50_000);
  expect(ttl).toBeLessThanOrEqual(60_000);
  // nothing leaked into another queue
  expect((await plain.ch.assertQueue('evil', { durable: false })).messageCount).toBe(0);
  await plain.ch.deleteQueue('evil');
});

test('an ERROR for a SEND fails that write permanently; the connector reconnects and the next write succeeds', async () => {
  const q = uniq('sink-after-error');
  await plain.ch.assertQueue(q, { durable: false });
  const got = await collect(q);
  const b = await startWith();
  const ok = parseTo({ destination: `/amq/queue/${q}` });
  await b.connector.sink.write(msg(Buffer.from('before')), ok);

  // RabbitMQ 3.10 answers a SEND to a missing exchange with ERROR not_found (without a
  // receipt-id) and closes the connection.
  const err = await b.connector.sink.write(msg(Buffer.from('lost')), parseTo({ destination: `/exchange/${uniq('no-such-exchange')}/rk` })).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(FerryError);
  expect((err as FerryError).code).toBe('SINK_REJECTED');
  expect((err as FerryError).permanent).toBe(true);
  expect((err as FerryError).message).toMatch(/not_found|no exchange/i);

  await waitFor(() => b.connector.state === 'up' && b.metrics.count('connector_reconnects_total') >= 1, 'reconnected');
  await b.connector.sink.write(msg(Buffer.from('after')), ok);
  await waitFor(() => got.length === 2, 'both good messages');
  expect(got.map((m) => m.content.toString())).toEqual(['before', 'after']);
  expect(b.logger.lines.some((l) => l.level === 'warn' && l.message.includes('lost: ERROR from the broker'))).toBe(true);
});

test('a destination RabbitMQ can never take is refused before sending; the connection stays up', async () => {
  const b = await startWith();
  const err = await b.connector.sink.write(msg(Buffer.from('x')), parseTo({ destination: '/bogus/x' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'SINK_REJECTED')).toBe(true);
  expect((err as FerryError).permanent).toBe(true);
  expect(b.connector.state).toBe('up');
  expect(b.metrics.count('connector_reconnects_total')).toBe(0);
});

test('no RECEIPT within receiptTimeoutMs → SINK_TIMEOUT (transient)', async () => {
  const q = uniq('sink-timeout');
  await plain.ch.assertQueue(q, { durable: false });
  const proxy = await startProxy(brokerPorts().rabbitStomp);
  proxies.push(proxy);
  const b = await startWith({ ...rabbitOptions(vhost, proxy.port), heartBeat: { outgoingMs: 0, incomingMs: 0 }, receiptTimeoutMs: 300 });
  proxy.holdDownstream();
  const err = await b.connector.sink.write(msg(Buffer.from('slow')), parseTo({ destination: `/amq/queue/${q}` })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'SINK_TIMEOUT')).toBe(true);
  expect((err as FerryError).permanent).toBe(false);
  proxy.release();
});

test('the connection lost with RECEIPTs pending: those writes fail at once, transiently (no hang)', async () => {
  const q = uniq('sink-lost');
  await plain.ch.assertQueue(q, { durable: false });
  const proxy = await startProxy(brokerPorts().rabbitStomp);
  proxies.push(proxy);
  const b = await startWith({ ...rabbitOptions(vhost, proxy.port), heartBeat: { outgoingMs: 0, incomingMs: 0 }, receiptTimeoutMs: 20_000 });
  proxy.holdDownstream();
  const writes = Array.from({ length: 20 }, (_, i) => b.connector.sink.write(msg(Buffer.from(`m${i}`)), parseTo({ destination: `/amq/queue/${q}` })).then(() => 'ok', (e: unknown) => e));
  // every SEND reached the broker; only the RECEIPTs are held
  await waitFor(async () => (await plain.ch.checkQueue(q)).messageCount === 20, 'the 20 messages in the queue');
  const t0 = Date.now();
  proxy.cut();
  proxy.release(); // the cut dropped what was held; stop holding so the reconnect gets through
  const results = await Promise.all(writes);
  const waited = Date.now() - t0;
  for (const r of results) {
    expect(r).toBeInstanceOf(FerryError);
    expect((r as FerryError).code).toBe('SINK_CLOSED');
    expect((r as FerryError).permanent).toBe(false);
  }
  // they failed on the connection loss, not on the 20 s receipt timeout
  expect(waited).toBeLessThan(10_000);
  await waitFor(() => b.connector.state === 'up', 'reconnected');
});

test('heart-beats: a silent broker is detected, the connection dropped and re-made', async () => {
  const proxy = await startProxy(brokerPorts().rabbitStomp);
  proxies.push(proxy);
  const b = await startWith({ ...rabbitOptions(vhost, proxy.port), heartBeat: { outgoingMs: 200, incomingMs: 200 } });
  expect(b.connector.state).toBe('up');
  proxy.holdDownstream(); // no byte from the broker any more: no heart-beats either
  await waitFor(() => b.logger.lines.some((l) => l.level === 'warn' && l.message.includes('no heart-beat from the broker')), 'heart-beat loss detected', 10_000);
  expect(b.connector.state).not.toBe('up');
  proxy.release();
  await waitFor(() => b.connector.state === 'up', 'reconnected', 10_000);
  expect(proxy.accepted).toBeGreaterThanOrEqual(2);
});

test('not connected → NOT_CONNECTED (transient); start() resolves with the connector down', async () => {
  const closed = await startProxy(1); // a port where nothing answers behind the proxy
  proxies.push(closed);
  const b = await startWith({ url: `stomp://127.0.0.1:${closed.port}` });
  expect(b.connector.state).not.toBe('up');
  const err = await b.connector.sink.write(msg(Buffer.from('x')), parseTo({ destination: '/queue/x' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'NOT_CONNECTED')).toBe(true);
  expect((err as FerryError).permanent).toBe(false);
  expect(b.logger.lines.some((l) => l.level === 'warn' && /failed: .*retrying in/.test(l.message))).toBe(true);
});

test('start and stop are idempotent', async () => {
  const b = buildConnector(rabbitOptions(vhost));
  await Promise.all([b.connector.start(), b.connector.start()]);
  expect(b.connector.state).toBe('up');
  await Promise.all([b.connector.stop(), b.connector.stop()]);
  await b.connector.stop();
  expect(b.connector.state).toBe('stopped');
  const err = await b.connector.sink.write(msg(Buffer.from('x')), parseTo({ destination: '/queue/x' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'NOT_CONNECTED')).toBe(true);
});
