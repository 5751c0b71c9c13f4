/**
 * AMQP 1.0 end to end through RabbitMQ's AMQP 1.0 plugin, with Ferry reaching RabbitMQ through
 * its `amqp10` connector (amqp10-rabbit.test.ts does it through `amqp091`). Clients that are
 * not Ferry's code: rhea (AMQP 1.0) and amqplib (AMQP 0-9-1), against the real RabbitMQ 3.10.
 *
 * - rhea sender → amqp10-listener → route → amqp10 → RabbitMQ, to a queue address
 *   (`/amq/queue/NAME`) and to an exchange address (`/exchange/NAME/KEY`) → amqplib consumer:
 *   200 each, counted; body bytes exact; RabbitMQ hands the application-properties to the
 *   0-9-1 consumer as one long-string header, `x-amqp-1.0-app-properties`, holding the encoded
 *   section: read on the wire (./amqp10-wire091.ts), every property keeps its AMQP 1.0 type.
 * - RabbitMQ queue → amqp10 source → route → amqp10-listener → rhea receiver, for messages an
 *   AMQP 1.0 application published to RabbitMQ, and for the full loop rhea → Ferry →
 *   RabbitMQ → Ferry → rhea: 200 each, counted; the application-properties arrive with every
 *   AMQP type intact (ubyte stays ubyte, short stays short …).
 * - what RabbitMQ 3.10 does with a message an AMQP 0-9-1 client published, read over AMQP 1.0
 *   through Ferry: recorded exactly (docs/mapping/amqp10.md).
 * Findings are recorded in docs/mapping/amqp10.md, "RabbitMQ 3.10.8 amqp1_0 plugin".
 */
import { jest } from '@jest/globals';
import amqplib from 'amqplib';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import type { Gateway } from '@ferry/gateway';
import { decodeOne, encodedMessage, installCapture, parseMessage, type AmqpValue } from '@ferry/amqp10';
import { Tally, TcpProxy, brokerPorts, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { publishConfirmed, runId } from '../scenarios/helpers.js';
import { client, openReceiver, openSender, outcomes, type TestClient } from '../amqp10/helpers.js';
import { Wire091Tap } from './amqp10-wire091.js';

jest.setTimeout(90_000);

const t = rhea.types;

/** Every simple AMQP 1.0 type an application property may have (§3.2.5), as rhea sends it and as it must arrive. */
const TYPED: readonly { readonly name: string; readonly rhea: unknown; readonly amqp: AmqpValue }[] = [
  { name: 'u8', rhea: t.wrap_ubyte(250), amqp: { type: 'ubyte', value: 250 } },
  { name: 'u16', rhea: t.wrap_ushort(65000), amqp: { type: 'ushort', value: 65000 } },
  { name: 'u32', rhea: t.wrap_uint(4_000_000_000), amqp: { type: 'uint', value: 4_000_000_000 } },
  { name: 'i8', rhea: t.wrap_byte(-5), amqp: { type: 'byte', value: -5 } },
  { name: 'i16', rhea: t.wrap_short(-300), amqp: { type: 'short', value: -300 } },
  { name: 'i32', rhea: t.wrap_int(100_000), amqp: { type: 'int', value: 100_000 } },
  { name: 'i64', rhea: t.wrap_long(-5_000_000_000), amqp: { type: 'long', value: -5_000_000_000n } },
  { name: 'u64', rhea: t.wrap_ulong(18_000_000_000), amqp: { type: 'ulong', value: 18_000_000_000n } },
  { name: 'f32', rhea: t.wrap_float(1.5), amqp: { type: 'float', value: 1.5 } },
  { name: 'f64', rhea: t.wrap_double(Math.PI), amqp: { type: 'double', value: Math.PI } },
  { name: 'ts', rhea: t.wrap_timestamp(1_700_000_000_123), amqp: { type: 'timestamp', value: 1_700_000_000_123n } },
  { name: 'bin', rhea: t.wrap_binary(Buffer.from([0, 0xff, 0x10])), amqp: { type: 'binary', value: Buffer.from([0, 0xff, 0x10]) } },
  { name: 'str', rhea: 'héllo: wörld', amqp: { type: 'string', value: 'héllo: wörld' } },
  { name: 'sym', rhea: t.wrap_symbol('a-symbol'), amqp: { type: 'symbol', value: 'a-symbol' } },
  { name: 'yes', rhea: true, amqp: { type: 'boolean', value: true } },
  { name: 'nul', rhea: null, amqp: { type: 'null' } },
];

const EXPECTED: Record<string, AmqpValue> = Object.fromEntries(TYPED.map((p) => [p.name, p.amqp]));

function applicationProperties(i: number): Record<string, unknown> {
  return { ...Object.fromEntries(TYPED.map((p) => [p.name, p.rhea])), seq: t.wrap_int(i) };
}

/** Bytes of message `id`: every byte value, NULs and what looks like AMQP encoding included. */
function bodyOf(id: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, 0x53, 0x75, 0xa0, 0xff, 0x00]), Buffer.from(id)]);
}

