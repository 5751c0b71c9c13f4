/**
 * amqp10-listener under frames whose counts lie: a list, map or array announcing more values than
 * its bytes can hold (zero-width elements consume no bytes, §1.6.24), in a SASL frame, an AMQP
 * performative or a transfer's message. Raw sockets; the process must stay up, its heap flat,
 * the liar's connection closed and every other client served.
 */
import { jest } from '@jest/globals';
import { connect as tcpConnect } from 'node:net';
import rhea from 'rhea';
import { amqp10ListenerDefinition, installCapture, type Amqp10Listener } from '@ferry/amqp10';
import { RecordingMetrics, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { client, openSender, outcomes } from './helpers.js';

jest.setTimeout(60_000);

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});
beforeAll(() => installCapture());

async function listener(options: Record<string, unknown>, lines: LogLine[], metrics: RecordingMetrics): Promise<Amqp10Listener> {
  const opts = amqp10ListenerDefinition.options.parse({ port: 0, host: '127.0.0.1', anonymous: true, ...options });
  const l = amqp10ListenerDefinition.create(testContext(lines, metrics), 'devices', opts) as Amqp10Listener;
  started.push(l);
  await l.start();
  return l;
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SASL_HEADER = hex('414d5150 03010000');
const AMQP_HEADER = hex('414d5150 00010000');

/** A frame (§2.3): size, doff 2, type, channel, body. */
function frame(type: 0 | 1, body: Buffer, channel = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + body.length, 0);
  h[4] = 2;
  h[5] = type;
  h.writeUInt16BE(channel, 6);
  return Buffer.concat([h, body]);
}

/** A described list performative (§2.7) with a small-ulong descriptor and 32-bit list encoding. */
function performative(code: number, fields: Buffer[], count = fields.length): Buffer {
  const items = Buffer.concat(fields);
  const head = Buffer.alloc(12);
  head[0] = 0x00;
  head[1] = 0x53;
  head[2] = code;
  head[3] = 0xd0;
  head.writeUInt32BE(4 + items.length, 4);
  head.writeUInt32BE(count, 8);
  return Buffer.concat([head, items]);
}

const sym = (s: string): Buffer => Buffer.concat([Buffer.from([0xa3, s.length]), Buffer.from(s, 'ascii')]);
/** an array32 of `count` zero-width values of type `code` (null 0x40, true 0x41, list0 0x45 …) */
const zeroWidthArray = (count: number, code = 0x40): Buffer => {
  const b = Buffer.alloc(10);
  b[0] = 0xf0;
  b.writeUInt32BE(5, 1);
  b.writeUInt32BE(count, 5);
  b[9] = code;
  return b;
};
const saslInit = (initialResponse: Buffer): Buffer => frame(1, performative(0x41, [sym('ANONYMOUS'), initialResponse]));

/**
 * Writes `bytes` on a fresh socket and resolves with what came back once the listener closed it
 * (rejects after `ms`: a listener that never closes the liar fails the test).
 */
function sendRaw(port: number, bytes: Buffer[], ms = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = tcpConnect({ port, host: '127.0.0.1' }, () => {
      sock.setNoDelay(true);
      for (const b of bytes) sock.write(b);
    });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`the listener did not close the connection within ${ms} ms`));
    }, ms);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** An AMQP connection prelude a raw client sends: header and an open (container-id "x"). */
const amqpOpen = [AMQP_HEADER, frame(0, performative(0x10, [hex('a1 01 78')]))];

