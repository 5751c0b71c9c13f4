import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import type { ChannelModel } from 'amqplib';
import { batchWrites } from './batched-writes.js';

// amqplib's own classes, as `connect()` builds them: the test checks the installed version still
// has the shape batchWrites relies on, and that its publishes then leave in one write per turn.
// amqplib is pinned for this reliance: read docs/architecture.md, "Library seams", before
// touching the pin.
const SEE = 'the amqplib seam (packages/amqp091/src/batched-writes.ts) no longer holds; see docs/architecture.md, "Library seams"';
function holds(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what}: ${SEE}`);
}
const require = createRequire(import.meta.url);
// not in amqplib's `exports`: found next to its entry point
const lib = join(dirname(require.resolve('amqplib')), 'lib');
const { Connection } = require(join(lib, 'connection.js')) as { Connection: new (s: Duplex) => { muxer: { pipeFrom(r: PassThrough): void } } };
const { ChannelModel: Model } = require(join(lib, 'channel_model.js')) as { ChannelModel: new (c: unknown) => ChannelModel };

/** The socket side: records each call that would be one system call (`_write` or `_writev`). */
function countingSocket(): { socket: Duplex; calls: string[][] } {
  const calls: string[][] = [];
  const socket = new Duplex({
    read() {
      // the peer never sends: the test only counts the writes
    },
    write(chunk: Buffer, _e, cb) {
      calls.push([chunk.toString()]);
      cb();
    },
    writev(chunks, cb) {
      calls.push(chunks.map((c) => Buffer.from(c.chunk as Uint8Array).toString()));
      cb();
    },
  });
  return { socket, calls };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function publishThroughMux(batched: boolean): Promise<string[][]> {
  const { socket, calls } = countingSocket();
  const connection = new Connection(socket);
  const model = new Model(connection);
  if (batched) holds(batchWrites(model), 'batchWrites did not recognise amqplib\'s connection');
  // a channel's outgoing frames, as amqplib's Channel pipes them into the connection's muxer
  const channel = new PassThrough({ objectMode: true });
  connection.muxer.pipeFrom(channel);
  for (const f of ['p1', 'p2', 'p3', 'p4']) channel.write(Buffer.from(f));
  // the muxer writes from a setImmediate; the TurnWriter uncorks on the tick after it
  await turn();
  await turn();
  socket.destroy();
  return calls;
}

describe('batchWrites (amqplib muxer)', () => {
  it('the publishes of one pass leave in one write, in order', async () => {
    const calls = await publishThroughMux(true);
    holds(calls.length === 1, `the publishes of one pass left in ${calls.length} writes`);
    expect(calls).toEqual([['p1', 'p2', 'p3', 'p4']]);
  });

  it('without it amqplib writes each publish on its own (what the seam changes)', async () => {
    expect(await publishThroughMux(false)).toEqual([['p1'], ['p2'], ['p3'], ['p4']]);
  });

  it('leaves a model it does not recognise alone', () => {
    expect(batchWrites({} as ChannelModel)).toBe(false);
  });
});
