import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import rhea from 'rhea';
import { dataSection } from '../test/rhea-message.js';
import { FrameGuard } from './frame-guard.js';

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
