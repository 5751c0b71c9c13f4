/**
 * amqp10 (client) against the REAL RabbitMQ 3.10 amqp1_0 plugin, in a throw-away vhost.
 */
import { inspect } from 'node:util';
import { jest } from '@jest/globals';
import amqplib from 'amqplib';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import { createMessage, FerryError, TypedNumber, type HeaderValue, type InboundDelivery } from '@ferry/core';
import { amqp10Definition, type Amqp10Client } from '@ferry/amqp10';
import { brokerPorts, createVhost, deleteVhost, rabbitUrl, Tally, TcpProxy, testContext, waitFor, type LogLine, ifAssigned } from '@ferry/testkit';
import { ManualFlow } from './helpers.js';

jest.setTimeout(60_000);


let vhost: string;
let amqp: amqplib.ChannelModel;
let ch: amqplib.Channel;

beforeAll(async () => {
  vhost = await createVhost('amqp10');
  amqp = await amqplib.connect(rabbitUrl(vhost), { noDelay: true });
  amqp.on('error', () => undefined);
  ch = await amqp.createChannel();
});

afterAll(async () => {
  await ifAssigned(amqp)?.close().catch(() => undefined);
  await deleteVhost(vhost);
});

function client(lines: LogLine[] = [], extra: Record<string, unknown> = {}): Amqp10Client {
  const options = amqp10Definition.options.parse({
    url: `amqp://guest:guest@127.0.0.1:${brokerPorts().rabbitAmqp}`,
    hostname: `vhost:${vhost}`,
    reconnect: { initialMs: 100, maxMs: 500 },
    ...extra,
  });
  return amqp10Definition.create(testContext(lines), `c${Math.floor(Math.random() * 1e6)}`, options) as Amqp10Client;
}

function message(id: string, body: Buffer, headers: [string, HeaderValue][] = []) {
  return createMessage({ body, messageId: id, contentType: 'application/octet-stream', headers: new Map(headers), source: { connector: 'test', protocol: 'mqtt', address: 'a/b' } });
}

/** The message sent behind the counted ones, not counted itself. */
const LAST = 'last';

/**
 * Sends LAST to `q` once every counted message arrived, and waits until `seen` says it came: the
 * queue hands out in order and puts a requeued message back at its head, so a copy of an earlier
 * one (a redelivery) would have come before it.
 */
async function last(q: string, seen: () => boolean): Promise<void> {
  ch.sendToQueue(q, Buffer.from(LAST), { messageId: LAST });
  await waitFor(seen, 'the last message, behind the counted ones');
}

