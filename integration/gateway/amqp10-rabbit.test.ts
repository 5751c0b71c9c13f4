/**
 * AMQP 1.0 to AMQP 0-9-1 end to end, with clients that are not Ferry's code: rhea (AMQP 1.0) against
 * Ferry's `amqp10-listener`, plain amqplib against RabbitMQ, Ferry's `amqp091` connector between.
 *
 * - rhea sender → listener → route → amqp091 → RabbitMQ queue → amqplib consumer: the data
 *   section's bytes, and every typed application property with the value and the AMQP 0-9-1
 *   field-table type docs/mapping/amqp091.md gives it (ubyte `B`, short `s`, int `I`, long `l`
 *   arrive as numbers, timestamp `T` as amqplib's `{'!': 'timestamp', value: seconds}`, binary
 *   `x` as bytes, string, boolean). The sender sees `accepted` only after RabbitMQ's publisher
 *   confirm reached Ferry (held in a TcpProxy meanwhile).
 * - amqplib publish with typed headers → amqp091 source → route → listener → rhea receiver: body
 *   bytes in one data section and application properties with the values and the AMQP 1.0 types
 *   docs/mapping/amqp10.md gives a plain number (the smallest signed integer that holds it:
 *   amqplib does not tell Ferry the 0-9-1 tag), timestamp, binary, string, boolean.
 * - 200 messages each way, counted with Tally: 0 lost, 0 duplicated.
 */
import { randomBytes } from 'node:crypto';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import type { ConsumeMessage } from 'amqplib';
import type { Gateway } from '@ferry/gateway';
import { Tally, TcpProxy, brokerPorts, createVhost, deleteVhost, freePort, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, plainClient, publishConfirmed, runId, type Plain } from '../scenarios/helpers.js';
import { client, openReceiver, openSender, outcomes, type TestClient } from '../amqp10/helpers.js';

/** What the receiving test client saw: raw encoded bytes, kept by wrapping rhea's decoder (rhea hands them to no handler). */
const rawOf = new WeakMap<object, Buffer>();
{
  const util: { decode: (typeof rhea.message)['decode'] } = rhea.message;
  const original = util.decode;
  util.decode = (buffer: Buffer) => {
    const msg = original.call(util, buffer);
    rawOf.set(msg, buffer);
    return msg;
  };
}

/** AMQP 1.0 type of an encoding code (§1.6), for the codes a message's values use. */
const TYPE_OF_CODE: Record<number, string> = {
  0x40: 'null', 0x41: 'boolean', 0x42: 'boolean', 0x56: 'boolean',
  0x50: 'ubyte', 0x51: 'byte', 0x60: 'ushort', 0x61: 'short',
  0x70: 'uint', 0x52: 'uint', 0x43: 'uint', 0x71: 'int', 0x54: 'int',
  0x80: 'ulong', 0x53: 'ulong', 0x44: 'ulong', 0x81: 'long', 0x55: 'long',
  0x72: 'float', 0x82: 'double', 0x83: 'timestamp',
  0xa0: 'binary', 0xb0: 'binary', 0xa1: 'string', 0xb1: 'string', 0xa3: 'symbol', 0xb3: 'symbol',
};

interface TypedValue {
  type: string;
  value: unknown;
}

/** The sections of an encoded message, read with rhea's own type reader: app properties with their wire types, data sections. */
function sections(raw: Buffer): { props: Record<string, TypedValue>; data: Buffer[] } {
  // rhea's typings leave out its Reader (lib/types.js), which keeps each value's encoding code
  const { Reader } = rhea.types as unknown as { Reader: new (b: Buffer) => { remaining(): number; read(): unknown } };
  const reader = new Reader(raw);
  const props: Record<string, TypedValue> = {};
  const data: Buffer[] = [];
  while (reader.remaining() > 0) {
    const s = reader.read() as { descriptor?: { value: unknown }; value: unknown };
    const d = Number(s.descriptor?.value);
    if (d === 0x74) {
      const kv = s.value as { value: unknown; type: { typecode: number } }[];
      for (let i = 0; i + 1 < kv.length; i += 2) {
        const v = kv[i + 1]!;
        props[String(kv[i]!.value)] = { type: TYPE_OF_CODE[v.type.typecode] ?? `0x${v.type.typecode.toString(16)}`, value: v.value };
      }
    } else if (d === 0x75) {
      data.push(Buffer.from(s.value as Buffer));
    }
  }
  return { props, data };
}

const TS_MS = 1_700_000_000_123;