/** An encoded application-properties section (00 53 74 map) → name → typed value. */
function typedMap(section: AmqpValue): Record<string, AmqpValue> {
  if (section.type !== 'described' || section.value.type !== 'map') throw new Error(`not an application-properties section: ${JSON.stringify(section.type)}`);
  const d = section.descriptor;
  if (!(d.type === 'ulong' && d.value === 0x74n)) throw new Error('descriptor is not 0x74');
  const out: Record<string, AmqpValue> = {};
  for (const [k, v] of section.value.value) {
    if (k.type !== 'string') throw new Error(`application-property key of type ${k.type}`);
    out[k.value] = v;
  }
  return out;
}

/** Send `ids` with the typed properties (`seq` counting from `first`); resolves with each delivery's outcome. */
async function sendTyped(s: rhea.Sender, ids: readonly string[], first = 0): Promise<Map<string, string>> {
  const seen = outcomes(s);
  const byDelivery = new Map<number, string>();
  let i = 0;
  const pump = (): void => {
    while (i < ids.length && s.sendable()) {
      const id = ids[i] as string;
      const d = s.send({
        message_id: id,
        content_type: 'application/octet-stream',
        durable: true,
        application_properties: applicationProperties(first + i),
        body: dataSection(bodyOf(id)),
      });
      byDelivery.set(d.id, id);
      i++;
    }
  };
  s.on('sendable', pump);
  pump();
  await waitFor(() => seen.size === ids.length, `an outcome for each of ${ids.length}`, 30_000);
  return new Map([...seen].map(([d, o]) => [byDelivery.get(d) as string, o]));
}

/** What a receiver got: message-id → the encoded message (captured below rhea's decoder). */
function collect(r: rhea.Receiver): Map<string, Buffer[]> {
  const got = new Map<string, Buffer[]>();
  r.on('message', (ctx: rhea.EventContext) => {
    const raw = encodedMessage(ctx.message);
    const id = String(ctx.message?.message_id);
    if (raw !== undefined) got.set(id, [...(got.get(id) ?? []), raw]);
  });
  return got;
}