describe('amqp10 sink → RabbitMQ', () => {
  it('delivers a data section with the exact bytes to a 0-9-1 consumer; 200 counted', async () => {
    const q = 'sink-bytes';
    await ch.assertQueue(q, { durable: false });
    const lines: LogLine[] = [];
    const c = client(lines);
    await c.start();
    await c.start(); // idempotent
    expect(c.state).toBe('up');
    const tally = new Tally();
    const seen: amqplib.ConsumeMessage[] = [];
    await ch.consume(q, (m) => {
      if (m === null) return;
      seen.push(m);
      tally.received(String(m.properties.messageId));
      ch.ack(m);
    });
    const bodies = new Map<string, Buffer>();
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const id = `m${i}`;
        // every byte value, including what would look like AMQP encoding
        const body = Buffer.from([0x00, 0x53, 0x77, 0xa1, i & 0xff, 0xff, 0x00, ...Buffer.from(id)]);
        bodies.set(id, body);
        tally.sent(id);
        await c.sink.write(message(id, body, [['k', 'v'], ['n', new TypedNumber('int', i)]]), { address: `/amq/queue/${q}` });
      }),
    );
    await waitFor(() => tally.complete, 'all 200 messages at the 0-9-1 consumer');
    console.log(tally.summary('amqp10 sink → RabbitMQ'));
    expect(tally.counts).toMatchObject({ sent: 200, lost: 0, duplicated: 0, unexpected: 0 });
    for (const m of seen) expect(m.content.equals(bodies.get(String(m.properties.messageId)) as Buffer)).toBe(true);
    const first = seen[0] as amqplib.ConsumeMessage;
    // what RabbitMQ 3.10 maps (recorded in docs/mapping/amqp10.md)
    console.log('RabbitMQ 0-9-1 view of an AMQP 1.0 message:', JSON.stringify({ properties: first.properties, fields: first.fields }, (_k, v: unknown) => (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? `<binary ${Buffer.from((v as { data: number[] }).data).toString('hex')}>` : v)));
    expect(first.properties.contentType).toBe('application/octet-stream');
    expect(first.properties.deliveryMode).toBe(2); // durable: true
    // application-properties are not 0-9-1 headers but one AMQP-encoded binary header
    // (RabbitMQ sends it as a long string, which amqplib decodes as UTF-8 text)
    const appProps: unknown = first.properties.headers?.['x-amqp-1.0-app-properties'];
    expect(typeof appProps === 'string' || Buffer.isBuffer(appProps)).toBe(true);
    expect(first.properties.headers?.k).toBeUndefined();
    await c.stop();
    await c.stop(); // idempotent
    expect(c.state).toBe('stopped');
    expect(lines.filter((l) => /amqp10 (connecting|connected|stopping|stopped)/.test(l.message)).map((l) => l.message.split(' ').slice(0, 2).join(' '))).toEqual([
      'amqp10 connecting',
      'amqp10 connected',
      'amqp10 stopping',
      'amqp10 stopped',
    ]);
  });

  it('forwards a received AMQP 1.0 message as received; RabbitMQ 3.10 keeps the values and their types (ubyte, short)', async () => {
    const q = 'sink-passthrough';
    await ch.assertQueue(q, { durable: false });
    const c = client();
    await c.start();
    // a message exactly as a rhea client would have sent it, received by Ferry from AMQP 1.0
    const { toGatewayMessage, installCapture, encodedMessage } = await import('@ferry/amqp10');
    installCapture();
    const encoded = rhea.message.encode({
      message_id: 'pt-1',
      application_properties: { u8: rhea.types.wrap_ubyte(7), i16: rhea.types.wrap_short(-2) },
      body: dataSection(Buffer.from('payload')),
    });
    const m = toGatewayMessage(encoded, { connector: 'other', address: 'x', presettled: false, format: 0 });
    await c.sink.write(m, { address: `/amq/queue/${q}` });
    // read it back over AMQP 1.0 and compare the application-properties section bytes
    const got = await new Promise<Buffer>((resolve) => {
      const r = rhea.create_container();
      r.on('error', () => undefined);
      const conn = r.connect({ host: '127.0.0.1', port: brokerPorts().rabbitAmqp, username: 'guest', password: 'guest', hostname: `vhost:${vhost}`, reconnect: false });
      conn.on('error', () => undefined);
      const rc = conn.open_receiver({ source: { address: `/amq/queue/${q}` } });
      rc.on('message', (ctx: rhea.EventContext) => {
        // the bytes RabbitMQ sent, not rhea's re-encoding of what it decoded (which loses the
        // types: an earlier version of this test re-encoded and saw ubyte → uint, short → int)
        const raw = encodedMessage(ctx.message);
        if (raw === undefined) throw new Error('the encoded message was not captured');
        resolve(raw);
        conn.close();
      });
    });
    const back = toGatewayMessage(got, { connector: 'x', address: 'x', presettled: false, format: 0 });
    expect(back.body.toString()).toBe('payload');
    console.log('application properties after a trip through RabbitMQ 3.10:', [...back.headers].map(([k, v]) => `${k}=${v instanceof TypedNumber ? `${v.type}:${String(v.value)}` : inspect(v)}`).join(' '));
    // RabbitMQ 3.10 keeps each AMQP 1.0 type (recorded in docs/mapping/amqp10.md)
    expect(back.headers.get('u8')).toEqual(new TypedNumber('ubyte', 7));
    expect(back.headers.get('i16')).toEqual(new TypedNumber('short', -2));
    await c.stop();
  });

  it('fails a write permanently when RabbitMQ refuses the address, without harming other addresses', async () => {
    const q = 'sink-ok';
    await ch.assertQueue(q, { durable: false });
    const c = client();
    await c.start();
    const bad = c.sink.write(message('bad', Buffer.from('x')), { address: '/exchange/no-such-exchange/rk' });
    const good = c.sink.write(message('good', Buffer.from('y')), { address: `/amq/queue/${q}` });
    await expect(bad).rejects.toMatchObject({ code: 'SINK_UNROUTABLE', permanent: true, details: { condition: 'amqp:not-found' } });
    await expect(good).resolves.toBeUndefined();
    await c.stop();
  });

  it('rejects writes with NOT_CONNECTED when not connected', async () => {
    const c = client();
    await expect(c.sink.write(message('x', Buffer.from('x')), { address: '/amq/queue/x' })).rejects.toMatchObject({ code: 'NOT_CONNECTED', permanent: false });
  });
});