describe('AMQP 1.0 client → Ferry amqp10-listener → amqp091 → RabbitMQ, and back', () => {
  const run = runId('ar');
  const inQueue = `${run}.from-amqp10`;
  const outQueue = `${run}.to-amqp10`;
  let vhost: string;
  let gateway: Gateway;
  let proxy: TcpProxy;
  let port: number;
  let plain: Plain;
  /** every delivery of inQueue, one consumer for the whole file */
  let got: ConsumeMessage[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    vhost = await createVhost('amqp10-rabbit');
    port = await freePort();
    proxy = new TcpProxy(brokerPorts().rabbitAmqp); // to hold RabbitMQ's confirms
    const proxyPort = await proxy.start();
    gateway = await startGateway(`
gateway: { id: ${run} }
connectors:
  devices10: { type: amqp10-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${proxyPort}/${encodeURIComponent(vhost)}"
    topology:
      queues: [ { name: "${inQueue}" }, { name: "${outQueue}" } ]
routes:
  - name: amqp10-to-rabbit
    from: { connector: devices10, address: "${run}.in" }
    to: { connector: rabbit, exchange: "", routingKey: "${inQueue}" }
  - name: rabbit-to-amqp10
    from: { connector: rabbit, queue: "${outQueue}" }
    to: { connector: devices10, address: "${run}.out" }
`);
    plain = await plainClient(vhost);
    got = await collectQueue(plain.ch, inQueue);
  });

  afterAll(async () => {
    for (const c of clients) await c.close();
    await ifAssigned(plain)?.close();
    await ifAssigned(gateway)?.stop(2000);
    await ifAssigned(proxy)?.stop();
    if (vhost) await deleteVhost(vhost).catch(() => undefined);
  });

  it('typed application properties and a data body reach an amqplib consumer; accepted only after the confirm', async () => {
    const c = await client(port);
    clients.push(c);
    const s = await openSender(c, `${run}.in`);
    const seen = outcomes(s);
    const t = rhea.types;
    const body = Buffer.concat([Buffer.from([0, 0xff, 0, 10]), randomBytes(100)]);

    proxy.holdDownstream(); // RabbitMQ's basic.ack to Ferry waits in the proxy
    const d = s.send({
      message_id: `${run}-1`,
      content_type: 'application/octet-stream',
      application_properties: {
        u8: t.wrap_ubyte(250),
        i16: t.wrap_short(-300),
        i32: t.wrap_int(100_000),
        i64: t.wrap_long(-5_000_000_000),
        ts: t.wrap_timestamp(TS_MS),
        bin: t.wrap_binary(Buffer.from([0, 0xff, 0x10])),
        str: 'with: colon\nand newline',
        yes: true,
        no: false,
      },
      body: dataSection(body),
    });
    await waitFor(() => got.length === 1, 'the amqplib consumer');
    // RabbitMQ has it, but its confirm is held: no outcome yet. The listener writes to a
    // connection in order: an outcome sent before the confirm would come before the attach
    // answering a link opened now.
    await openSender(c, `${run}.in`);
    expect(seen.get(d.id)).toBeUndefined();
    proxy.release();
    await waitFor(() => seen.has(d.id), 'the outcome after the confirm');
    expect(seen.get(d.id)).toBe('accepted');
    expect(c.errors).toEqual([]);

    const m = got[0]!;
    expect(m.content.equals(body)).toBe(true);
    expect(m.properties.contentType).toBe('application/octet-stream');
    expect(m.properties.messageId).toBe(`${run}-1`);
    const h = m.properties.headers ?? {};
    // amqplib decodes every integer tag to a plain number (docs/mapping/amqp091.md, Limit)
    expect(h['u8']).toBe(250);
    expect(h['i16']).toBe(-300);
    expect(h['i32']).toBe(100_000);
    expect(h['i64']).toBe(-5_000_000_000);
    // timestamp `T` in seconds (floor), which amqplib shows in its typed form
    expect(h['ts']).toEqual({ '!': 'timestamp', value: Math.floor(TS_MS / 1000) });
    expect(Buffer.isBuffer(h['bin'])).toBe(true);
    expect(Buffer.from(h['bin'] as Buffer).equals(Buffer.from([0, 0xff, 0x10]))).toBe(true);
    expect(h['str']).toBe('with: colon\nand newline');
    expect(h['yes']).toBe(true);
    expect(h['no']).toBe(false);
  });

  it('typed amqplib headers reach an AMQP 1.0 receiver with the documented AMQP types', async () => {
    const c = await client(port);
    clients.push(c);
    const r = await openReceiver(c, `${run}.out`);
    const received: { message: rhea.Message; raw: Buffer | undefined }[] = [];
    r.on('message', (ctx: rhea.EventContext) => {
      if (ctx.message !== undefined) received.push({ message: ctx.message, raw: rawOf.get(ctx.message) });
    });
    const body = Buffer.concat([Buffer.from([0, 0, 1, 0]), randomBytes(64)]);
    await publishConfirmed(plain.confirm, '', outQueue, body, {
      contentType: 'application/x-test',
      messageId: `${run}-2`,
      headers: {
        small: 7,
        neg: -300,
        int: { '!': 'int', value: 100_000 },
        big: { '!': 'long', value: 5_000_000_000 },
        ts: { '!': 'timestamp', value: 1_700_000_000 },
        bin: Buffer.from([0, 1, 2, 0]),
        str: 'with: colon\nand newline',
        yes: true,
      },
    });
    await waitFor(() => received.length === 1, 'the AMQP 1.0 receiver');
    const got1 = received[0]!;
    expect(got1.message.message_id).toBe(`${run}-2`);
    expect(got1.message.content_type).toBe('application/x-test');
    expect(got1.raw).toBeDefined();
    const { props, data } = sections(got1.raw!);
    // exactly one data section with the bytes (docs/mapping/amqp10.md, Body)
    expect(data.length).toBe(1);
    expect(data[0]!.equals(body)).toBe(true);
    // a plain number (amqplib gives no tag) becomes the smallest signed integer that holds it
    expect(props['small']).toEqual({ type: 'byte', value: 7 });
    expect(props['neg']).toEqual({ type: 'short', value: -300 });
    expect(props['int']).toEqual({ type: 'int', value: 100_000 });
    expect(props['big']?.type).toBe('long');
    expect(Number(props['big']?.value)).toBe(5_000_000_000);
    expect(props['ts']?.type).toBe('timestamp');
    expect((props['ts']?.value as Date).getTime()).toBe(1_700_000_000_000);
    expect(props['bin']?.type).toBe('binary');
    expect(Buffer.from(props['bin']?.value as Buffer).equals(Buffer.from([0, 1, 2, 0]))).toBe(true);
    expect(props['str']).toEqual({ type: 'string', value: 'with: colon\nand newline' });
    expect(props['yes']).toEqual({ type: 'boolean', value: true });
    // and Ferry's hop count (loop protection, docs/mapping.md)
    expect(Object.keys(props).sort()).toEqual(['big', 'bin', 'int', 'neg', 'small', 'str', 'ts', 'x-ferry-hops', 'yes']);
    await c.close(); // a competing receiver of the same address would take half of the next test's messages
  });

  it('200 messages each way: none lost, none duplicated', async () => {
    const N = 200;
    // AMQP 1.0 → RabbitMQ
    const atRabbit = new Tally();
    const before = got.length;
    const c = await client(port);
    clients.push(c);
    const s = await openSender(c, `${run}.in`);
    const seen = outcomes(s);
    let i = 0;
    const sendSome = (): void => {
      while (i < N && s.sendable()) {
        const id = `s${i++}`;
        atRabbit.sent(id);
        s.send({ message_id: id, application_properties: { n: rhea.types.wrap_int(i) }, body: dataSection(Buffer.from(`\0${id}`)) });
      }
    };
    s.on('sendable', sendSome);
    sendSome();
    await waitFor(() => seen.size === N, 'every outcome', 20_000);
    expect([...seen.values()].every((o) => o === 'accepted')).toBe(true);
    // a last message after every outcome: Ferry publishes into the queue in order, so a copy of
    // any earlier message is in it before this one
    atRabbit.sent('last');
    s.send({ message_id: 'last', body: dataSection(Buffer.from('\0last')) });
    await waitFor(() => got.slice(before).some((m) => m.properties.messageId === 'last'), 'every message at RabbitMQ', 20_000);
    for (const m of got.slice(before)) {
      expect(m.properties.messageId).toBe(m.content.subarray(1).toString());
      atRabbit.received(m.content.subarray(1).toString());
    }
    console.log(atRabbit.summary('AMQP 1.0 sender → Ferry → RabbitMQ (amqplib consumer)'));
    expect(atRabbit.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });

    // RabbitMQ → AMQP 1.0
    const atReceiver = new Tally();
    const rc = await client(port);
    clients.push(rc);
    const r = await openReceiver(rc, `${run}.out`);
    r.on('message', (ctx: rhea.EventContext) => {
      const raw = ctx.message === undefined ? undefined : rawOf.get(ctx.message);
      atReceiver.received(raw === undefined ? '?' : (sections(raw).data[0]?.toString() ?? '?'));
    });
    await Promise.all(
      Array.from({ length: N }, (_, k) => {
        const id = `\0a${k}`;
        atReceiver.sent(id);
        return publishConfirmed(plain.confirm, '', outQueue, Buffer.from(id), { headers: { k } });
      }),
    );
    // a last message once every other is in the queue: the queue hands them to Ferry, and Ferry
    // writes them to the receiver, in order, so a copy of any earlier message comes before it
    atReceiver.sent('\0last');
    await publishConfirmed(plain.confirm, '', outQueue, Buffer.from('\0last'), { headers: { k: N } });
    await waitFor(() => atReceiver.complete, 'every message at the AMQP 1.0 receiver', 20_000);
    console.log(atReceiver.summary('RabbitMQ → Ferry → AMQP 1.0 receiver'));
    expect(atReceiver.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });
  });
});
