import { createRequire } from 'node:module';
import { prng } from '@ferry/testkit';
import { scanValue } from './bounded-scan.js';
import { readTransferFrame, TransferPerformative, type RheaFrame } from './rhea-transfer-frame.js';

interface RheaRead {
  readonly size: number;
  readonly type: number;
  readonly channel: number;
  readonly performative?: Record<string, unknown> & { dispatch(target: Record<string, (f: unknown) => void>, frame: unknown): void };
  readonly payload?: Buffer;
}

const require = createRequire(import.meta.url);
// rhea's own reader, as its transport calls it (this test does not install the seam)
const frames = require('rhea/lib/frames.js') as { read_frame(b: Buffer): RheaRead };
const FIELDS = ['handle', 'delivery_id', 'delivery_tag', 'message_format', 'settled', 'more', 'rcv_settle_mode', 'state', 'resume', 'aborted', 'batchable'];

/** A value with its JavaScript type, so 1 and true, null and undefined, differ. */
const shown = (v: unknown): string => `${v === null ? 'null' : typeof v}:${Buffer.isBuffer(v) ? v.toString('hex') : String(v)}`;

/** What a performative dispatches to, by the name of the handler called. */
function dispatched(p: { dispatch(target: Record<string, (f: unknown) => void>, frame: unknown): void }, frame: unknown): string {
  let called = '';
  const target = new Proxy({}, { get: (_t, name) => (f: unknown) => void (called = `${String(name)}:${f === frame}`) });
  p.dispatch(target, frame);
  return called;
}

function view(f: RheaRead | RheaFrame): Record<string, unknown> {
  const p = f.performative as unknown as Record<string, unknown>;
  return {
    size: f.size,
    type: f.type,
    channel: f.channel,
    fields: FIELDS.map((n) => `${n}=${shown(p[n])}`),
    payload: 'payload' in f ? shown(f.payload) : 'none',
    dispatch: dispatched(f.performative as unknown as RheaRead['performative'] & object, f),
  };
}

/** One field, in an encoding of §1.6: the ones read from the bytes and some left to rhea. */
function field(rand: () => number): Buffer {
  const n = Math.floor(rand() * 2 ** 32);
  const u32 = Buffer.alloc(4);
  u32.writeUInt32BE(n);
  switch (Math.floor(rand() * 14)) {
    case 0:
      return Buffer.from([0x40]);
    case 1:
      return Buffer.from([rand() < 0.5 ? 0x41 : 0x42]);
    case 2:
      // the one-byte boolean, which rhea reads as its byte: 0, 1, and a byte it does not check
      return Buffer.from([0x56, Math.floor(rand() * 3)]);
    case 3:
      return Buffer.from([0x43]);
    case 4:
      return Buffer.from([0x52, n & 0xff]);
    case 5:
      return Buffer.concat([Buffer.from([0x70]), u32]);
    case 6:
      return Buffer.from([0x50, n & 0xff]);
    case 7:
      return Buffer.concat([Buffer.from([0xa0, n % 40]), Buffer.alloc(n % 40, n & 0xff)]);
    case 8: {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(n % 300);
      return Buffer.concat([Buffer.from([0xb0]), len, Buffer.alloc(n % 300, 3)]);
    }
    case 9:
      return Buffer.from([0x00, 0x53, 0x24, 0x45]); // accepted (§3.4.2): a delivery state
    case 10:
      return Buffer.concat([Buffer.from([0x80]), u32, u32]); // ulong
    case 11:
      return Buffer.from([0xa1, 0x01, 0x78]); // str8
    case 12:
      return Buffer.from([0x44]); // ulong0
    default:
      return Buffer.from([0x54, n & 0xff]); // smallint
  }
}