describe('RabbitMQ → amqp10 source', () => {
  it('receives a queue, counted, and the queue is empty only after every accept', async () => {
    const q = 'src-count';
    await ch.assertQueue(q, { durable: false });
    const tally = new Tally();
    const cc = await amqp.createConfirmChannel();
    for (let i = 0; i < 500; i++) {
      tally.sent(`s${i}`);
      cc.sendToQueue(q, Buffer.from(`body-${i}`), { messageId: `s${i}` });
    }
    await cc.waitForConfirms();
    const c = client([], { credit: 50 });
    await c.start();
    const held: InboundDelivery[] = [];
    let lastSeen = false;
    await c.openSources([{ route: 'r1', from: { address: `/amq/queue/${q}` } }], (d) => {
      expect(d.routes).toEqual(['r1']);
      if (d.message.messageId === LAST) {
        lastSeen = true;
        d.settlement.accept();
        return;
      }
      expect(d.message.body.toString()).toBe(`body-${String(d.message.messageId).slice(1)}`);
      tally.received(String(d.message.messageId));
      held.push(d);
    });
    // credit is the window: with settlements held, at most `credit` deliveries arrive
    await waitFor(() => held.length === 50, '50 deliveries');
    // bounded, as no event exists: with no credit left, the absence of a 51st delivery signals nothing
    await new Promise((r) => setTimeout(r, 300));
    expect(held.length).toBe(50);
    // the other 450 are still ready in the queue (the 50 are unacknowledged, not gone)
    expect((await ch.checkQueue(q)).messageCount).toBe(450);
    // settle as they come from now on
    for (const d of held.splice(0)) d.settlement.accept();
    await waitFor(() => {
      for (const d of held.splice(0)) d.settlement.accept();
      return tally.complete;
    }, 'all 500 received', 20_000);
    await last(q, () => lastSeen);
    console.log(tally.summary('RabbitMQ → amqp10 source'));
    expect(tally.counts).toMatchObject({ sent: 500, received: 500, lost: 0, duplicated: 0 });
    await c.closeSources();
    await c.stop();
    // after the connection closed, anything not accepted would be ready again
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
  });

  it('reject goes to the dead-letter queue, release is redelivered', async () => {
    const q = 'src-settle';
    await ch.assertQueue('src-settle-dlq', { durable: false });
    await ch.assertQueue(q, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'src-settle-dlq' } });
    ch.sendToQueue(q, Buffer.from('r'), { messageId: 'reject-me' });
    ch.sendToQueue(q, Buffer.from('l'), { messageId: 'release-me' });
    const c = client();
    await c.start();
    const seen: string[] = [];
    await c.openSources([{ route: 'r', from: { address: `/amq/queue/${q}` } }], (d) => {
      const id = String(d.message.messageId);
      seen.push(id);
      if (process.env.FERRY_TEST_LOG === '1') console.log('delivery', id);
      if (id === 'reject-me') d.settlement.reject(new FerryError('SINK_REJECTED', 'refused downstream', { permanent: true }));
      else if (seen.filter((x) => x === id).length === 1) d.settlement.release(new FerryError('SINK_TIMEOUT', 'try later'));
      else d.settlement.accept();
    });
    await waitFor(() => seen.filter((x) => x === 'release-me').length === 2, 'the released message redelivered');
    await waitFor(async () => (await ch.checkQueue('src-settle-dlq')).messageCount === 1, 'dead-lettered');
    await c.stop();
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    const dl = await ch.get('src-settle-dlq', { noAck: true });
    expect(dl && dl.properties.messageId).toBe('reject-me');
    expect(seen.filter((x) => x === 'reject-me')).toHaveLength(1);
    expect((await ch.checkQueue('src-settle-dlq')).messageCount).toBe(0);
  });
});

