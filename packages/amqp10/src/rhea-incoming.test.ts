import { createRequire } from 'node:module';
import { jest } from '@jest/globals';
import rhea from 'rhea';
import { DIRECT, onTransfer, type IncomingInternals, type ReceiverInternals, type TransferFrameIn } from './rhea-incoming.js';
import { rheaIncomingPrototype } from './rhea-seam.js';

const require = createRequire(import.meta.url);
const Session = require('rhea/lib/session.js') as new (connection: object, channel: number) => { incoming: IncomingInternals & Record<string, unknown> };
// rhea's own function: this test installs nothing
const rheaOnTransfer = rheaIncomingPrototype().on_transfer;

interface Seen {
  readonly name: string;
  readonly ctx: { message?: unknown; delivery?: Record<string, unknown>; format?: unknown };
}

/** A receiver with what rhea's Incoming reads and writes (lib/link.js), recording what it dispatches. */
function receiver(credit: number, rcvSettleMode: number, open = true): ReceiverInternals & { seen: Seen[]; connection: { _register(): void } } {
  const seen: Seen[] = [];
  return {
    seen,
    connection: { _register: () => undefined },
    is_remote_open: () => open,
    _incomplete: undefined,
    credit,
    delivery_count: 0,
    local: { attach: { rcv_settle_mode: rcvSettleMode } },
    _context: (c) => ({ ...c, receiver: 'r' }),
    dispatch: (name, ctx) => seen.push({ name, ctx: ctx as Seen['ctx'] }),
  };
}

const shown = (v: unknown): unknown => (Buffer.isBuffer(v) ? `buf:${v.toString('hex')}` : v === undefined ? 'undefined' : JSON.parse(JSON.stringify(v)) as unknown);

function delivery(d: Record<string, unknown>): Record<string, unknown> {
  return {
    id: d.id,
    tag: shown(d.tag),
    format: d.format,
    settled: d.settled,
    state: shown(d.state),
    remote_settled: d.remote_settled,
    remote_state: shown(d.remote_state),
    incomplete: d.incomplete,
    frames: d.frames === undefined ? 'none' : (d.frames as unknown[]).map(shown),
    methods: ['update', 'accept', 'release', 'reject', 'modified'].map((m) => typeof d[m]),
  };
}

/** Every transfer through one implementation; the state and events it leaves, and what settling each delivery queues. */
function run(impl: typeof onTransfer, frames: readonly TransferFrameIn[], credit: number, mode: number, open = true, direct = false): unknown {
  const incoming = new Session({}, 0).incoming;
  const r = receiver(credit, mode, open);
  // a receiver of receiveDirect: what its handler is given, recorded as the event rhea would dispatch for a message-format other than 0
  if (direct) r[DIRECT] = (d, data) => r.seen.push({ name: 'message', ctx: r._context(d.format === 0 ? { message: data, delivery: d } : { message: data, delivery: d, format: d.format }) as Seen['ctx'] });
  const errors: string[] = [];
  for (const f of frames) {
    try {
      impl.call(incoming, f, r);
    } catch (e) {
      errors.push(String(e));
    }
  }
  const state = {
    next_transfer_id: incoming.next_transfer_id,
    next_delivery_id: incoming.next_delivery_id,
    window: incoming.window,
    credit: r.credit,
    delivery_count: r.delivery_count,
    incomplete: r._incomplete === undefined ? 'none' : delivery(r._incomplete as unknown as Record<string, unknown>),
    errors,
    events: r.seen.map((s) => ({ name: s.name, message: shown(s.ctx.message), format: s.ctx.format, keys: Object.keys(s.ctx).sort(), delivery: delivery(s.ctx.delivery ?? {}) })),
  };
  // each way of settling, on each delivery in turn, as the session's Incoming queues it
  const settles = r.seen.map((s, i) => {
    const d = s.ctx.delivery as unknown as Record<string, (...a: unknown[]) => void>;
    const ways = [() => d.accept!(), () => d.release!(), () => d.release!({ delivery_failed: true }), () => d.reject!({ condition: 'amqp:x' }), () => d.modified!({ undeliverable_here: true }), () => d.update!(undefined, undefined), () => d.update!(true, undefined), () => d.update!(null, 'st')];
    ways[i % ways.length]!();
    return delivery(d);
  });
  const updated = (incoming.updated as Record<string, unknown>[]).map((d) => ({ id: d.id, settled: d.settled, state: shown(d.state) }));
  return { state, settles, updated };
}

/** `run`'s result with every delivery's tag as an untagged delivery shows it */
function withoutTags(result: unknown): unknown {
  const r = structuredClone(result) as { state: { incomplete: unknown; events: { delivery: Record<string, unknown> }[] }; settles: Record<string, unknown>[] };
  const untag = (d: unknown): void => {
    if (typeof d === 'object' && d !== null && 'tag' in d) (d as Record<string, unknown>).tag = 'undefined';
  };
  untag(r.state.incomplete);
  for (const e of r.state.events) untag(e.delivery);
  for (const d of r.settles) untag(d);
  return r;
}