/** A whole frame: header (doff 2, type 0, a channel), 0x00 0x53 0x14, the list, maybe a payload. */
function frame(rand: () => number): Buffer {
  const count = Math.floor(rand() * 13);
  const items = Buffer.concat(Array.from({ length: count }, () => field(rand)));
  let list: Buffer;
  const form = rand();
  if (count === 0 && form < 0.3) list = Buffer.from([0x45]);
  else if (form < 0.7 && items.length + 1 <= 255) list = Buffer.concat([Buffer.from([0xc0, items.length + 1, count]), items]);
  else {
    const head = Buffer.alloc(9);
    head[0] = 0xd0;
    head.writeUInt32BE(items.length + 4, 1);
    head.writeUInt32BE(count, 5);
    list = Buffer.concat([head, items]);
  }
  const payload = rand() < 0.2 ? Buffer.alloc(0) : Buffer.alloc(Math.floor(rand() * 50), 0x75);
  const header = Buffer.alloc(8);
  header[4] = 2;
  header.writeUInt16BE(Math.floor(rand() * 3), 6);
  const f = Buffer.concat([header, Buffer.from([0x00, 0x53, 0x14]), list, payload]);
  f.writeUInt32BE(f.length, 0);
  return f;
}

function scans(body: Buffer): boolean {
  try {
    scanValue(body);
    return true;
  } catch {
    return false;
  }
}

describe('rhea transfer frame: read from the bytes against rhea', () => {
  it("gives rhea's values (types included) for every generated transfer frame and every one-byte mutation of them it reads", () => {
    const rand = prng(23);
    let fast = 0;
    let checked = 0;
    for (let i = 0; i < 4000; i++) {
      const f = frame(rand);
      const all = [f];
      for (let k = 0; k < 3; k++) {
        const m = Buffer.from(f);
        // the size field stays: the transport cuts frames by it
        m[4 + Math.floor(rand() * (m.length - 4))] = Math.floor(rand() * 256);
        all.push(m);
      }
      for (const b of all) {
        // the frame guard fails a frame whose performative does not scan before rhea reads it
        // (rhea would allocate the count a mutated list announces)
        const doff = (b[4] as number) * 4;
        if (doff >= 8 && doff < b.length && !scans(b.subarray(doff))) continue;
        let reference: RheaRead;
        try {
          reference = frames.read_frame(b);
        } catch {
          // rhea throws on it: the reader must leave it to rhea, which then throws as before
          expect({ hex: b.toString('hex'), read: readTransferFrame(b) }).toEqual({ hex: b.toString('hex'), read: undefined });
          continue;
        }
        checked++;
        const read = readTransferFrame(b);
        if (read === undefined) continue;
        fast++;
        expect({ hex: b.toString('hex'), ...view(read) }).toEqual({ hex: b.toString('hex'), ...view(reference) });
      }
    }
    // the bytes are read for many frames (a sixth of them here), and rhea's reader kept for the rest
    expect(fast).toBeGreaterThan(checked / 10);
    expect(fast).toBeLessThan(checked);
  });

  it("reads the transfer frames rhea's sender writes, as rhea reads them", () => {
    const w = require('rhea/lib/frames.js') as { write_frame(f: unknown): Buffer; amqp_frame(channel: number, performative: unknown, payload?: Buffer): unknown; transfer(f: Record<string, unknown>): unknown };
    const cases: Record<string, unknown>[] = [
      { handle: 0, delivery_id: 0, delivery_tag: Buffer.from('0'), message_format: 0, settled: false, more: false },
      { handle: 7, delivery_id: 70_000, delivery_tag: Buffer.from('tag-1'), message_format: 0, settled: true, more: true },
      { handle: 300, delivery_id: 2 ** 31, delivery_tag: Buffer.alloc(300, 1), message_format: 0x80013700, more: false, aborted: true },
      { handle: 1, more: true },
    ];
    for (const c of cases) {
      const b = w.write_frame(w.amqp_frame(1, w.transfer(c), Buffer.from([0x00, 0x53, 0x75, 0xa0, 0x01, 0x07])));
      const read = readTransferFrame(b);
      expect(read?.performative).toBeInstanceOf(TransferPerformative);
      expect(view(read as RheaFrame)).toEqual(view(frames.read_frame(b)));
    }
  });
});