describe('flow control (backpressure) of the amqp10 source', () => {
  async function fill(q: string, n: number, tally: Tally, tag: string): Promise<void> {
    await ch.assertQueue(q, { durable: false });
    const cc = await amqp.createConfirmChannel();
    for (let i = 0; i < n; i++) {
      tally.sent(`${tag}${i}`);
      cc.sendToQueue(q, Buffer.from(`${tag}-${i}`), { messageId: `${tag}${i}` });
    }
    await cc.waitForConfirms();
    await cc.close();
  }

  it('paused: settlements give no credit back, RabbitMQ keeps the rest; resumed: all arrive, 0 lost', async () => {
    const q = 'flow-pause';
    const N = 300;
    const CREDIT = 20;
    const tally = new Tally();
    await fill(q, N, tally, 'p');
    const flow = new ManualFlow();
    const c = client([], { credit: CREDIT });
    await c.start();
    const held: InboundDelivery[] = [];
    let settleAtOnce = false;
    let lastSeen = false;
    await c.openSources([{ route: 'r', from: { address: `/amq/queue/${q}` } }], (d) => {
      if (d.message.messageId === LAST) {
        lastSeen = true;
        d.settlement.accept();
        return;
      }
      tally.received(String(d.message.messageId));
      if (settleAtOnce) d.settlement.accept();
      else held.push(d);
    }, flow);
    expect(flow.listeners).toBe(1);
    await waitFor(() => held.length === CREDIT, `${CREDIT} deliveries (the credit)`);

    flow.set(true);
    // settling while paused still settles (RabbitMQ acks them) but grants no new credit
    for (const d of held) d.settlement.accept();
    await waitFor(async () => (await ch.checkQueue(q)).messageCount === N - CREDIT, 'the 20 accepted at RabbitMQ');
    // bounded, as no event exists: paused, the link has no credit, and no delivery is no signal
    await new Promise((r) => setTimeout(r, 400));
    const whilePaused = tally.counts.received;
    const ready = (await ch.checkQueue(q)).messageCount;
    console.log(`amqp10 source paused after ${CREDIT} deliveries: ${whilePaused} delivered in all, ${ready} still ready at RabbitMQ`);
    expect(whilePaused).toBe(CREDIT);
    expect(ready).toBe(N - CREDIT);

    settleAtOnce = true;
    flow.set(false);
    await waitFor(() => tally.complete, 'all after resume', 20_000);
    await last(q, () => lastSeen);
    console.log(tally.summary('RabbitMQ → amqp10 source, paused and resumed'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, lost: 0, duplicated: 0, unexpected: 0 });
    await c.closeSources();
    expect(flow.listeners).toBe(0);
    await c.stop();
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
  });

  it('a link attached while paused starts with no credit, also after a reconnect; resumed: all arrive, 0 lost', async () => {
    const q = 'flow-attach-paused';
    const N = 200;
    const tally = new Tally();
    await fill(q, N, tally, 'a');
    const flow = new ManualFlow(true);
    const lines: LogLine[] = [];
    const proxy = new TcpProxy(brokerPorts().rabbitAmqp);
    await proxy.start();
    const c = client(lines, { credit: 50, url: `amqp://guest:guest@127.0.0.1:${proxy.port}` });
    await c.start();
    let lastSeen = false;
    await c.openSources([{ route: 'r', from: { address: `/amq/queue/${q}` } }], (d) => {
      if (d.message.messageId === LAST) lastSeen = true;
      else tally.received(String(d.message.messageId));
      d.settlement.accept();
    }, flow);
    await waitFor(() => lines.some((l) => l.message.includes('amqp10 receiving from')), 'the link attached');
    // bounded, as no event exists: paused, the link has no credit, and no delivery is no signal
    await new Promise((r) => setTimeout(r, 400));
    expect(tally.counts.received).toBe(0);
    expect((await ch.checkQueue(q)).messageCount).toBe(N);
    // the connection drops while paused: the re-attached link must not bring fresh credit
    expect(proxy.cut('reset')).toBeGreaterThan(0); // RST, as a failed network or a crashed peer
    await waitFor(() => lines.filter((l) => l.message.includes('amqp10 receiving from')).length === 2, 'the link re-attached');
    // bounded, as no event exists: paused, the link has no credit, and no delivery is no signal
    await new Promise((r) => setTimeout(r, 400));
    expect(tally.counts.received).toBe(0);
    flow.set(false);
    await waitFor(() => tally.complete, 'all after resume', 20_000);
    await last(q, () => lastSeen);
    console.log(tally.summary('RabbitMQ → amqp10 source attached while paused, reconnected, resumed'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, lost: 0, duplicated: 0, unexpected: 0 });
    await c.closeSources();
    await c.stop();
    await proxy.stop();
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
  });
});

