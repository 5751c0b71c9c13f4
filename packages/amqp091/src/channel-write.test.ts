import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { muxOf, writeFrames, type MuxInternals } from './channel-write.js';

// amqplib's own connection and muxer: the test checks the installed version still has the shape
// writeFrames relies on. amqplib is pinned for this reliance: read docs/architecture.md,
// "Library seams", before touching the pin.
const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
interface AmqplibConnection {
  channels: ({ buffer: PassThrough } | undefined | null)[];
  muxer: object;
  freshChannel(channel: { onBufferDrain(): void }, options?: { highWaterMark?: number }): number;
}
const { Connection } = require(join(lib, 'connection.js')) as { Connection: new (s: Duplex) => AmqplibConnection };

/** a socket that records every chunk; with `hold`, it completes each write only when told (its 'drain' then) */
function socket(highWaterMark: number, hold: boolean): { s: Duplex; written: string[]; complete: () => void } {
  const written: string[] = [];
  const callbacks: (() => void)[] = [];
  const s = new Duplex({
    writableHighWaterMark: highWaterMark,
    read: () => undefined,
    write: (chunk: Buffer, _e, cb: () => void) => {
      written.push(chunk.toString());
      if (hold) callbacks.push(cb);
      else cb();
    },
  });
  const complete = (): void => {
    for (let cb = callbacks.shift(); cb !== undefined; cb = callbacks.shift()) cb();
  };
  return { s, written, complete };
}

function setup(socketHighWaterMark: number, channelHighWaterMark = 1024) {
  // a socket with room completes its writes at once; a small one holds them
  const sock = socket(socketHighWaterMark, socketHighWaterMark < 100);
  const conn = new Connection(sock.s);
  const drains: number[] = [];
  const ch = conn.freshChannel({ onBufferDrain: () => drains.push(ch) }, { highWaterMark: channelHighWaterMark });
  const stream = conn.channels[ch]!.buffer;
  const mux = muxOf(conn);
  if (mux === undefined) throw new Error('amqplib\'s muxer is not shaped as writeFrames relies on: see docs/architecture.md, "Library seams"');
  return { ...sock, conn, stream, mux, drains };
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));
const frames = (s: string): Buffer => Buffer.from(s);

describe('writeFrames (a channel\'s frames past its stream)', () => {
  it('writes to the socket at once when the channel\'s stream is empty and the muxer not blocked', () => {
    const { stream, mux, written } = setup(1 << 20);
    expect(writeFrames(mux, stream, frames('a'))).toBe(true);
    expect(writeFrames(mux, stream, frames('b'))).toBe(true);
    expect(written).toEqual(['a', 'b']);
    expect(stream.readableLength).toBe(0);
  });

  it('puts frames behind the channel\'s frames still in its stream, in order', async () => {
    const { stream, mux, written } = setup(1 << 20);
    // a method frame amqplib wrote into the channel's stream (lib/connection.js sendMethod)
    stream.write(frames('method'));
    expect(writeFrames(mux, stream, frames('p1'))).toBe(true);
    expect(written).toEqual([]);
    // the stream's 'readable' (a tick), then the muxer's pass (an immediate)
    while (stream.readableLength > 0) await immediate();
    expect(written).toEqual(['method', 'p1']);
    // read empty again: past the stream
    writeFrames(mux, stream, frames('p2'));
    expect(written).toEqual(['method', 'p1', 'p2']);
  });

  it('keeps amqplib\'s flow control: a full socket blocks the muxer, frames wait in the channel\'s stream, whose fill and drain the channel sees', async () => {
    const { stream, mux, written, complete, drains, s } = setup(4, 2);
    // 5 bytes against a high-water mark of 4: the socket refuses more
    expect(writeFrames(mux, stream, frames('12345'))).toBe(true);
    expect((mux).blocked).toBe(true);
    expect(writeFrames(mux, stream, frames('x'))).toBe(true);
    expect(writeFrames(mux, stream, frames('y'))).toBe(true);
    // the channel stream's own high-water mark (2 frames each side, as amqplib's at 1,024): the
    // channel is told to wait, as amqplib's publish tells it
    expect(writeFrames(mux, stream, frames('z'))).toBe(false);
    await immediate();
    expect(written).toEqual(['12345']);
    expect(drains).toEqual([]);
    // the socket drains: the muxer writes what waited, in order, and the channel's stream drains
    const drained = new Promise((r) => s.once('drain', r));
    complete();
    await drained;
    for (let i = 0; i < 5 && drains.length === 0; i++) {
      complete();
      await immediate();
    }
    expect(written).toEqual(['12345', 'x', 'y', 'z']);
    expect(drains).toHaveLength(1);
    expect(mux.blocked).toBe(false);
    // and once the stream is read empty, past it again
    writeFrames(mux, stream, frames('after'));
    expect(written).toEqual(['12345', 'x', 'y', 'z', 'after']);
  });

  it('writes into the channel\'s stream without a muxer, or with a stream that has no lengths', () => {
    const { stream, written } = setup(1 << 20);
    expect(writeFrames(undefined, stream, frames('a'))).toBe(true);
    expect(written).toEqual([]);
    expect(stream.readableLength).toBe(1);
    const plain: Buffer[] = [];
    const mux: MuxInternals = { blocked: false, out: { write: () => true } };
    writeFrames(mux, { write: (b) => plain.push(b) > 0 }, frames('b'));
    expect(plain).toHaveLength(1);
  });

  it('finds no muxer in a connection of another shape', () => {
    expect(muxOf({})).toBeUndefined();
    expect(muxOf({ muxer: { blocked: 'no', out: { write: () => true } } })).toBeUndefined();
    expect(muxOf({ muxer: { blocked: false, out: {} } })).toBeUndefined();
  });
});
