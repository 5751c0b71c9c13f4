import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import rhea from 'rhea';
import { dataSection } from '../test/rhea-message.js';
import { FrameGuard } from './frame-guard.js';
import { readTransferFrame, takeHanded, takeHandedTransfers, TransferPerformative, type RheaFrame } from './rhea-transfer-frame.js';

const require = createRequire(import.meta.url);
// frames as rhea's own sender writes them (lib/session.js Outgoing.process, lib/connection.js _write_open)
const frames = require('rhea/lib/frames.js') as {
  write_frame(f: unknown): Buffer;
  amqp_frame(channel: number, performative: unknown, payload?: Buffer): unknown;
  transfer(f: Record<string, unknown>): unknown;
  open(f: Record<string, unknown>): unknown;
};

/** A server-side guard past the AMQP header and the client's open, and the violations it reports. */
function guarded(maxMessageBytes: number): { socket: PassThrough; passed: Buffer[]; violations: string[] } {
  const socket = new PassThrough();
  const guard = new FrameGuard(socket, { role: 'server', maxFrameSize: 64 * 1024, maxMessageBytes, containerId: 'ferry-test', requireSasl: false });
  const passed: Buffer[] = [];
  const violations: string[] = [];
  guard.on('data', (b: Buffer) => passed.push(b));
  guard.on('violation', (condition: string) => violations.push(condition));
  socket.emit('data', Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));
  socket.emit('data', frames.write_frame(frames.amqp_frame(0, frames.open({ container_id: 'client' }))));
  return { socket, passed, violations };
}

function transfer(fields: Record<string, unknown>, payload: Buffer): Buffer {
  return frames.write_frame(frames.amqp_frame(0, frames.transfer({ handle: 0, delivery_id: 0, delivery_tag: Buffer.from([0]), message_format: 0, ...fields }), payload));
}

describe('frame guard: the more, aborted and batchable fields of a transfer (§2.7.5)', () => {
  const big = rhea.message.encode({ body: dataSection(Buffer.alloc(2000, 1)) });

  it('a last frame marked batchable is summed and checked like any other: over maxMessageBytes closes the connection', () => {
    const g = guarded(1000);
    g.socket.emit('data', transfer({ batchable: true }, big));
    expect(g.violations).toEqual(['amqp:link:message-size-exceeded']);
  });

  it('an aborted delivery (field 9) drops what its frames carried: the next delivery on the link starts from nothing', () => {
    const g = guarded(3000);
    const half = big.subarray(0, 1500);
    g.socket.emit('data', transfer({ more: true }, half));
    g.socket.emit('data', transfer({ more: false, aborted: true }, Buffer.alloc(0)));
    // 2,000-odd bytes: within 3,000 alone, over it with the aborted 1,500 still counted
    g.socket.emit('data', transfer({ delivery_id: 1, delivery_tag: Buffer.from([1]) }, big));
    expect(g.violations).toEqual([]);
    expect(Buffer.concat(g.passed).includes(big)).toBe(true);
  });
});

describe("frame guard: a transfer's performative read once, for the guard and for rhea (handOn)", () => {
  it("hands rhea's read_frame each transfer it passes on, read as rhea reads it, for exactly those bytes and once; nothing is left after the pass", () => {
    takeHandedTransfers();
    const s = new PassThrough();
    const guard = new FrameGuard(s, { role: 'server', maxFrameSize: 64 * 1024, maxMessageBytes: undefined, containerId: 'ferry-test', requireSasl: false });
    const seen: { handed: (RheaFrame | undefined)[]; again: RheaFrame | undefined; copy: RheaFrame | undefined; reference: unknown[] } = { handed: [], again: undefined, copy: undefined, reference: [] };
    guard.on('data', (b: Buffer) => {
      // as rhea's transport cuts the frames (lib/transport.js read: buffer.slice by each size)
      for (let at = 0; at + 8 <= b.length; ) {
        const size = b.readUInt32BE(at);
        const frame = b.subarray(at, at + size);
        if (frame[10] === 0x14) {
          seen.copy ??= takeHanded(Buffer.from(frame));
          const handed = takeHanded(frame);
          seen.handed.push(handed);
          seen.again ??= takeHanded(frame);
          seen.reference.push(readTransferFrame(frame));
        }
        at += size;
      }
    });
    s.emit('data', Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));
    s.emit('data', frames.write_frame(frames.amqp_frame(0, frames.open({ container_id: 'client' }))));
    const payload = rhea.message.encode({ body: 'x' });
    s.emit('data', Buffer.concat([transfer({}, payload), transfer({ delivery_id: 1, delivery_tag: Buffer.from('t1'), more: true }, payload.subarray(0, 2)), transfer({ delivery_id: 1, more: false }, payload.subarray(2))]));
    expect(seen.copy).toBeUndefined();
    expect(seen.again).toBeUndefined();
    expect(seen.handed.map((f) => f?.performative)).toEqual(seen.reference.map((f) => (f as RheaFrame).performative));
    expect(seen.handed.every((f) => f?.performative instanceof TransferPerformative)).toBe(true);
    expect(seen.handed.map((f) => f?.payload)).toEqual(seen.reference.map((f) => (f as RheaFrame).payload));
    // dropped once rhea has read the pass: a frame at the same place later is read from its bytes
    expect(takeHanded(transfer({}, payload))).toBeUndefined();
  });
});