describe('a failure at the far side is not accepted upstream', () => {
  it('RabbitMQ refusing the destination dead-letters the source message instead of acknowledging it', async () => {
    const a = 'chain-a';
    await ch.assertQueue('chain-dlq', { durable: false });
    await ch.assertQueue(a, { durable: false, arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'chain-dlq' } });
    await ch.assertQueue('chain-b', { durable: false });
    ch.sendToQueue(a, Buffer.from('to-nowhere'), { messageId: 'n1' });
    ch.sendToQueue(a, Buffer.from('to-b'), { messageId: 'b1' });
    const c = client();
    await c.start();
    const errors: string[] = [];
    let settled = 0;
    await c.openSources([{ route: 'r', from: { address: `/amq/queue/${a}` } }], (d) => {
      const to = d.message.messageId === 'n1' ? '/exchange/missing-exchange/rk' : '/amq/queue/chain-b';
      c.sink.write(d.message, { address: to }).then(
        () => {
          d.settlement.accept();
          settled++;
        },
        (e: unknown) => {
          const err = e instanceof FerryError ? e : new FerryError('INTERNAL', String(e));
          errors.push(err.code);
          d.settlement.fail(err);
          settled++;
        },
      );
    });
    await waitFor(async () => (await ch.checkQueue('chain-dlq')).messageCount === 1 && (await ch.checkQueue('chain-b')).messageCount === 1, 'n1 dead-lettered, b1 forwarded');
    // b1 is in chain-b before its write resolves (RabbitMQ enqueues, then settles to Ferry): a stop
    // before the source's accept would leave b1 unacked, back in chain-a
    await waitFor(() => settled === 2, 'both source deliveries settled');
    await c.stop();
    expect((await ch.checkQueue(a)).messageCount).toBe(0);
    expect(errors).toEqual(['SINK_UNROUTABLE']);
    const dl = await ch.get('chain-dlq', { noAck: true });
    expect(dl && dl.properties.messageId).toBe('n1');
    expect(dl && (dl.properties.headers?.['x-death'] as { reason: string }[])[0]?.reason).toBe('rejected');
  });
});

describe('reconnect', () => {
  it('survives the broker closing the connection mid-stream: 0 lost', async () => {
    const a = 'rc-a';
    const b = 'rc-b';
    await ch.assertQueue(a, { durable: false });
    await ch.assertQueue(b, { durable: false });
    const tally = new Tally();
    const cc = await amqp.createConfirmChannel();
    for (let i = 0; i < 1000; i++) {
      tally.sent(`r${i}`);
      cc.sendToQueue(a, Buffer.from(`x${i}`), { messageId: `r${i}` });
    }
    await cc.waitForConfirms();
    await ch.consume(b, (m) => {
      if (m === null) return;
      tally.received(String(m.properties.messageId));
      ch.ack(m);
    });
    const lines: LogLine[] = [];
    const proxy = new TcpProxy(brokerPorts().rabbitAmqp);
    await proxy.start();
    const c = client(lines, { credit: 100, url: `amqp://guest:guest@127.0.0.1:${proxy.port}` });
    await c.start();
    let forwarded = 0;
    await c.openSources([{ route: 'r', from: { address: `/amq/queue/${a}` } }], (d) => {
      c.sink.write(d.message, { address: `/amq/queue/${b}` }).then(
        () => {
          forwarded++;
          d.settlement.accept();
        },
        (e: unknown) => d.settlement.fail(e instanceof FerryError ? e : new FerryError('INTERNAL', String(e))),
      );
    });
    await waitFor(() => forwarded >= 200, '200 forwarded');
    // the network drops Ferry's AMQP 1.0 connection mid-stream
    expect(proxy.cut('reset')).toBeGreaterThan(0); // RST, as a failed network or a crashed peer
    await waitFor(() => lines.some((l) => l.message.includes('connection down, reconnecting')), 'the down line');
    await waitFor(() => tally.complete, 'all 1000 through after the reconnect', 40_000);
    console.log(tally.summary('RabbitMQ → amqp10 → amqp10 → RabbitMQ across a forced reconnect'));
    expect(tally.counts.lost).toBe(0);
    expect(tally.counts.unexpected).toBe(0);
    expect(lines.filter((l) => l.message.includes('amqp10 connected')).length).toBeGreaterThanOrEqual(2);
    await c.closeSources();
    await c.stop();
    await proxy.stop();
  });
});
