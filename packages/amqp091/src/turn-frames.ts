import { writeFrames, type ChannelStream, type MuxInternals } from './channel-write.js';
import { PUBLISH_ROOM } from './publish-frames.js';

/**
 * The size of the buffer publishes are encoded into, one after another: a turn's publishes that
 * fit in it leave in one write.
 */
const SLAB = 64 * 1024;

/** What {@link TurnFrames} needs of amqplib's channel and connection (amqplib-publish.ts). */
export interface ChannelOut {
  /** the channel's number, which the frames carry */
  readonly channel: number;
  /** the connection's muxer, undefined when it has not the expected shape */
  readonly mux: MuxInternals | undefined;
  /** the channel's stream while the channel is open; undefined once it is closed */
  stream(): ChannelStream | undefined;
  /** mark the connection's `sentSinceLastCheck` for the heartbeat, as amqplib's `sendMessage` does */
  sent(): void;
}

/**
 * The publishes of one channel encoded into one buffer, and written together at the end of the
 * turn (process.nextTick, before any I/O) as one chunk: one write to the socket's writer per turn
 * instead of one per publish, whose corked socket kept an entry per chunk until its `writev`, and
 * no buffer of their own per publish. The publishes are encoded one after another into a slab
 * of {@link SLAB} bytes; a turn's region of it is written as one view, and a slab with too little
 * room left for one more publish is written and replaced (the socket keeps the views it has not
 * written yet, the slab with them).
 *
 * The order and the flow control are {@link writeFrames}'s: the frames wait here only while the
 * channel's stream is empty and the muxer not blocked, which only this writer's own write or
 * amqplib's writes on this channel change, so every other path writes what waits here first
 * ({@link flush}): a publish that finds the stream holding frames or the muxer blocked, a publish
 * amqplib encodes (publisher.ts), the channel's close. AMQP 0-9-1 §4.2.6: a channel's frames keep
 * their order; the muxer interleaves channels by whole writes either way. When a write goes into
 * the channel's stream and the stream is full, `onFull` is called (the publisher then waits for
 * the channel's 'drain').
 */
export class TurnFrames {
  readonly #out: ChannelOut;
  readonly #onFull: () => void;
  #slab: Buffer = Buffer.allocUnsafe(SLAB);
  /** the start of the frames not yet written */
  #start = 0;
  /** the end of the frames encoded */
  #end = 0;

  constructor(out: ChannelOut, onFull: () => void) {
    this.#out = out;
    this.#onFull = onFull;
  }

  get channel(): number {
    return this.#out.channel;
  }

  /** where the next publish is encoded: {@link buffer} from this offset */
  get at(): number {
    return this.#end;
  }

  /** the buffer the next publish is encoded into, from {@link at}, with room for one publish written whole (publish-frames.ts PUBLISH_ROOM) */
  buffer(): Buffer {
    if (this.#slab.length - this.#end < PUBLISH_ROOM) {
      this.flush();
      this.#slab = Buffer.allocUnsafe(SLAB);
      this.#start = 0;
      this.#end = 0;
    }
    return this.#slab;
  }

  /**
   * The publish encoded into {@link buffer} from {@link at} to `end` is written: at the end of
   * the turn, or now when the channel's stream or the muxer holds frames back. Returns what
   * the channel's stream would (false: wait for the channel's 'drain'), or undefined, having
   * written nothing, once the channel is closed: amqplib's own `publish` then throws as it does
   * for a closed channel.
   */
  commit(end: number): boolean | undefined {
    const out = this.#out;
    const stream = out.stream();
    if (stream === undefined) return undefined;
    const waiting = this.#start !== this.#end;
    this.#end = end;
    const mux = out.mux;
    if (mux !== undefined && !mux.blocked && stream.readableLength === 0 && stream.writableLength === 0) {
      if (!waiting) process.nextTick(flushTurn, this);
      return true;
    }
    return this.#write(stream);
  }

  /** Write what waits now: before amqplib writes on the channel, and at the end of the turn. */
  flush(): void {
    if (this.#start === this.#end) return;
    const stream = this.#out.stream();
    if (stream === undefined) {
      // the channel closed: its unconfirmed publishes fail with it (publisher.ts)
      this.#start = this.#end;
      return;
    }
    if (!this.#write(stream)) this.#onFull();
  }

  #write(stream: ChannelStream): boolean {
    const frames = this.#slab.subarray(this.#start, this.#end);
    this.#start = this.#end;
    this.#out.sent();
    return writeFrames(this.#out.mux, stream, frames);
  }
}

function flushTurn(frames: TurnFrames): void {
  frames.flush();
}
