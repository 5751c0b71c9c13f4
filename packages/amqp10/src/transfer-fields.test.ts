import { createRequire } from 'node:module';
import { prng } from '@ferry/testkit';
import { scanValue } from './bounded-scan.js';
import { described, encode, type AmqpValue } from './codec.js';
import { decodeTransferFields, readTransferFields, type TransferFields } from './transfer-fields.js';

/** The general path's answer, or the error it throws. */
function general(body: Buffer): TransferFields | 'throws' {
  try {
    return decodeTransferFields(body);
  } catch {
    return 'throws';
  }
}

/** A field of a transfer (§2.7.5) in one of the encodings senders use, or one the fast path leaves to the decoder. */
function field(rand: () => number): AmqpValue {
  const pick = Math.floor(rand() * 12);
  const n = Math.floor(rand() * 2 ** 32);
  switch (pick) {
    case 0:
      return { type: 'null' };
    case 1:
      return { type: 'boolean', value: rand() < 0.5 };
    case 2:
      return { type: 'uint', value: 0 };
    case 3:
      return { type: 'uint', value: n & 0xff };
    case 4:
      return { type: 'uint', value: n };
    case 5:
      return { type: 'ubyte', value: n & 0xff };
    case 6:
      return { type: 'binary', value: Buffer.alloc(n % 40, n & 0xff) };
    case 7:
      return { type: 'ulong', value: BigInt(n) };
    case 8:
      return described(0x24, { type: 'list', value: [] }); // accepted (§3.4.2): a delivery state
    case 9:
      return { type: 'string', value: 'x'.repeat(n % 5) };
    case 10:
      return { type: 'int', value: n | 0 };
    default:
      return { type: 'symbol', value: 's' };
  }
}

function transfer(rand: () => number): Buffer {
  const count = Math.floor(rand() * 12);
  return encode(described(0x14, { type: 'list', value: Array.from({ length: count }, () => field(rand)) }));
}

/** The same list written as list32 (§1.6.22), which encoders may use at any size. */
function asList32(body: Buffer): Buffer | undefined {
  if (body[3] !== 0xc0) return undefined;
  const size = body[4] as number;
  const count = body[5] as number;
  const head = Buffer.alloc(9);
  head[0] = 0xd0;
  head.writeUInt32BE(size - 1 + 3, 1);
  head.writeUInt32BE(count, 5);
  return Buffer.concat([body.subarray(0, 3), head, body.subarray(6)]);
}

describe('transfer fields: the fast read against the general decoder', () => {
  it('agrees with the decoder on every generated transfer, list8 and list32, and on every mutation of them that still scans', () => {
    const rand = prng(14);
    let fast = 0;
    let checked = 0;
    for (let i = 0; i < 3000; i++) {
      const body = transfer(rand);
      const bodies = [body, asList32(body)].filter((b): b is Buffer => b !== undefined);
      // one byte changed anywhere, twice per body: other codes, sizes and counts
      for (const b of [...bodies]) {
        for (let k = 0; k < 2; k++) {
          const m = Buffer.from(b);
          m[Math.floor(rand() * m.length)] = Math.floor(rand() * 256);
          bodies.push(m);
        }
      }
      for (const b of bodies) {
        try {
          scanValue(b);
        } catch {
          continue; // the guard fails such a frame before it reads any field
        }
        checked++;
        const read = readTransferFields(b);
        if (read === undefined) continue;
        fast++;
        expect({ bytes: b.toString('hex'), fields: read }).toEqual({ bytes: b.toString('hex'), fields: general(b) });
      }
    }
    // the fast path must actually be taken (and the decoder kept for the rest)
    expect(fast).toBeGreaterThan(checked / 10);
    expect(fast).toBeLessThan(checked);
  });

  it('reads the transfers rhea writes, more and aborted included, without the decoder', () => {
    const require = createRequire(import.meta.url);
    // what rhea's sender writes (lib/session.js Outgoing.process: frames.transfer, then write_frame)
    const frames = require('rhea/lib/frames.js') as { write_frame(f: unknown): Buffer; amqp_frame(channel: number, performative: unknown, payload?: Buffer): unknown; transfer(f: Record<string, unknown>): unknown };
    const cases: Record<string, unknown>[] = [
      { handle: 0, delivery_id: 0, delivery_tag: Buffer.from([0]), message_format: 0, settled: false },
      { handle: 7, delivery_id: 70_000, delivery_tag: Buffer.from('tag-1'), message_format: 0, settled: true, more: true },
      { handle: 300, delivery_id: 2 ** 31, delivery_tag: Buffer.alloc(32, 1), message_format: 0, more: false, aborted: true },
      // batchable is the field after aborted: it does not abort anything
      { handle: 1, delivery_id: 5, delivery_tag: Buffer.from('b'), message_format: 0, settled: false, more: false, aborted: false, batchable: true },
      { handle: 2, delivery_id: 6, delivery_tag: Buffer.from('c'), message_format: 0, more: true, aborted: true, batchable: false },
    ];
    for (const c of cases) {
      const frame = frames.write_frame(frames.amqp_frame(0, frames.transfer(c), Buffer.from([0x00, 0x53, 0x75, 0xa0, 0x00])));
      const body = frame.subarray(frame[4]! * 4);
      const end = scanValue(body);
      const perf = body.subarray(0, end);
      const read = readTransferFields(perf);
      expect(read).toEqual({ handle: c.handle, more: c.more === true, aborted: c.aborted === true });
      expect(read).toEqual(general(perf));
    }
  });
});
