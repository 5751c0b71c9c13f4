/**
 * Fuzzing the amqp10-listener: AMQP 1.0 byte streams captured from real clients (Qpid Proton
 * and rhea, SASL PLAIN and ANONYMOUS, sends and attaches; packages/amqp10/fuzz/corpus, see its
 * README), mutated, fed to the listener (frame guard, codec, rhea) over in-memory connections in
 * reads of varying size. For every input: nothing throws out of the listener, no internal error
 * is logged, the connection closes within a bound once the client hangs up, and the heap does
 * not balloon (a count its bytes cannot hold must be refused, not allocated); after all of them
 * the heap is back where it was.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FerryError, noopMetrics, type InboundDelivery, type Logger } from '@ferry/core';
import { MemoryConnection, type FuzzedListener, errorCountingLogger, openMemoryConnection, fuzzConnections, connectionFuzzFailures, connectionFuzzSummary, loadCorpus, waitFor } from '@ferry/testkit';
import { Amqp10Listener } from './listener.js';
import { amqp10ListenerOptions } from './options.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = loadCorpus(join(here, '../fuzz/corpus'));
const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
/** byte sequences worth inserting whole: huge counts and sizes for every compound and variable type (§1.6), headers */
const tokens = [
  [0xf0, ...u32(5), ...u32(0xffffffff), 0x40], // array32 of 4,294,967,295 nulls in 5 bytes
  [0xe0, 0x02, 0xff, 0x40], // array8 of 255 nulls
  [0xd0, ...u32(4), ...u32(0xffffffff)], // list32 announcing 4 G elements
  [0xc0, 0xff, 0xff], // list8 of 255 elements in 255 bytes
  [0xd1, ...u32(4), ...u32(0xfffffffe)], // map32
  [0xb0, ...u32(0xfffffff0)], // binary32 of 4 GB
  [0xb1, ...u32(0x7fffffff)], // str32
  [0xb3, ...u32(0x80000000)], // sym32
  [0x00, 0x53, 0x41], // described sasl-init
  [0x00, 0x53, 0x14], // described transfer
  [0x00, 0x80, ...u32(0), ...u32(0x75)], // ulong descriptor: data section
  [...u32(0xffffffff), 0x02, 0x00, 0x00, 0x00], // a frame header announcing 4 GB
  [...u32(8), 0x02, 0x01, 0x00, 0x00], // an empty SASL frame
  [0x41, 0x4d, 0x51, 0x50, 0x03, 0x01, 0x00, 0x00], // SASL protocol header
  [0x41, 0x4d, 0x51, 0x50, 0x00, 0x01, 0x00, 0x00], // AMQP protocol header
].map((b) => Buffer.from(b));

// a closing connection is destroyed within 1 s at the latest; the rest is room for a loaded machine
const CLOSE_WITHIN_MS = 5_000;
/**
 * What every listener stopped may leave on the heap, however many inputs ran: code compiled and
 * caches filled on the way, never the connections. A stopped listener that still held its
 * connections (rhea's idle timers, the container's SASL mechanisms) kept ~12 KB per input.
 */
const HEAP_AFTER_STOP = 4 * 1024 * 1024;
const ADDRESS = '/exchange/amq.fanout';


async function newListener(logger: Logger): Promise<Amqp10Listener> {
  const l = new Amqp10Listener(
    { gatewayId: 'fuzz', logger, metrics: noopMetrics, baseDir: '.' },
    'fuzz10',
    amqp10ListenerOptions.parse({
      port: 0,
      host: '127.0.0.1',
      users: [{ username: 'guest', password: 'guest' }],
      allowAnonymous: true,
      maxFrameSize: 65_536,
      maxMessageBytes: 1024 * 1024,
      credit: 20,
      queueBufferMessages: 50,
      // every input comes from one address, so refusals would queue for seconds behind each
      // other, and a refusal not yet due holds its connection (on purpose): the count of
      // connections held after stop would measure the queue, not the listener
      loginFailureDelay: { initialMs: 0, maxMs: 0 },
    }),
  );
  // every message settled in turn: accepted, rejected, released, some a moment later
  let n = 0;
  await l.openSources([{ route: 'r', from: { address: ADDRESS } }], (d: InboundDelivery) => {
    const k = n++;
    const settle = (): void => {
      if (k % 3 === 0) d.settlement.accept();
      else if (k % 3 === 1) d.settlement.reject(new FerryError('SINK_REJECTED', 'fuzz says no', { permanent: true }));
      else d.settlement.release(new FerryError('NOT_CONNECTED', 'fuzz gives it back'));
    };
    if (k % 2 === 0) settle();
    else setImmediate(settle);
  });
  await l.start();
  return l;
}

/** Runs `body` on a fresh listener, then stops it; no error line may have been logged meanwhile. */
async function onListener(body: (l: Amqp10Listener) => Promise<void>): Promise<void> {
  const { logger, errors } = errorCountingLogger();
  const l = await newListener(logger);
  try {
    await body(l);
  } finally {
    await l.stop();
  }
  expect(errors).toEqual([]);
}

function open(l: Amqp10Listener): MemoryConnection {
  return openMemoryConnection((a) => l.accept(a));
}

