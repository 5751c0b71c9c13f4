/**
 * amqplib's connection muxer (lib/mux.js in amqplib 2.x): every channel's stream is read in turn
 * from a `setImmediate` and written to `out` (the socket, or the TurnWriter of batched-writes.ts);
 * `blocked` is set when a write to `out` returned false and cleared by the socket's 'drain'.
 */
export interface MuxInternals {
  blocked: boolean;
  readonly out: { write(chunk: Buffer): boolean };
}

/** a channel's stream: amqplib's PassThrough in object mode, one encoded frame set per object (lib/connection.js `freshChannel`) */
export interface ChannelStream {
  write(chunk: Buffer): boolean;
  readonly readableLength?: number;
  readonly writableLength?: number;
}

/** The muxer of amqplib's connection, when it has the shape {@link writeFrames} relies on. */
export function muxOf(connection: object): MuxInternals | undefined {
  const muxer: unknown = (connection as { muxer?: unknown }).muxer;
  if (typeof muxer !== 'object' || muxer === null) return undefined;
  const { blocked, out } = muxer as { blocked?: unknown; out?: unknown };
  if (typeof blocked !== 'boolean' || typeof out !== 'object' || out === null) return undefined;
  return typeof (out as { write?: unknown }).write === 'function' ? (muxer as MuxInternals) : undefined;
}

/**
 * Write a channel's frames (one publish, encoded whole) as amqplib's connection would, without
 * the trip through the channel's stream when that changes nothing: when the stream holds no frame
 * (so none of this channel's frames is waiting to go before these) and the muxer is not blocked,
 * the muxer would read these frames next and write them to `out`; they are written to `out` now.
 * AMQP 0-9-1 orders frames within a channel only (§4.2.6: a channel's frames are not interleaved
 * and keep their order; the muxer interleaves channels by whole frame sets either way).
 *
 * Flow control stays amqplib's: the channel's stream would have taken the frames below its
 * high-water mark, so the caller is told true; when `out` refuses more (false), the muxer is
 * marked blocked, as its own write would have marked it, so the next frames wait in the channel's
 * stream, whose fill gives the channel's own false and 'drain', and the muxer resumes on the
 * socket's 'drain'. Otherwise (frames waiting, muxer blocked, a stream without those lengths) the
 * frames go into the channel's stream as amqplib writes them.
 */
export function writeFrames(mux: MuxInternals | undefined, stream: ChannelStream, frames: Buffer): boolean {
  if (mux !== undefined && !mux.blocked && stream.readableLength === 0 && stream.writableLength === 0) {
    if (!mux.out.write(frames)) mux.blocked = true;
    return true;
  }
  return stream.write(frames);
}