describe('AMQP 1.0 client → Ferry → RabbitMQ (amqp10 connector, amqp1_0 plugin) → 0-9-1 consumer, and RabbitMQ → Ferry → AMQP 1.0 receiver', () => {
  const run = runId('r10');
  const q1 = `${run}.q`;
  const ex = `${run}.x`;
  const q2 = `${run}.via-x`;
  const qB = `${run}.from-rabbit`;
  const qLoop = `${run}.loop`;
  const N = 200;
  let vhost: string;
  let gateway: Gateway;
  let proxy: TcpProxy;
  let tap: Wire091Tap;
  let port: number;
  let consumer: amqplib.ChannelModel;
  let cch: amqplib.Channel;
  /** every 0-9-1 delivery of q1 and q2 */
  const at091: amqplib.ConsumeMessage[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    installCapture();
    vhost = await createVhost('amqp10-rabbit10');
    // RabbitMQ 3.10 accepts and drops a message for a queue address whose queue does not exist
    // (rabbitmq-server#7823): declare every queue first
    const admin = await amqplib.connect(rabbitUrl(vhost), { noDelay: true });
    const ach = await admin.createChannel();
    for (const q of [q1, q2, qB, qLoop]) await ach.assertQueue(q, { durable: false });
    await ach.assertExchange(ex, 'direct', { durable: false });
    await ach.bindQueue(q2, ex, 'orders.eu');
    await admin.close();

    port = await freePort();
    proxy = new TcpProxy(brokerPorts().rabbitAmqp); // Ferry's amqp10 connection, to hold RabbitMQ's dispositions
    const proxyPort = await proxy.start();
    gateway = await startGateway(`
gateway: { id: ${run} }
connectors:
  devices10: { type: amqp10-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
  rabbit10:
    type: amqp10
    url: "amqp://guest:guest@127.0.0.1:${proxyPort}"
    hostname: "vhost:${vhost}"
    reconnect: { initialMs: 100, maxMs: 1000 }
routes:
  - name: to-queue
    from: { connector: devices10, address: "${run}.in.q" }
    to:   { connector: rabbit10, address: "/amq/queue/${q1}" }
  - name: to-exchange
    from: { connector: devices10, address: "${run}.in.x" }
    to:   { connector: rabbit10, address: "/exchange/${ex}/orders.eu" }
  - name: loop-in
    from: { connector: devices10, address: "${run}.loop" }
    to:   { connector: rabbit10, address: "/amq/queue/${qLoop}" }
  - name: from-rabbit
    from: { connector: rabbit10, address: "/amq/queue/${qB}" }
    to:   { connector: devices10, address: "${run}.out" }
  - name: loop-back
    from: { connector: rabbit10, address: "/amq/queue/${qLoop}" }
    to:   { connector: devices10, address: "${run}.back" }
`, captureLogger());
    tap = new Wire091Tap(brokerPorts().rabbitAmqp);
    const tapPort = await tap.start();
    consumer = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${tapPort}/${encodeURIComponent(vhost)}`, { noDelay: true });
    consumer.on('error', () => undefined);
    cch = await consumer.createChannel();
    await cch.prefetch(500);
    for (const q of [q1, q2]) {
      await cch.consume(q, (m) => {
        if (m === null) return;
        at091.push(m);
        cch.ack(m);
      });
    }
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await ifAssigned(consumer)?.close().catch(() => undefined);
    await ifAssigned(tap)?.stop();
    await ifAssigned(gateway)?.stop(2000);
    await ifAssigned(proxy)?.stop();
    if (vhost) await deleteVhost(vhost).catch(() => undefined);
  });

  it('accepted at the AMQP 1.0 sender only after RabbitMQ settled the transfer to Ferry', async () => {
    const c = await client(port);
    clients.push(c);
    const s = await openSender(c, `${run}.in.q`);
    const outcomes: string[] = [];
    for (const ev of ['accepted', 'rejected', 'released', 'modified']) s.on(ev, () => outcomes.push(ev));
    // the first write attaches Ferry's sending link to RabbitMQ (its attach and credit come back)
    s.send({ message_id: 'warm-1', body: dataSection(Buffer.from('warm')) });
    await waitFor(() => outcomes.length === 1, 'the first outcome');
    const before = at091.length;
    proxy.holdDownstream(); // RabbitMQ's disposition to Ferry waits in the proxy
    try {
      s.send({ message_id: 'held-1', body: dataSection(Buffer.from('held')) });
      await waitFor(() => at091.length === before + 1, 'the message at the 0-9-1 consumer');
      // RabbitMQ has it, but its disposition is held: no outcome yet. The listener writes to a
      // connection in order: an outcome sent before the disposition would come before the attach
      // answering a link opened now.
      await openSender(c, `${run}.in.q`);
      expect(outcomes).toEqual(['accepted']);
    } finally {
      proxy.release();
    }
    await waitFor(() => outcomes.length === 2, 'the outcome after the disposition');
    expect(outcomes).toEqual(['accepted', 'accepted']);
  });

  it.each([
    { via: 'a queue address /amq/queue/NAME', address: 'in.q', queue: 'q' },
    { via: 'an exchange address /exchange/NAME/KEY', address: 'in.x', queue: 'via-x' },
  ])('via $via: 200 reach the amqplib consumer, bytes exact, application-properties with every AMQP 1.0 type in x-amqp-1.0-app-properties', async ({ address, queue }) => {
    const c = await client(port);
    clients.push(c);
    const s = await openSender(c, `${run}.${address}`);
    const tag = `${address}-`;
    const ids = Array.from({ length: N }, (_, i) => `${tag}${i}`);
    const tally = new Tally();
    for (const id of ids) tally.sent(id);
    const outcomes = await sendTyped(s, ids);
    expect([...new Set(outcomes.values())]).toEqual(['accepted']);
    // a last message after every outcome: Ferry writes to RabbitMQ in order, so a copy of any
    // earlier message reaches the queue before this one
    const last = `${tag}${N}`;
    tally.sent(last);
    expect([...(await sendTyped(s, [last], N)).values()]).toEqual(['accepted']);
    const mine = (): amqplib.ConsumeMessage[] => at091.filter((m) => String(m.properties.messageId).startsWith(tag));
    await waitFor(() => {
      const there = new Set(mine().map((m) => String(m.properties.messageId)));
      return there.has(last) && ids.every((id) => there.has(id));
    }, `${N + 1} at the 0-9-1 consumer`, 30_000);
    for (const m of mine()) {
      expect(m.fields.routingKey).toBe(queue === 'q' ? q1 : 'orders.eu');
      tally.received(String(m.properties.messageId));
      expect(m.content.equals(bodyOf(String(m.properties.messageId)))).toBe(true);
    }
    console.log(tally.summary(`AMQP 1.0 sender → Ferry amqp10-listener → amqp10 → RabbitMQ ${address} → amqplib`));
    expect(tally.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });

    // amqplib's view: the section in a header, decoded as UTF-8 text (bytes ≥ 0x80 are lost)
    const first = mine()[0] as amqplib.ConsumeMessage;
    expect(Object.keys(first.properties.headers ?? {}).sort()).toEqual(['x-amqp-1.0-app-properties', 'x-amqp-1.0-properties']);
    expect(typeof first.properties.headers?.['x-amqp-1.0-app-properties']).toBe('string');
    expect(first.properties).toMatchObject({ contentType: 'application/octet-stream', deliveryMode: 2, type: 'binary' });
    // the wire's view: a long string ('S') holding the encoded application-properties section
    for (const id of [`${tag}0`, `${tag}${N - 1}`]) {
      const w = tap.messages.find((x) => x.messageId === id);
      expect(w).toBeDefined();
      const h = w?.headers['x-amqp-1.0-app-properties'];
      expect(h?.tag).toBe('S');
      const props = typedMap(decodeOne(h?.raw as Buffer));
      // every property with its AMQP 1.0 type: nothing widened, nothing dropped
      // and Ferry's hop count (loop protection), the one application property a pass-through adds
      expect(props).toEqual({ ...EXPECTED, seq: { type: 'int', value: Number(id.slice(tag.length)) }, 'x-ferry-hops': { type: 'byte', value: 1 } });
      expect(w?.type).toBe('binary');
    }
  });

  it('RabbitMQ queue (published by an AMQP 1.0 application) → amqp10 source → listener → rhea receiver: 200, every AMQP type intact', async () => {
    const rc = await client(port);
    clients.push(rc);
    const r = await openReceiver(rc, `${run}.out`, { credit_window: 100 });
    const got = collect(r);
    // an AMQP 1.0 application publishing to RabbitMQ directly
    const pub = await client(brokerPorts().rabbitAmqp, { username: 'guest', password: 'guest', hostname: `vhost:${vhost}` });
    clients.push(pub);
    const s = await openSender(pub, `/amq/queue/${qB}`);
    const ids = Array.from({ length: N }, (_, i) => `b-${i}`);
    const tally = new Tally();
    for (const id of ids) tally.sent(id);
    expect([...new Set((await sendTyped(s, ids)).values())]).toEqual(['accepted']);
    // a last message once every other is in the queue: the queue hands them to Ferry, and Ferry
    // writes them to the receiver, in order, so a copy of any earlier message comes before it
    const last = `b-${N}`;
    tally.sent(last);
    expect([...(await sendTyped(s, [last], N)).values()]).toEqual(['accepted']);
    await waitFor(() => got.has(last) && ids.every((id) => got.has(id)), `${N + 1} at the AMQP 1.0 receiver`, 30_000);
    for (const [id, raws] of got) raws.forEach(() => tally.received(id));
    console.log(tally.summary('AMQP 1.0 application → RabbitMQ → Ferry amqp10 → listener → rhea receiver'));
    expect(tally.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });
    for (const [id, raws] of got) {
      const p = parseMessage(raws[0] as Buffer);
      expect(Object.fromEntries(p.applicationProperties ?? [])).toEqual({ ...EXPECTED, seq: { type: 'int', value: Number(id.slice(2)) }, 'x-ferry-hops': { type: 'byte', value: 1 } });
      expect(p.body).toEqual({ kind: 'data', chunks: [bodyOf(id)] });
    }
    await rc.close(); // a competing receiver would take part of a later test's messages
  });

  it('the full loop rhea → Ferry → RabbitMQ → Ferry → rhea: 200, every AMQP type intact', async () => {
    const rc = await client(port);
    clients.push(rc);
    const r = await openReceiver(rc, `${run}.back`, { credit_window: 100 });
    const got = collect(r);
    const c = await client(port);
    clients.push(c);
    const s = await openSender(c, `${run}.loop`);
    const ids = Array.from({ length: N }, (_, i) => `l-${i}`);
    const tally = new Tally();
    for (const id of ids) tally.sent(id);
    expect([...new Set((await sendTyped(s, ids)).values())]).toEqual(['accepted']);
    // a last message after every outcome: each leg (Ferry to the queue, the queue to Ferry,
    // Ferry to the receiver) keeps order, so a copy of any earlier message comes before it
    const last = `l-${N}`;
    tally.sent(last);
    expect([...(await sendTyped(s, [last], N)).values()]).toEqual(['accepted']);
    await waitFor(() => got.has(last) && ids.every((id) => got.has(id)), `${N + 1} back at the AMQP 1.0 receiver`, 30_000);
    for (const [id, raws] of got) raws.forEach(() => tally.received(id));
    console.log(tally.summary('rhea → Ferry → RabbitMQ → Ferry → rhea'));
    expect(tally.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });
    for (const [id, raws] of got) {
      const p = parseMessage(raws[0] as Buffer);
      // two passages through Ferry
      expect(Object.fromEntries(p.applicationProperties ?? [])).toEqual({ ...EXPECTED, seq: { type: 'int', value: Number(id.slice(2)) }, 'x-ferry-hops': { type: 'byte', value: 2 } });
      expect(p.body).toEqual({ kind: 'data', chunks: [bodyOf(id)] });
      expect(p.properties?.contentType).toBe('application/octet-stream');
      expect(p.header?.durable).toBe(true);
    }
    await rc.close();
  });

  it('a message an AMQP 0-9-1 client published, read over AMQP 1.0 through Ferry: RabbitMQ 3.10 drops its headers (recorded exactly)', async () => {
    const rc = await client(port);
    clients.push(rc);
    const r = await openReceiver(rc, `${run}.out`, { credit_window: 100 });
    const got = collect(r);
    const pub = await amqplib.connect(rabbitUrl(vhost), { noDelay: true });
    pub.on('error', () => undefined);
    const confirm = await pub.createConfirmChannel();
    await publishConfirmed(confirm, '', qB, Buffer.from([0, 1, 0xff]), {
      messageId: 'from-091',
      contentType: 'application/x-test',
      correlationId: 'c-1',
      replyTo: 'answers',
      timestamp: 1_700_000_000, // seconds (0-9-1)
      headers: { small: 7, int: { '!': 'int', value: 100_000 }, str: 'text', yes: true },
    });
    await pub.close();
    await waitFor(() => got.has('from-091'), 'the message at the AMQP 1.0 receiver');
    const raw = (got.get('from-091') as Buffer[])[0] as Buffer;
    const p = parseMessage(raw);
    console.log('RabbitMQ 3.10 → AMQP 1.0 view of a 0-9-1 publish:', JSON.stringify({ properties: p.properties, applicationProperties: p.applicationProperties ?? null, header: p.header }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
    expect(p.body).toEqual({ kind: 'data', chunks: [Buffer.from([0, 1, 0xff])] });
    // no application-properties from RabbitMQ: the 0-9-1 headers are gone; only Ferry's own hop count
    expect(p.applicationProperties).toEqual([['x-ferry-hops', { type: 'byte', value: 1 }]]);
    expect(p.properties).toMatchObject({
      messageId: { type: 'string', value: 'from-091' },
      contentType: 'application/x-test',
      correlationId: { type: 'string', value: 'c-1' },
      // reply-to becomes an AMQP 1.0 address, subject the routing key
      replyTo: '/queue/answers',
      subject: qB,
      // the 0-9-1 timestamp is in seconds; RabbitMQ 3.10 passes the number through as ms
      creationTime: 1_700_000_000,
    });
    await rc.close();
  });
});