describe('amqp10-listener: counts larger than their bytes', () => {
  it('the 49-byte SASL frame (sasl-init with an array of 4,294,967,295 nulls) closes that socket; the process stays up, heap flat, other clients served', async () => {
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const l = await listener({}, lines, metrics);
    const port = l.port as number;
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => d.settlement.accept());
    const good = await client(port);
    const s = await openSender(good, 'in');
    const seen = outcomes(s);

    // the exact bytes of the report
    const exact = hex('414d5150 03010000 00000029 02 01 0000 00 53 41 d0 00000019 00000002 a3 09 414e4f4e594d4f5553 f0 00000005 ffffffff 40');
    expect(exact.length).toBe(49);
    expect(saslInit(zeroWidthArray(0xffffffff))).toEqual(exact.subarray(8));
    const heapBefore = process.memoryUsage().heapUsed;
    const reply = await sendRaw(port, [exact]);
    // no sasl-outcome: in the SASL phase there is no connection to close, only the socket (§5.3)
    expect(reply.includes(hex('00 53 44'))).toBe(false);
    await waitFor(() => lines.some((x) => x.message.includes('protocol violation') && x.fields.condition === 'amqp:decode-error'), 'the violation logged');
    expect(metrics.count('protocol_errors_total', { connector: 'devices', code: 'amqp:decode-error' })).toBe(1);

    const d = s.send(rhea.message.encode({ body: 'still here' }), undefined, 0);
    await waitFor(() => seen.get(d.id) === 'accepted', 'the good client still served');
    expect(l.state).toBe('up');
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    await good.close();
  });

  // each a variation: where the lie sits, and what it is made of
  const cases: { name: string; bytes: Buffer[]; users?: boolean }[] = [
    { name: 'sasl-init with an array of 5×10⁷ nulls, users required', bytes: [SASL_HEADER, saslInit(zeroWidthArray(50_000_000))], users: true },
    { name: 'sasl-init with an array of 10⁸ empty lists (list0)', bytes: [SASL_HEADER, saslInit(zeroWidthArray(100_000_000, 0x45))] },
    { name: 'sasl-init with a list announcing 4,294,967,295 items', bytes: [SASL_HEADER, saslInit(hex('d0 00000004 ffffffff'))] },
    { name: 'sasl-init with a map announcing 5×10⁷ entries', bytes: [SASL_HEADER, saslInit(hex('d1 00000008 02faf080 40404040'))] },
    {
      name: 'sasl-init with a list of 200 arrays of 250,000 nulls each (nested)',
      bytes: [SASL_HEADER, saslInit(Buffer.concat([hex('d0'), Buffer.from([0, 0, 0x07, 0xd4]), hex('000000c8'), ...Array.from({ length: 200 }, () => zeroWidthArray(250_000))]))],
    },
    { name: 'an open whose offered-capabilities is an array of 10⁸ true', bytes: [...amqpOpen.slice(0, 1), frame(0, performative(0x10, [hex('a1 01 78'), hex('40 40 40 40 40 40'), zeroWidthArray(100_000_000, 0x41)]))] },
    { name: 'a begin whose properties map announces 4,294,967,295 entries', bytes: [...amqpOpen, frame(0, performative(0x11, [hex('40 43 70 00000064 70 00000064 40 40 40'), hex('d1 00000004 ffffffff')]))] },
  ];
  for (const c of cases) {
    it(`${c.name}: closed with amqp:decode-error (or the socket, in SASL), process up, heap flat`, async () => {
      const lines: LogLine[] = [];
      const metrics = new RecordingMetrics();
      const l = await listener(c.users === true ? { users: [{ username: 'u', password: 'p' }], anonymous: false } : {}, lines, metrics);
      const heapBefore = process.memoryUsage().heapUsed;
      const reply = await sendRaw(l.port as number, c.bytes);
      if (c.bytes[0]?.equals(AMQP_HEADER) === true) {
        // after the AMQP header: a close carrying the error (§2.7.9)
        expect(reply.includes(hex('00 53 18'))).toBe(true);
        expect(reply.toString('latin1')).toContain('amqp:decode-error');
      }
      await waitFor(() => metrics.count('protocol_errors_total', { connector: 'devices', code: 'amqp:decode-error' }) === 1, 'the violation counted');
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
      const other = await client(l.port as number, c.users === true ? { username: 'u', password: 'p' } : {});
      await other.close();
    });
  }

  it('a transfer whose message carries an array of 10⁸ nulls in application-properties is refused before rhea decodes it', async () => {
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const l = await listener({}, lines, metrics);
    const delivered: unknown[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
      delivered.push(d);
      d.settlement.accept();
    });
    const liar = await client(l.port as number);
    const s = await openSender(liar, 'in');
    // application-properties (0x74) { "k": array of 10⁸ nulls }, then a data section
    const appProps = Buffer.concat([hex('00 53 74 d1'), Buffer.from([0, 0, 0, 4 + 3 + 10]), hex('00000002 a1 01 6b'), zeroWidthArray(100_000_000)]);
    const heapBefore = process.memoryUsage().heapUsed;
    s.send(Buffer.concat([appProps, hex('00 53 75 a0 01 2a')]), undefined, 0);
    await waitFor(() => liar.errors.some((e) => e.includes('amqp:decode-error')), 'the close with amqp:decode-error');
    expect(delivered).toHaveLength(0);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    const other = await client(l.port as number);
    const s2 = await openSender(other, 'in');
    const seen = outcomes(s2);
    const d = s2.send(rhea.message.encode({ body: 'fine' }), undefined, 0);
    await waitFor(() => seen.get(d.id) === 'accepted', 'another client served');
    await other.close();
  });

  it('unfinished messages over many links: more than maxUnfinishedBytes begun and not finished closes the connection with amqp:resource-limit-exceeded', async () => {
    const metrics = new RecordingMetrics();
    const l = await listener({ maxFrameSize: 1024 * 1024, maxMessageBytes: 4 * 1024 * 1024, maxUnfinishedBytes: 8 * 1024 * 1024 }, [], metrics);
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => d.settlement.accept());
    const target = hex('00 53 29 c0 05 01 a1 02 69 6e'); // target { address: "in" }
    const attach = (n: number): Buffer =>
      frame(0, performative(0x12, [Buffer.from([0xa1, 2, 0x6c, 0x30 + n]), Buffer.from([0x52, n]), hex('42 40 40 40'), target, hex('40 40 43')], 10));
    // transfer on handle n, delivery n, more = true, 1,000,000 bytes of a message never finished
    const transfer = (n: number): Buffer =>
      frame(0, Buffer.concat([performative(0x14, [Buffer.from([0x52, n]), Buffer.from([0x52, n]), Buffer.from([0xa0, 1, n]), hex('43 42 41')], 6), Buffer.alloc(1_000_000, 0x40)]));
    const begin = frame(0, performative(0x11, [hex('40 43 70 00010000 70 00010000')], 4));
    const bytes = [...amqpOpen, begin, attach(0), attach(1), attach(2)];
    // three links with 3 MB each: the ninth megabyte is over 8 MiB
    for (const n of [0, 1, 2]) for (let k = 0; k < 3; k++) bytes.push(transfer(n));
    const reply = await sendRaw(l.port as number, bytes);
    expect(reply.includes(hex('00 53 18'))).toBe(true);
    expect(reply.toString('latin1')).toContain('amqp:resource-limit-exceeded');
    await waitFor(() => metrics.count('protocol_errors_total', { connector: 'devices', code: 'amqp:resource-limit-exceeded' }) === 1, 'counted');
    const other = await client(l.port as number);
    await other.close();
  });
});
