import type { ChannelModel } from 'amqplib';
import { TurnWriter } from '@ferry/net';
import type { Writable } from 'node:stream';

/**
 * The parts of amqplib's connection this needs (lib/connection.js, lib/mux.js in amqplib 2.x):
 * the connection's `muxer` writes every channel's frames to `muxer.out`, the socket, one
 * `out.write(chunk)` per publish, all in one pass of a `setImmediate`.
 */
interface MuxLike {
  out: { write(chunk: Uint8Array): boolean };
}

function muxOf(model: ChannelModel): { mux: MuxLike; stream: Writable } | undefined {
  const conn: unknown = (model as { connection?: unknown }).connection;
  if (typeof conn !== 'object' || conn === null) return undefined;
  const { muxer, stream } = conn as { muxer?: unknown; stream?: unknown };
  if (typeof muxer !== 'object' || muxer === null) return undefined;
  const out: unknown = (muxer as { out?: unknown }).out;
  if (out === undefined || out !== stream) return undefined;
  const s = stream as Partial<Writable>;
  if (typeof s.write !== 'function' || typeof s.cork !== 'function' || typeof s.uncork !== 'function') return undefined;
  return { mux: muxer as MuxLike, stream: stream as Writable };
}

/**
 * The publishes amqplib writes in one pass leave in one system call: its muxer's output goes
 * through a TurnWriter (corked on the first write of a turn, uncorked on the next tick) instead
 * of one `write(2)` per publish (13 % of Ferry's CPU on the path MQTT → RabbitMQ in the
 * benchmark profile, docs/benchmarks-log.md). `Writable.write`'s return value still reaches the
 * muxer, so it stops at the socket's high-water mark and waits for 'drain' as before; frames
 * amqplib writes past the muxer (acks, channel methods) join the same corked buffer in the order
 * they were written, and `end()` uncorks. Returns false (and changes nothing) when the amqplib
 * in use is not shaped as expected; a unit test checks that it is.
 */
export function batchWrites(model: ChannelModel): boolean {
  const found = muxOf(model);
  if (found === undefined) return false;
  const writer = new TurnWriter(found.stream);
  found.mux.out = { write: (chunk: Uint8Array) => writer.write(chunk) };
  return true;
}