const body = (n: number): Buffer => rhea.message.encode({ message_id: `m${n}`, body: rhea.message.data_section(Buffer.alloc(n, n)) as unknown });
const transfer = (fields: TransferFrameIn['performative'], payload?: Buffer): TransferFrameIn => (payload === undefined ? { performative: fields } : { performative: fields, payload });

describe("rhea incoming: IncomingDelivery against rhea's Incoming.on_transfer", () => {
  const scenarios: Record<string, { frames: TransferFrameIn[]; credit?: number; mode?: number; open?: boolean }> = {
    'single-frame unsettled and pre-settled transfers': {
      frames: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => transfer({ delivery_id: i, delivery_tag: Buffer.from(`t${i}`), message_format: 0, settled: i % 3 === 0 ? true : i % 3 === 1 ? false : undefined, more: false }, body(i))),
    },
    'a message over three frames, the later ones without id, then one more': {
      frames: [
        transfer({ delivery_id: 4, delivery_tag: Buffer.from('a'), message_format: 0, settled: false, more: true }, body(40).subarray(0, 10)),
        transfer({ more: true }, body(40).subarray(10, 20)),
        transfer({ delivery_id: 4, more: false }, body(40).subarray(20)),
        transfer({ delivery_id: 5, delivery_tag: Buffer.from('b'), message_format: 0, more: false }, body(5)),
      ],
    },
    'a frame without payload in the middle of a message': {
      frames: [transfer({ delivery_id: 0, delivery_tag: Buffer.from('a'), message_format: 0, more: true }, body(9).subarray(0, 4)), transfer({ more: true }), transfer({ more: false }, body(9).subarray(4))],
    },
    'a message-format other than 0 (not decoded) and a delivery state': {
      frames: [transfer({ delivery_id: 0, delivery_tag: Buffer.from('x'), message_format: 0x80013700, settled: false, state: { value: 1 } }, Buffer.from([1, 2, 3]))],
    },
    'credit running out (rhea prints, takes the transfer)': {
      credit: 1,
      frames: [0, 1].map((i) => transfer({ delivery_id: i, delivery_tag: Buffer.from([i]), message_format: 7 }, Buffer.from([i]))),
    },
    'rcv-settle-mode second': { mode: 1, frames: [0, 1, 2, 3, 4, 5, 6, 7].map((i) => transfer({ delivery_id: i, delivery_tag: Buffer.from([i]), message_format: 3 }, Buffer.from([i]))) },
    'sequence errors: an id out of order, another id while a message is incomplete': {
      frames: [
        transfer({ delivery_id: 0, delivery_tag: Buffer.from('a'), message_format: 3 }, Buffer.from([0])),
        transfer({ delivery_id: 5, delivery_tag: Buffer.from('b'), message_format: 3 }, Buffer.from([1])),
        transfer({ delivery_id: 1, delivery_tag: Buffer.from('c'), message_format: 3, more: true }, Buffer.from([2])),
        transfer({ delivery_id: 2, more: false }, Buffer.from([3])),
      ],
    },
    'a transfer on a link the peer detached': { open: false, frames: [transfer({ delivery_id: 0, delivery_tag: Buffer.from('a'), message_format: 3 }, Buffer.from([0]))] },
    'no delivery id at all': { frames: [transfer({ delivery_tag: Buffer.from('a'), message_format: 3 }, Buffer.from([0])), transfer({ delivery_tag: Buffer.from('b'), message_format: 3 }, Buffer.from([0]))] },
  };
  for (const [name, s] of Object.entries(scenarios)) {
    it(`leaves the session, the link, the events and the settlements as rhea does: ${name}`, () => {
      const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      try {
        const mine = run(onTransfer, s.frames, s.credit ?? 100, s.mode ?? 0, s.open);
        const calls = printed.mock.calls.length;
        const theirs = run(rheaOnTransfer, s.frames, s.credit ?? 100, s.mode ?? 0, s.open);
        expect(mine).toEqual(theirs);
        // rhea's print for a transfer without credit, as often
        expect(calls * 2).toBe(printed.mock.calls.length);
      } finally {
        printed.mockRestore();
      }
    });
    it(`a receiver of receiveDirect is handed each delivery and its bytes, with rhea's bookkeeping and no decode: ${name}`, () => {
      const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
      // rhea's own, with its decode returning the bytes it is given: the message a direct receiver gets
      const decode = jest.spyOn(rhea.message, 'decode').mockImplementation((b: Buffer) => b);
      try {
        const mine = run(onTransfer, s.frames, s.credit ?? 100, s.mode ?? 0, s.open, true);
        expect(decode).not.toHaveBeenCalled();
        const theirs = run(rheaOnTransfer, s.frames, s.credit ?? 100, s.mode ?? 0, s.open);
        // everything as rhea leaves it, except that a direct receiver's deliveries keep no tag
        expect(mine).toEqual(withoutTags(theirs));
      } finally {
        decode.mockRestore();
        printed.mockRestore();
      }
    });
  }
});