/** A fresh listener for the connection fuzzer, its connections in memory. */
async function fuzzedListener(logger: Logger): Promise<FuzzedListener> {
  const l = await newListener(logger);
  return { open: () => open(l), close: () => l.stop() };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('amqp10-listener fuzz', () => {
  it('the corpus is valid: every seed, as captured, passes SASL and gets the open back, without a protocol error', async () => {
    await onListener(async (l) => {
        for (const seed of corpus) {
          const c = open(l);
          c.send(seed.bytes);
          for (let i = 0; i < 10; i++) await tick();
          const out = c.output();
          // the SASL header, sasl-mechanisms, sasl-outcome ok (code 0), the AMQP header, then an open
          const outcome = out.indexOf(Buffer.from([0x00, 0x53, 0x44]));
          // its first field is the code, a ubyte (0x50): 0 is ok (§5.3.3.6), in a list8 or list32
          const fields = outcome < 0 ? Buffer.alloc(0) : out.subarray(outcome + 3);
          const code = fields[0] === 0xc0 ? fields.subarray(3, 5) : fields.subarray(9, 11);
          expect({ seed: seed.name, sasl: out.subarray(0, 8).toString('latin1'), outcomeOk: code.equals(Buffer.from([0x50, 0x00])) }).toEqual({
            seed: seed.name,
            sasl: 'AMQP\x03\x01\x00\x00',
            outcomeOk: true,
          });
          expect(out.includes(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'))).toBe(true);
          expect(out.includes(Buffer.from([0x00, 0x53, 0x10]))).toBe(true);
          c.hangUp();
          expect(await c.closedWithin(CLOSE_WITHIN_MS)).toBe(true);
        }
    });
  });

  it('found by fuzzing: a client that pipelines its AMQP header and open behind its sasl-init, in one read, gets the open back (§5.3.2)', async () => {
    // the captured Proton stream fed in one read: a client that sends its AMQP header without
    // waiting for the sasl-outcome. Before, rhea's SASL reader swallowed the header while it was
    // still deciding on the sasl-init, and the connection hung with the client waiting for an open
    await onListener(async (l) => {
        const bytes = (corpus.find((s) => s.name === 'proton-sasl-anonymous-send.bin') as { bytes: Buffer }).bytes;
        const c = open(l);
        c.send(bytes);
        const openFrame = Buffer.from([0x00, 0x53, 0x10]);
        await waitFor(() => c.output().includes(openFrame), 'the open', 5_000, 5);
        expect(c.output().includes(Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'))).toBe(true);
        expect(c.output().includes(openFrame)).toBe(true);
        // and the attach that followed was answered: the link is routed
        expect(c.output().includes(Buffer.from([0x00, 0x53, 0x12]))).toBe(true);
        c.hangUp();
        expect(await c.closedWithin(CLOSE_WITHIN_MS)).toBe(true);
    });
  });

  it('found by fuzzing: PLAIN with an empty password ("\\0guest\\0", a null password from rhea) is refused with sasl-outcome auth; it was an unhandled rejection', async () => {
    const rejections: unknown[] = [];
    const onRejection = (e: unknown): void => void rejections.push(e);
    process.on('unhandledRejection', onRejection);
    try {
      await onListener(async (l) => {
        const c = open(l);
        // sasl-init (0x41): mechanism PLAIN, initial response 00 'guest' 00
        const response = Buffer.from('\0guest\0', 'latin1');
        const fields = Buffer.concat([Buffer.from([0xa3, 5]), Buffer.from('PLAIN'), Buffer.from([0xa0, response.length]), response]);
        const body = Buffer.concat([Buffer.from([0x00, 0x53, 0x41, 0xc0, fields.length + 1, 2]), fields]);
        const header = Buffer.alloc(8);
        header.writeUInt32BE(8 + body.length, 0);
        header.writeUInt8(2, 4); // doff
        header.writeUInt8(1, 5); // SASL frame
        c.send(Buffer.concat([Buffer.from('AMQP\x03\x01\x00\x00', 'latin1'), header, body]));
        const outcome = Buffer.from([0x00, 0x53, 0x44]);
        await waitFor(() => c.output().includes(outcome), 'the sasl-outcome', 5_000, 5);
        const out = c.output();
        const at = out.indexOf(outcome);
        expect(at).toBeGreaterThan(0);
        // sasl-outcome's first field, the code (a ubyte, 0x50): 1 = auth (§5.3.3.6)
        const f = out.subarray(at + 3);
        expect((f[0] === 0xc0 ? f.subarray(3, 5) : f.subarray(9, 11)).equals(Buffer.from([0x50, 0x01]))).toBe(true);
        c.hangUp();
        expect(await c.closedWithin(CLOSE_WITHIN_MS)).toBe(true);
      });
    } finally {
      process.off('unhandledRejection', onRejection);
    }
    expect(rejections).toEqual([]);
  });

  it('found by fuzzing: a SASL header after the AMQP header (§5.3.2 allows SASL first only) closes the connection; it hung, the sasl-init held for an answer rhea never gives', async () => {
    await onListener(async (l) => {
        const c = open(l);
        const sasl = (corpus.find((s) => s.name === 'proton-sasl-anonymous-send.bin') as { bytes: Buffer }).bytes;
        const init = sasl.subarray(0, sasl.indexOf(Buffer.from('AMQP\x00', 'latin1')));
        c.send(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), init]));
        // the server closes it itself, the client does not hang up
        expect(await c.closedWithin(CLOSE_WITHIN_MS)).toBe(true);
    });
  });

  it('mutated client streams (SASL, open, attach, transfer): no throw, no internal error, closed within 5 s of the hang-up, heap bounded', async () => {
    const r = await fuzzConnections({ corpus, tokens, listener: fuzzedListener });
    console.log(connectionFuzzSummary('amqp10-listener', corpus.length, r));
    expect(connectionFuzzFailures(r, HEAP_AFTER_STOP)).toEqual([]);
  }, 120_000);
});
