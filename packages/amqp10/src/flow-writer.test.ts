import { createRequire } from 'node:module';
import { prng } from '@ferry/testkit';
import { scanValue } from './bounded-scan.js';
import { EncodedFrame } from './encoded-frame.js';
import { writeFlow, type FlowLink, type FlowSession } from './flow-writer.js';
import { rheaWriteFlow } from './rhea-seam.js';

const require = createRequire(import.meta.url);
const frames = require('rhea/lib/frames.js') as { write_frame(f: unknown): Buffer; amqp_frame(channel: number, performative: unknown): unknown; read_frame(b: Buffer): { performative: Record<string, unknown> } };
const FIELDS = ['next_incoming_id', 'incoming_window', 'next_outgoing_id', 'outgoing_window', 'handle', 'delivery_count', 'link_credit', 'available', 'drain', 'echo', 'properties'];

/** A session and maybe a link in a generated state; what one flow writes, as rhea's reader reads it, and the session's max_transfer_id after. */
function run(write: (this: FlowSession, link?: FlowLink) => void, seed: number): string {
  const rand = prng(seed);
  const u32 = (): number => [0, 1, 255, 256, 0xffffffff][Math.floor(rand() * 5)] ?? Math.floor(rand() * 2 ** 32);
  const out: Buffer[] = [];
  const session: FlowSession = {
    // rhea's ids grow without wrapping; >>> 0 takes them into a uint
    incoming: { next_transfer_id: rand() < 0.2 ? 2 ** 32 + u32() : u32(), window: Math.floor(rand() * 2049), max_transfer_id: 0 },
    outgoing: { next_transfer_id: u32(), window: rand() < 0.5 ? 0xffffffff : u32() },
    output: (p) => out.push(p instanceof EncodedFrame ? p.bytes : frames.write_frame(frames.amqp_frame(0, p))),
  };
  const drain = rand() < 0.3;
  const link: FlowLink | undefined = rand() < 0.2 ? undefined : { _get_drain: () => drain, delivery_count: u32(), local: { handle: Math.floor(rand() * 300) }, credit: u32() };
  write.call(session, link);
  // the frame holds the performative and nothing else: its list's sizes are what its fields take (§1.6.22)
  const frame = out[0] as Buffer;
  expect(frame.readUInt32BE(0)).toBe(frame.length);
  expect(scanValue(frame.subarray(8))).toBe(frame.length - 8);
  const p = frames.read_frame(out[0] as Buffer).performative;
  return JSON.stringify({ frames: out.length, fields: FIELDS.map((f) => `${f}=${String(p[f])}`), max: session.incoming.max_transfer_id });
}

describe('flow writer: the flow frame from bytes (§2.7.4)', () => {
  it("writes the fields rhea's _write_flow writes, as rhea's reader reads them, for sessions and links in generated states", () => {
    const rhea = rheaWriteFlow();
    expect(rhea).not.toBe(writeFlow);
    for (let seed = 1; seed <= 3000; seed++) expect(run(writeFlow, seed)).toEqual(run(rhea, seed));
  });
});
