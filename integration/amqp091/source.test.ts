/**
 * amqp091 sources against the real RabbitMQ: settlement (ack, nack to a DLX, requeue), the
 * prefetch window, exchange + bindingKey sources, and the mapping of a delivery.
 */
import { jest } from '@jest/globals';
import { FerryError, type InboundDelivery } from '@ferry/core';
import { compilePattern } from '@ferry/router';
import { amqp091Definition } from '@ferry/amqp091';
import { createVhost, deleteVhost, delay, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { buildConnector, parseFrom, plainClient, publishMany, type Built, type Plain } from './helpers.js';

jest.setTimeout(30_000);

let vhost: string;
let plain: Plain;
const started: Built[] = [];

beforeAll(async () => {
  vhost = await createVhost('amqp091-src');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  for (const b of started) await b.connector.stop();
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

const topology = {
  exchanges: [{ name: 'dlx', type: 'fanout' }],
  queues: [
    { name: 'dead', durable: true },
    { name: 'work', durable: true, arguments: { 'x-dead-letter-exchange': 'dlx' } },
  ],
  bindings: [{ queue: 'dead', source: 'dlx', bindingKey: '' }],
};

async function startWith(options: Record<string, unknown>, routes: { route: string; from: Record<string, unknown> }[], deliver: (d: InboundDelivery) => void): Promise<Built> {
  const b = buildConnector(vhost, options);
  started.push(b);
  await b.connector.start();
  expect(b.connector.state).toBe('up');
  await b.connector.openSources!(routes.map((r) => ({ route: r.route, from: parseFrom(r.from) })), deliver);
  return b;
}

async function stopAll(): Promise<void> {
  while (started.length > 0) await started.pop()!.connector.stop();
}

afterEach(async () => {
  await stopAll();
  // each test starts from empty queues (the prefetch test leaves messages behind on purpose)
  await plain.ch.purgeQueue('work').catch(() => undefined);
});

test('accept → basic.ack: every message consumed once, the queue empty after', async () => {
  const tally = new Tally();
  const ids = Array.from({ length: 500 }, (_, i) => `a${i}`);
  ids.forEach((id) => tally.sent(id));
  const routesSeen = new Set<string>();
  await startWith({ topology }, [{ route: 'r1', from: { queue: 'work' } }], (d) => {
    tally.received(d.message.messageId ?? '?');
    d.routes?.forEach((r) => routesSeen.add(r));
    d.settlement.accept();
  });
  await publishMany(plain.confirm, 'work', ids);
  await waitFor(() => tally.complete, 'all messages');
  console.log(tally.summary('accept'));
  await stopAll();
  expect(tally.counts).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
  expect([...routesSeen]).toEqual(['r1']);
  const q = await plain.ch.checkQueue('work');
  expect(q.messageCount).toBe(0);
});

test('a delivery maps to the canonical message (body bytes, properties, meta)', async () => {
  let got: InboundDelivery | undefined;
  await startWith({ topology }, [{ route: 'r1', from: { queue: 'work' } }], (d) => {
    got ??= d;
    d.settlement.accept();
  });
  const body = Buffer.from([0xff, 0, 0x80]);
  plain.ch.sendToQueue('work', body, {
    headers: { n: 5, when: { '!': 'timestamp', value: 1_700_000_000 } },
    contentType: 'application/x-bin',
    messageId: 'id-1',
    timestamp: 1_700_000_000,
    expiration: '60000',
    priority: 3,
    type: 't',
    appId: 'app',
    persistent: false,
  });
  await waitFor(() => got !== undefined, 'the delivery');
  const m = got!.message;
  expect(m.body.equals(body)).toBe(true);
  expect(m.source).toEqual({ connector: expect.any(String) as unknown, protocol: 'amqp091', address: 'work' });
  expect(m.headers.get('n')).toBe(5);
  expect(m.headers.get('when')).toEqual(new Date(1_700_000_000_000));
  expect(m.contentType).toBe('application/x-bin');
  expect(m.timestamp).toBe(1_700_000_000_000);
  expect(m.expiresAt).toBeGreaterThan(Date.now());
  expect(m.priority).toBe(3);
  expect(m.meta.amqp091).toMatchObject({ exchange: '', routingKey: 'work', redelivered: false, deliveryMode: 1, type: 't', appId: 'app', queue: 'work' });
});

test('reject → basic.nack requeue=false: the message is dead-lettered to the DLX queue', async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
  await plain.ch.purgeQueue('dead');
  let seen = 0;
  await startWith({ topology }, [{ route: 'r1', from: { queue: 'work' } }], (d) => {
    seen++;
    d.settlement.reject(new FerryError('SINK_UNROUTABLE', 'test reject', { permanent: true }));
  });
  await publishMany(plain.confirm, 'work', ids);
  await waitFor(async () => (await plain.ch.checkQueue('dead')).messageCount === ids.length, 'all dead-lettered');
  expect(seen).toBe(ids.length); // never redelivered
  expect((await plain.ch.checkQueue('work')).messageCount).toBe(0);
  const m = await plain.ch.get('dead', { noAck: true });
  expect(m !== false && Array.isArray(m.properties.headers?.['x-death'])).toBe(true);
  await plain.ch.purgeQueue('dead');
});

test('release → basic.nack requeue=true: redelivered, with meta.amqp091.redelivered', async () => {
  const seen: boolean[] = [];
  await startWith({ topology }, [{ route: 'r1', from: { queue: 'work' } }], (d) => {
    seen.push(d.message.meta.amqp091?.redelivered === true);
    if (seen.length === 1) d.settlement.release(new FerryError('NOT_CONNECTED', 'try later'));
    else d.settlement.accept();
  });
  await publishMany(plain.confirm, 'work', ['again']);
  await waitFor(() => seen.length === 2, 'the redelivery');
  expect(seen).toEqual([false, true]);
  await waitFor(async () => (await plain.ch.checkQueue('work')).messageCount === 0, 'queue empty');
});

test('prefetch is honoured: with settlements held, no more than `prefetch` outstanding', async () => {
  const held: InboundDelivery[] = [];
  await startWith({ topology, prefetch: 7 }, [{ route: 'r1', from: { queue: 'work' } }], (d) => held.push(d));
  await publishMany(plain.confirm, 'work', Array.from({ length: 50 }, (_, i) => `p${i}`));
  await waitFor(() => held.length === 7, '7 deliveries');
  // bounded, as no event exists: with the window full, the absence of an 8th delivery signals nothing
  await delay(300);
  expect(held.length).toBe(7);
  // settling frees exactly that many slots
  held.splice(0, 3).forEach((d) => d.settlement.accept());
  await waitFor(() => held.length === 7, 'refill to 7');
  // bounded, as no event exists: the window is full again, and no delivery is no signal
  await delay(200);
  expect(held.length).toBe(7);
  held.splice(0).forEach((d) => d.settlement.accept());
});

test('exchange + bindingKey: Ferry declares and binds its durable queue; {n} come from the binding key', async () => {
  const from = parseFrom({ exchange: 'events', bindingKey: 'site.*.temp.#' });
  const routes: string[][] = [];
  const captures: string[][][] = [];
  const bodies: string[] = [];
  const pattern = compilePattern('amqp', amqp091Definition.sourcePattern(from)!);
  await startWith(
    { topology: { exchanges: [{ name: 'events', type: 'topic' }] } },
    [{ route: 'temps', from: { exchange: 'events', bindingKey: 'site.*.temp.#' } }],
    (d) => {
      routes.push([...(d.routes ?? [])]);
      bodies.push(d.message.body.toString());
      captures.push(pattern.match(d.message.source.address) ?? []);
      d.settlement.accept();
    },
  );
  // the queue exists, is durable and bound: a publish to the exchange reaches it
  const q = await plain.ch.checkQueue('ferry.itest.temps');
  expect(q.consumerCount).toBe(1);
  plain.ch.publish('events', 'site.lisbon.temp.room.1', Buffer.from('21.5'));
  plain.ch.publish('events', 'site.porto.humidity', Buffer.from('no'));
  await waitFor(() => routes.length === 1, 'the matching message');
  // a fence published after them on the same channel reaches the queue after anything before it
  plain.ch.publish('events', 'site.fence.temp', Buffer.from('fence'));
  await waitFor(() => bodies.includes('fence'), 'the fence');
  expect(bodies).toEqual(['21.5', 'fence']);
  expect(routes).toEqual([['temps'], ['temps']]);
  expect(captures[0]).toEqual([['lisbon'], ['room', '1']]);
});

test('two routes on the same queue share one consumer and both are named', async () => {
  const seen: string[][] = [];
  await startWith(
    { topology },
    [
      { route: 'a', from: { queue: 'work' } },
      { route: 'b', from: { queue: 'work' } },
    ],
    (d) => {
      seen.push([...(d.routes ?? [])]);
      d.settlement.accept();
    },
  );
  expect((await plain.ch.checkQueue('work')).consumerCount).toBe(1);
  await publishMany(plain.confirm, 'work', ['shared']);
  await waitFor(() => seen.length === 1, 'the delivery');
  expect(seen).toEqual([['a', 'b']]);
});

test('closeSources cancels the consumer; held messages go back to the queue on stop', async () => {
  const held: InboundDelivery[] = [];
  const b = await startWith({ topology }, [{ route: 'r1', from: { queue: 'work' } }], (d) => held.push(d));
  await publishMany(plain.confirm, 'work', ['h1', 'h2', 'h3']);
  await waitFor(() => held.length === 3, 'three held');
  await b.connector.closeSources!();
  expect((await plain.ch.checkQueue('work')).consumerCount).toBe(0);
  // an in-flight message can still be settled after closeSources
  held[0]!.settlement.accept();
  await b.connector.stop();
  await b.connector.stop(); // idempotent
  expect(b.connector.state).toBe('stopped');
  // settling after stop is a no-op, not a crash
  held[1]!.settlement.accept();
  const q = await plain.ch.checkQueue('work');
  expect(q.messageCount).toBe(2);
  await plain.ch.purgeQueue('work');
});
