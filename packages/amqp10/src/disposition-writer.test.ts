import { createRequire } from 'node:module';
import { prng } from '@ferry/testkit';
import { scanValue } from './bounded-scan.js';
import { writeDispositions, type DispositionFrames, type SettledDelivery } from './disposition-writer.js';
import { EncodedFrame } from './encoded-frame.js';

interface Read {
  readonly performative: { readonly role: unknown; readonly first: number; readonly last?: number; readonly settled?: unknown; readonly state?: { readonly descriptor: { readonly value: unknown }; readonly value: unknown } };
}

const require = createRequire(import.meta.url);
const frames = require('rhea/lib/frames.js') as DispositionFrames & { write_frame(f: unknown): Buffer; amqp_frame(channel: number, performative: unknown): unknown; read_frame(b: Buffer): Read };
const message = require('rhea/lib/message.js') as { accepted(): { described(): unknown }; released(): { described(): unknown }; rejected(f: unknown): { described(): unknown }; modified(f: unknown): { described(): unknown } };

/** A delivery state as rhea's deliveries get it, by outcome name. */
function state(kind: string, i: number): unknown {
  if (kind === 'accepted') return message.accepted().described();
  if (kind === 'released') return message.released().described();
  if (kind === 'rejected') return message.rejected({ error: { condition: 'amqp:not-allowed', description: `no ${i}` } }).described();
  if (kind === 'modified') return message.modified({ delivery_failed: true }).described();
  return undefined;
}

/** Every frame written, as bytes: the encoded ones as they are, rhea's through its own writer. */
function written(deliveries: SettledDelivery[]): Buffer[] {
  const out: Buffer[] = [];
  writeDispositions(deliveries, { output: (p) => out.push(p instanceof EncodedFrame ? p.bytes : frames.write_frame(frames.amqp_frame(0, p))) }, frames);
  return out;
}

/** What the peer reads: per delivery id, its outcome (descriptor and fields) and settled, as rhea reads the frames. */
function settledById(bytes: Buffer[]): Map<number, string> {
  const by = new Map<number, string>();
  for (const b of bytes) {
    // the frame holds the performative and nothing else: its list's sizes are what its fields take (§1.6.22)
    expect(b.readUInt32BE(0)).toBe(b.length);
    expect(scanValue(b.subarray(8))).toBe(b.length - 8);
    const p = frames.read_frame(b).performative;
    expect(p.role).toBe(true);
    for (let id = p.first; id <= (p.last ?? p.first); id++) {
      expect(by.has(id)).toBe(false);
      by.set(id, JSON.stringify({ state: p.state === undefined ? null : [p.state.descriptor.value, p.state.value], settled: p.settled === true }));
    }
  }
  return by;
}

const expected = (d: SettledDelivery): string => {
  const s = d.state as { descriptor: { value: unknown }; value: unknown } | undefined;
  return JSON.stringify({ state: s === undefined ? null : [s.descriptor.value, JSON.parse(JSON.stringify(s.value)) as unknown], settled: d.settled === true });
};

describe('disposition writer: each delivery keeps its own outcome (§2.7.6, §3.4)', () => {
  it('gives every delivery of generated passes exactly its own outcome and settled flag, and ranges only runs of one fieldless outcome', () => {
    const rand = prng(26);
    const kinds = ['accepted', 'accepted', 'accepted', 'released', 'rejected', 'modified', 'none'];
    let ranged = 0;
    for (let pass = 0; pass < 2000; pass++) {
      const deliveries: SettledDelivery[] = [];
      let id = Math.floor(rand() * 3) === 0 ? 0 : Math.floor(rand() * 2 ** 32 - 100);
      const n = 1 + Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) {
        // mostly the next id, sometimes a gap (deliveries settled out of order)
        id += rand() < 0.8 ? 1 : 2 + Math.floor(rand() * 300);
        const d = { id, settled: rand() < 0.9, state: state(kinds[Math.floor(rand() * kinds.length)] as string, i) };
        deliveries.push(d);
        // rhea lists a delivery twice when it was updated twice in a pass
        if (rand() < 0.05) deliveries.push(d);
      }
      const bytes = written(deliveries);
      expect(settledById(bytes)).toEqual(new Map(deliveries.map((d) => [d.id as number, expected(d)])));
      // one frame per run of consecutive ids with one settled flag and one of accepted, released, no state
      let runs = 0;
      for (let i = 0; i < deliveries.length; i++) {
        const d = deliveries[i] as SettledDelivery;
        const prev = deliveries[i - 1];
        if (prev === d) continue;
        const k = expected(d);
        const mergeable = !k.includes('"state":[37') && !k.includes('"state":[39');
        if (prev !== undefined && mergeable && d.id === (prev.id as number) + 1 && expected(prev) === k) continue;
        runs++;
      }
      expect(bytes.length).toBe(runs);
      if (runs < deliveries.length) ranged++;
    }
    expect(ranged).toBeGreaterThan(500);
  });

  it("writes the fields rhea writes for one accepted range, one released delivery and one with no state, as rhea's reader reads them (a list8 where rhea writes a list32)", () => {
    const cases: [SettledDelivery[], Record<string, unknown>][] = [
      [[0, 1, 2].map((id) => ({ id, settled: true, state: state('accepted', 0) })), { first: 0, last: 2, settled: true, state: state('accepted', 0) }],
      [[{ id: 70_000, settled: false, state: state('released', 0) }], { first: 70_000, last: 70_000, settled: false, state: state('released', 0) }],
      [[{ id: 255, settled: true, state: undefined }, { id: 256, settled: true, state: undefined }], { first: 255, last: 256, settled: true }],
    ];
    for (const [deliveries, fields] of cases) {
      const rheas = frames.write_frame(frames.amqp_frame(0, frames.disposition({ role: true, ...fields } as Parameters<DispositionFrames['disposition']>[0])));
      const fieldsOf = (b: Buffer): string => {
        const p = frames.read_frame(b).performative;
        return JSON.stringify([p.role, p.first, p.last, p.settled, p.state?.descriptor.value, p.state?.value]);
      };
      expect(written(deliveries).map(fieldsOf)).toEqual([fieldsOf(rheas)]);
    }
  });
});
