/**
 * amqp10-listener: real rhea clients over TCP against Ferry's embedded AMQP 1.0 endpoint.
 */
import { jest } from '@jest/globals';
import { connect as tcpConnect } from 'node:net';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import { createMessage, FerryError, type InboundDelivery } from '@ferry/core';
import { amqp10ListenerDefinition, encodedMessage, installCapture, parseMessage, type Amqp10Listener } from '@ferry/amqp10';
import { RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { ManualFlow, client, openReceiver, openSender, outcomes } from './helpers.js';

jest.setTimeout(60_000);

async function listener(options: Record<string, unknown> = {}, lines: LogLine[] = [], metrics = new RecordingMetrics()): Promise<Amqp10Listener> {
  const opts = amqp10ListenerDefinition.options.parse({ port: 0, host: '127.0.0.1', anonymous: true, ...options });
  const l = amqp10ListenerDefinition.create(testContext(lines, metrics), 'devices', opts) as Amqp10Listener;
  await l.start();
  return l;
}

const typedMessage = (i: number): Buffer => {
  const t = rhea.types;
  return rhea.message.encode({
    message_id: `typed-${i}`,
    content_type: 'application/octet-stream',
    application_properties: {
      u8: t.wrap_ubyte(250),
      i16: t.wrap_short(-300),
      i32: t.wrap_int(100_000),
      i64: t.wrap_long(-1),
      ts: t.wrap_timestamp(1_700_000_000_000),
      bin: t.wrap_binary(Buffer.from([0, 0xff, 0x10])),
    },
    body: dataSection(Buffer.from([i & 0xff, 0, 0xff])),
  });
};

beforeAll(() => installCapture());

describe('amqp10-listener', () => {
  it('client → listener → route → listener → client keeps every type and byte; accepted only after the far client accepted', async () => {
    const l = await listener();
    const port = l.port as number;
    await l.openSources([{ route: 'relay', from: { address: 'in' } }], (d: InboundDelivery) => {
      l.sink.write(d.message, { address: 'out' }).then(
        () => d.settlement.accept(),
        (e: unknown) => d.settlement.fail(e instanceof FerryError ? e : new FerryError('INTERNAL', String(e))),
      );
    });
    const producer = await client(port);
    const consumer = await client(port);
    const received: { bytes: Buffer; delivery: rhea.Delivery }[] = [];
    const r = await openReceiver(consumer, 'out', { autoaccept: false });
    r.on('message', (ctx: rhea.EventContext) => {
      const bytes = encodedMessage(ctx.message);
      if (bytes !== undefined && ctx.delivery !== undefined) received.push({ bytes, delivery: ctx.delivery });
    });
    const s = await openSender(producer, 'in');
    const seen = outcomes(s);
    const sent = typedMessage(1);
    const d = s.send(sent, undefined, 0);
    await waitFor(() => received.length === 1, 'the message at the far client');
    const got = received[0] as { bytes: Buffer; delivery: rhea.Delivery };
    expect(got.bytes.equals(sent)).toBe(true);
    const types = Object.fromEntries((parseMessage(got.bytes).applicationProperties ?? []).map(([k, v]) => [k, v.type]));
    expect(types).toEqual({ u8: 'ubyte', i16: 'short', i32: 'int', i64: 'long', ts: 'timestamp', bin: 'binary' });
    // the far client has not settled: the producer has no outcome yet. The listener writes to a
    // connection in order: an outcome sent up to now would come before the attach answering a
    // link opened now.
    await openSender(producer, 'in');
    expect(seen.get(d.id)).toBeUndefined();
    got.delivery.accept();
    await waitFor(() => seen.get(d.id) === 'accepted', 'accepted at the producer');
    await producer.close();
    await consumer.close();
    await l.stop();
    await l.stop();
    expect(l.state).toBe('stopped');
  });

  it('gives a client sender credit only as settlements complete', async () => {
    const l = await listener({ credit: 5 });
    const held: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'telemetry.#' } }], (d) => held.push(d));
    const producer = await client(l.port as number);
    const s = await openSender(producer, 'telemetry.a.b');
    const seen = outcomes(s);
    const credits: number[] = [];
    s.on('sender_flow', () => credits.push((s as rhea.Sender & { credit: number }).credit));
    for (let i = 0; i < 20; i++) s.send(typedMessage(i), undefined, 0);
    await waitFor(() => held.length === 5, '5 deliveries');
    // no more credit: a flow frame the listener sent up to now would come before the attach
    // answering a link opened now (it writes to a connection in order)
    await openSender(producer, 'telemetry.a.b');
    expect(held.length).toBe(5);
    expect(Math.max(...credits)).toBeLessThanOrEqual(5);
    expect((s as rhea.Sender & { credit: number }).credit).toBe(0);
    expect(held[0]?.message.source.address).toBe('telemetry.a.b');
    expect(held[0]?.routes).toEqual(['r']);
    (held[0] as InboundDelivery).settlement.accept();
    await waitFor(() => held.length === 6, 'one more after one settlement');
    await openSender(producer, 'telemetry.a.b');
    expect(held.length).toBe(6);
    expect((s as rhea.Sender & { credit: number }).credit).toBe(0);
    await waitFor(() => {
      for (const h of held) h.settlement.accept();
      return held.length === 20;
    }, 'all 20');
    for (const h of held) h.settlement.accept();
    await waitFor(() => [...seen.values()].filter((x) => x === 'accepted').length === 20, '20 accepted');
    expect(Math.max(...credits)).toBeLessThanOrEqual(5);
    await producer.close();
    await l.stop();
  });

  it('a client that sends past its credit has the link detached with amqp:link:transfer-limit-exceeded (§2.6.7); the transfers over it are not taken and nothing is printed', async () => {
    const lines: LogLine[] = [];
    const l = await listener({ credit: 3 }, lines);
    const held: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => held.push(d));
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const producer = await client(l.port as number);
      const s = await openSender(producer, 'in');
      const closed = new Promise<unknown>((resolve) => s.once('sender_close', () => resolve(s.error)));
      // this rhea sender is told it has 10 credits where Ferry granted 3: it sends all 10
      (s as rhea.Sender & { credit: number }).credit = 10;
      for (let i = 0; i < 10; i++) s.send(typedMessage(i), undefined, 0);
      expect(await closed).toMatchObject({ condition: 'amqp:link:transfer-limit-exceeded' });
      expect(held.length).toBe(3);
      expect(printed).not.toHaveBeenCalled();
      expect(lines.filter((x) => x.message.includes('without link credit'))).toHaveLength(1);
      await producer.close();
    } finally {
      printed.mockRestore();
      await l.stop();
    }
  });

  it('settles each transfer with its own outcome, even when different outcomes complete in one tick', async () => {
    const l = await listener();
    const batch: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
      batch.push(d);
      if (batch.length === 4) {
        // all four in the same tick: accept, reject, release, accept
        (batch[0] as InboundDelivery).settlement.accept();
        (batch[1] as InboundDelivery).settlement.reject(new FerryError('SINK_REJECTED', 'no', { permanent: true }));
        (batch[2] as InboundDelivery).settlement.release(new FerryError('SINK_TIMEOUT', 'later'));
        (batch[3] as InboundDelivery).settlement.accept();
      }
    });
    const producer = await client(l.port as number);
    const s = await openSender(producer, 'in');
    const seen = outcomes(s);
    const ids = [0, 1, 2, 3].map((i) => s.send(typedMessage(i), undefined, 0).id);
    await waitFor(() => seen.size === 4, 'four outcomes');
    expect(ids.map((id) => seen.get(id))).toEqual(['accepted', 'rejected amqp:not-allowed', 'released', 'accepted']);
    await producer.close();
    await l.stop();
  });

  it('refuses a sending link to an address no route takes', async () => {
    const l = await listener();
    await l.openSources([{ route: 'r', from: { address: 'in' } }], () => undefined);
    const producer = await client(l.port as number);
    // §2.6.3: the refusal is an attach with a null target followed by a detach with the error
    const s = producer.conn.open_sender({ target: { address: 'elsewhere' } });
    const closed = await new Promise<{ target: unknown; error: unknown }>((resolve) => s.once('sender_close', () => resolve({ target: s.target, error: s.error })));
    expect((closed.target as { address?: unknown } | null | undefined)?.address).toBeUndefined();
    expect(closed.error).toMatchObject({ condition: 'amqp:not-found' });
    await producer.close();
    await l.stop();
  });

  describe('flow control (backpressure)', () => {
    const credit = (s: rhea.Sender): number => (s as rhea.Sender & { credit: number }).credit;

    it('paused: settlements still reach the client but give no credit back; resumed: all arrive, 0 lost', async () => {
      const CREDIT = 5;
      const N = 60;
      const l = await listener({ credit: CREDIT });
      const flow = new ManualFlow();
      const held: InboundDelivery[] = [];
      const tally = new Tally();
      let settleAtOnce = false;
      await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
        tally.received(String(d.message.messageId));
        if (settleAtOnce) d.settlement.accept();
        else held.push(d);
      }, flow);
      expect(flow.listeners).toBe(1);
      const producer = await client(l.port as number);
      const s = await openSender(producer, 'in');
      const seen = outcomes(s);
      for (let i = 0; i < N; i++) {
        tally.sent(`typed-${i}`);
        s.send(typedMessage(i), undefined, 0);
      }
      await waitFor(() => held.length === CREDIT, `${CREDIT} deliveries (the credit)`);
      flow.set(true);
      for (const d of held) d.settlement.accept();
      // the dispositions go out while paused (a paused source keeps settling)...
      await waitFor(() => seen.size === CREDIT, 'the accepts at the client while paused');
      // ...but no credit comes with them: the client holds the other 55. A flow frame the
      // listener sent up to now would come before the attach answering a link opened now.
      await openSender(producer, 'in');
      console.log(`amqp10-listener paused: ${tally.counts.received} of ${N} in Ferry, client credit ${credit(s)}, ${seen.size} accepted`);
      expect(tally.counts.received).toBe(CREDIT);
      expect(credit(s)).toBe(0);
      expect(s.sendable()).toBe(false);

      settleAtOnce = true;
      flow.set(false);
      await waitFor(() => tally.complete && seen.size === N, 'all after resume, all accepted');
      console.log(tally.summary('client → amqp10-listener, paused and resumed'));
      expect(tally.counts).toMatchObject({ sent: N, received: N, lost: 0, duplicated: 0, unexpected: 0 });
      expect([...seen.values()].every((x) => x === 'accepted')).toBe(true);
      await l.closeSources();
      expect(flow.listeners).toBe(0);
      await producer.close();
      await l.stop();
    });

    it('a sending link attached while paused gets no credit until resume; Ferry\'s own sends on that connection still confirm', async () => {
      const l = await listener({ credit: 7 });
      const flow = new ManualFlow(true);
      const tally = new Tally();
      await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
        tally.received(String(d.message.messageId));
        d.settlement.accept();
      }, flow);
      const peer = await client(l.port as number);
      const s = await openSender(peer, 'in');
      const seen = outcomes(s);
      // no credit while paused: a flow frame the listener sent would come before the attach
      // answering a link opened now (it writes to a connection in order)
      await openSender(peer, 'in');
      expect(credit(s)).toBe(0);
      // the same connection also receives from Ferry: its accept must get through while paused
      // (Ferry keeps reading the socket), or a route writing here could never resume
      const r = await openReceiver(peer, 'back');
      const back: string[] = [];
      r.on('message', (ctx: rhea.EventContext) => back.push(String(ctx.message?.message_id)));
      const { createMessage } = await import('@ferry/core');
      await expect(l.sink.write(createMessage({ body: Buffer.from('own'), messageId: 'own-1', source: { connector: 'x', protocol: 'mqtt', address: 'a' } }), { address: 'back' })).resolves.toBeUndefined();
      expect(back).toEqual(['own-1']);
      expect(credit(s)).toBe(0);

      flow.set(false);
      await waitFor(() => credit(s) === 7, 'the credit on resume');
      for (let i = 0; i < 20; i++) {
        tally.sent(`typed-${i}`);
        s.send(typedMessage(i), undefined, 0);
      }
      // 20 messages through a window of 7: credit keeps coming back as they settle
      await waitFor(() => tally.complete && seen.size === 20, 'all 20 accepted');
      console.log(tally.summary('client attached to a paused amqp10-listener, resumed'));
      expect(tally.counts).toMatchObject({ sent: 20, received: 20, lost: 0, duplicated: 0 });
      await peer.close();
      await l.stop();
    });
  });

  describe('sink: the listener is a broker (a write is confirmed once the listener took the message)', () => {
    const m = (id: string) => createMessage({ body: Buffer.from(id), messageId: id, source: { connector: 'x', protocol: 'mqtt', address: 'a' } });
    const settledState = async <T>(p: Promise<T> | undefined): Promise<string> => {
      const tag = await Promise.race([
        (p as Promise<T>).then(
          () => 'resolved',
          (e: unknown) => `rejected ${(e as FerryError).code}`,
        ),
        new Promise<string>((r) => setTimeout(() => r('pending'), 300)),
      ]);
      return tag;
    };
    const ids = (r: rhea.Receiver): { id: string; delivery: rhea.Delivery }[] => {
      const got: { id: string; delivery: rhea.Delivery }[] = [];
      r.on('message', (ctx: rhea.EventContext) => {
        if (ctx.delivery !== undefined) got.push({ id: String(ctx.message?.message_id), delivery: ctx.delivery });
      });
      return got;
    };

    it('with no receiver, writes resolve once queued (bounded: LIMIT_EXCEEDED when full); a receiver attaching later gets them in order', async () => {
      const l = await listener({ queueBufferMessages: 3 });
      await expect(l.sink.write(m('w1'), { address: 'later' })).resolves.toBeUndefined();
      await expect(l.sink.write(m('w2'), { address: 'later' })).resolves.toBeUndefined();
      await expect(l.sink.write(m('w3'), { address: 'later' })).resolves.toBeUndefined();
      await expect(l.sink.write(m('w4'), { address: 'later' })).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED', permanent: false });
      // other addresses have their own queue
      await expect(l.sink.write(m('x1'), { address: 'other' })).resolves.toBeUndefined();
      const consumer = await client(l.port as number);
      const r = await openReceiver(consumer, 'later');
      const got = ids(r);
      await waitFor(() => got.length === 3, 'the three queued messages');
      expect(got.map((g) => g.id)).toEqual(['w1', 'w2', 'w3']);
      // the queue has room again
      await waitFor(() => got.every((g) => g.delivery.remote_settled || g.delivery.settled), 'auto-accepted');
      await consumer.close();
      await l.stop();
    });

    it('expiry counts down in the queue: an expired write is dropped at once, one that expires while queued is dropped at delivery, the rest leave with the ttl left (§3.2.1)', async () => {
      const metrics = new RecordingMetrics();
      const l = await listener({}, [], metrics);
      const t0 = Date.now();
      const late = { ...m('late'), expiresAt: t0 - 1 };
      const short = { ...m('short'), expiresAt: t0 + 150 };
      const long = { ...m('long'), expiresAt: t0 + 60_000 };
      for (const x of [late, short, long]) await expect(l.sink.write(x, { address: 'ttl' })).resolves.toBeUndefined();
      // the clock is the premise ('short' expires in the queue), and no event marks that: a bounded wait
      await new Promise((r) => setTimeout(r, 400));
      const consumer = await client(l.port as number);
      const r = await openReceiver(consumer, 'ttl');
      const got: { id: string; ttl: number | undefined; at: number }[] = [];
      r.on('message', (ctx: rhea.EventContext) => got.push({ id: String(ctx.message?.message_id), ttl: ctx.message?.ttl, at: Date.now() }));
      // 'late' and 'short' were queued before it: delivered, either would have come first
      await waitFor(() => got.length === 1, "'long' at the receiver");
      expect(got.map((g) => g.id)).toEqual(['long']);
      // the ttl is what was left when the transfer left: at most 60 s minus the 400 ms it waited
      expect(got[0]!.ttl).toBeLessThanOrEqual(60_000 - 400);
      expect(got[0]!.ttl).toBeGreaterThan(60_000 - (got[0]!.at - t0) - 1);
      expect(metrics.count('messages_dropped_total', { connector: 'devices', reason: 'expired' })).toBe(2);
      await consumer.close();
      await l.stop();
    });

    it('with a receiver attached, a write resolves only after its accept; its reject fails the write permanently', async () => {
      const l = await listener();
      const consumer = await client(l.port as number);
      const r = await openReceiver(consumer, 'now', { autoaccept: false });
      const got = ids(r);
      const w1 = l.sink.write(m('a1'), { address: 'now' });
      await waitFor(() => got.length === 1, 'a1 at the receiver');
      expect(await settledState(w1)).toBe('pending');
      got[0]?.delivery.accept();
      await expect(w1).resolves.toBeUndefined();
      const w2 = l.sink.write(m('a2'), { address: 'now' });
      await waitFor(() => got.length === 2, 'a2 at the receiver');
      got[1]?.delivery.reject({ condition: 'amqp:not-allowed', description: 'no' });
      await expect(w2).rejects.toMatchObject({ code: 'SINK_REJECTED', permanent: true });
      await consumer.close();
      await l.stop();
    });

    it('released by one receiver goes to the next; with one receiver it comes back to it, first in line', async () => {
      const l = await listener();
      const c1 = await client(l.port as number);
      const r1 = await openReceiver(c1, 'rr', { autoaccept: false });
      const got1 = ids(r1);
      const c2 = await client(l.port as number);
      const r2 = await openReceiver(c2, 'rr', { autoaccept: false, credit_window: 0 });
      const got2 = ids(r2);
      // r2 has no credit yet: the write goes to r1, which releases it; then r2 can take it
      const w = l.sink.write(m('b1'), { address: 'rr' });
      await waitFor(() => got1.length === 1, 'b1 at r1');
      r2.add_credit(1);
      got1[0]?.delivery.release();
      await waitFor(() => got2.length === 1, 'b1 at r2 after the release');
      expect(got2[0]?.id).toBe('b1');
      expect(got1).toHaveLength(1);
      expect(await settledState(w)).toBe('pending');
      got2[0]?.delivery.accept();
      await expect(w).resolves.toBeUndefined();
      await c2.close();
      await c1.close();

      // one receiver with credit 1: a released queued message comes back ahead of the others
      const q = ['q1', 'q2', 'q3'];
      for (const id of q) await l.sink.write(m(id), { address: 'solo' });
      const c3 = await client(l.port as number);
      const r3 = await openReceiver(c3, 'solo', { autoaccept: false, credit_window: 0 });
      const got3 = ids(r3);
      r3.add_credit(1);
      await waitFor(() => got3.length === 1, 'q1');
      got3[0]?.delivery.release();
      // the credit must not overtake the release (rhea may write the flow first)
      await waitFor(() => l.queued('solo') === 3, 'q1 back in the queue');
      r3.add_credit(1);
      await waitFor(() => got3.length === 2, 'the next one');
      expect(got3.map((g) => g.id)).toEqual(['q1', 'q1']);
      got3[1]?.delivery.accept();
      r3.add_credit(5);
      await waitFor(() => got3.length === 4, 'the rest');
      expect(got3.map((g) => g.id)).toEqual(['q1', 'q1', 'q2', 'q3']);
      await c3.close();
      await l.stop();
    });

    it('a queued message a receiver rejects is dropped, counted and logged; unsettled ones of a receiver that goes away are requeued', async () => {
      const metrics = new RecordingMetrics();
      const lines: LogLine[] = [];
      const l = await listener({}, lines, metrics);
      for (const id of ['d1', 'd2', 'd3', 'd4']) await l.sink.write(m(id), { address: 'drop' });
      const c1 = await client(l.port as number);
      const r1 = await openReceiver(c1, 'drop', { autoaccept: false });
      const got1 = ids(r1);
      await waitFor(() => got1.length === 4, 'the four queued messages');
      got1[0]?.delivery.reject({ condition: 'amqp:not-allowed', description: 'poison' });
      await waitFor(() => (metrics.count('messages_dropped_total', { connector: 'devices', reason: 'rejected-by-receiver' })) === 1, 'the drop counted');
      // not in the same tick as the reject: the client's rhea would merge both into 'rejected'
      // (rhea 3.0.5 merges them; packages/amqp10/src/disposition-writer.ts)
      got1[1]?.delivery.accept();
      await waitFor(() => (metrics.count('messages_sent_total', { connector: 'devices' })) === 1, 'd2 accepted');
      expect(lines.some((x) => x.level === 'warn' && x.message.includes('dropped a queued message') && x.fields.messageId === 'd1')).toBe(true);
      // d3 and d4 are unsettled when the client goes away: a broker requeues them
      await c1.close();
      const c2 = await client(l.port as number);
      const r2 = await openReceiver(c2, 'drop');
      const got2 = ids(r2);
      // one more queued after them: a requeued d1 or d2 would be delivered before it
      await l.sink.write(m('d5'), { address: 'drop' });
      await waitFor(() => got2.length === 3, 'd3 and d4 again, then d5');
      expect(got2.map((g) => g.id)).toEqual(['d3', 'd4', 'd5']);
      expect(metrics.count('messages_dropped_total', { connector: 'devices', reason: 'rejected-by-receiver' })).toBe(1);
      await c2.close();
      await l.stop();
    });

    it('a write waiting on a receiver that goes away is confirmed once it is back in the queue, and delivered later', async () => {
      const l = await listener();
      const c1 = await client(l.port as number);
      const r1 = await openReceiver(c1, 'gone', { autoaccept: false });
      const got1 = ids(r1);
      const w = l.sink.write(m('g1'), { address: 'gone' });
      await waitFor(() => got1.length === 1, 'g1 at r1');
      expect(await settledState(w)).toBe('pending');
      await c1.close();
      await expect(w).resolves.toBeUndefined();
      const c2 = await client(l.port as number);
      const got2 = ids(await openReceiver(c2, 'gone'));
      await waitFor(() => got2.length === 1, 'g1 at the next receiver');
      expect(got2[0]?.id).toBe('g1');
      await c2.close();
      await l.stop();
    });
  });

  it('a client receiver asking for settled mode gets pre-settled transfers; the write resolves when sent', async () => {
    const l = await listener();
    const { createMessage } = await import('@ferry/core');
    const consumer = await client(l.port as number);
    const got: { settled: boolean; id: string }[] = [];
    const r = await openReceiver(consumer, 'fire', { autoaccept: false, snd_settle_mode: 1 });
    r.on('message', (ctx: rhea.EventContext) => got.push({ settled: ctx.delivery?.remote_settled === true, id: String(ctx.message?.message_id) }));
    await l.sink.write(createMessage({ body: Buffer.from('x'), messageId: 'p1', source: { connector: 'x', protocol: 'mqtt', address: 'a' } }), { address: 'fire' });
    await waitFor(() => got.length === 1, 'the transfer');
    expect(got).toEqual([{ settled: true, id: 'p1' }]);
    await consumer.close();
    await l.stop();
  });

  it('garbage on the wire closes only that connection, with an AMQP close carrying the error', async () => {
    const lines: LogLine[] = [];
    const l = await listener({}, lines);
    const port = l.port as number;
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => d.settlement.accept());
    const good = await client(port);
    const s = await openSender(good, 'in');
    const seen = outcomes(s);
    for (const garbage of [
      Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]), // a 3.7 GB frame header
      Buffer.from([0, 0, 0, 16, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff]), // an open of junk
    ]) {
      const reply = await new Promise<Buffer>((resolve) => {
        const sock = tcpConnect({ port, host: '127.0.0.1' }, () => {
          sock.write(Buffer.from('AMQP\x00\x01\x00\x00', 'binary'));
          sock.write(garbage);
        });
        const chunks: Buffer[] = [];
        sock.on('data', (c: Buffer) => chunks.push(c));
        sock.on('error', () => undefined);
        sock.on('close', () => resolve(Buffer.concat(chunks)));
      });
      // header, then frames: the last one is a close (0x18) with an error
      expect(reply.subarray(0, 8).toString('binary')).toBe('AMQP\x00\x01\x00\x00');
      const text = reply.toString('latin1');
      expect(reply.includes(Buffer.from([0x00, 0x53, 0x18]))).toBe(true);
      expect(/amqp:(connection:framing-error|decode-error)/.test(text)).toBe(true);
    }
    // the other connection still works
    const d = s.send(typedMessage(9), undefined, 0);
    await waitFor(() => seen.get(d.id) === 'accepted', 'the good client still served');
    expect(l.state).toBe('up');
    expect(lines.filter((x) => x.message.includes('protocol violation')).length).toBe(2);
    await good.close();
    await l.stop();
  });

  it('a message over maxMessageBytes closes that connection with amqp:link:message-size-exceeded', async () => {
    const l = await listener({ maxMessageBytes: 1000, maxFrameSize: 512 });
    const held: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => held.push(d));
    const producer = await client(l.port as number);
    const s = await openSender(producer, 'in');
    // split over several 512-byte transfer frames: the sum is what counts
    s.send(rhea.message.encode({ body: dataSection(Buffer.alloc(2000, 1)) }), undefined, 0);
    await waitFor(() => producer.errors.some((e) => e.includes('amqp:link:message-size-exceeded')), 'the close with the error');
    expect(held).toHaveLength(0);
    expect(l.state).toBe('up');
    await l.stop();
  });

  it('SASL PLAIN: right password in, wrong password out', async () => {
    const l = await listener({ users: [{ username: 'dev', password: 's3cret' }], anonymous: false });
    const ok = await client(l.port as number, { username: 'dev', password: 's3cret' });
    await ok.close();
    await expect(client(l.port as number, { username: 'dev', password: 'wrong' })).rejects.toThrow();
    await expect(client(l.port as number)).rejects.toThrow();
    await l.stop();
  });

  it('1,000 messages client → listener → listener → client: 0 lost, 0 duplicated', async () => {
    const l = await listener({ credit: 100 });
    await l.openSources([{ route: 'relay', from: { address: 'in' } }], (d) => {
      l.sink.write(d.message, { address: 'out' }).then(
        () => d.settlement.accept(),
        (e: unknown) => d.settlement.fail(e instanceof FerryError ? e : new FerryError('INTERNAL', String(e))),
      );
    });
    const tally = new Tally();
    const consumer = await client(l.port as number);
    const r = await openReceiver(consumer, 'out');
    r.on('message', (ctx: rhea.EventContext) => tally.received(String(ctx.message?.message_id)));
    const producer = await client(l.port as number);
    const s = await openSender(producer, 'in');
    const seen = outcomes(s);
    let i = 0;
    const pump = (): void => {
      while (i < 1000 && s.sendable()) {
        tally.sent(`typed-${i}`);
        s.send(typedMessage(i++), undefined, 0);
      }
    };
    s.on('sendable', pump);
    pump();
    await waitFor(() => tally.complete && seen.size === 1000, 'all 1000 through and settled', 30_000);
    console.log(tally.summary('amqp10 client → listener → listener → client'));
    expect(tally.counts).toMatchObject({ sent: 1000, received: 1000, lost: 0, duplicated: 0, unexpected: 0 });
    expect([...seen.values()].every((x) => x === 'accepted')).toBe(true);
    await producer.close();
    await consumer.close();
    await l.stop();
  });
});
