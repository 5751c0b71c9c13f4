import type { Writable } from 'node:stream';

/** How a {@link TurnWriter} hands a turn's writes to its stream. */
export interface TurnWriterOptions {
  /**
   * the stream is a stream of bytes (TCP, TLS), not of messages: a turn's small writes may be
   * joined into one chunk
   */
  readonly join?: boolean;
}

/** with `join`, writes up to this size are copied into the turn's buffer; larger ones are the stream's own chunks */
const JOIN_COPY_MAX = 1024;
/** a turn's first buffer is at least this large: a few packets of a quiet turn share it */
const JOIN_BUFFER_MIN = 512;
/**
 * and at most this large: below half of `Buffer.poolSize` (8 KiB), so it is a slice of Node's
 * shared pool, not an allocation of its own (a turn per packet then costs what a Buffer per
 * packet did). A larger turn goes on in buffers twice its size so far.
 */
const JOIN_FIRST_MAX = 4095;
/** a turn's buffer is at most this large (a larger turn gets another); a reservation larger than it gets its own */
const JOIN_BUFFER_MAX = 64 * 1024;

/**
 * The writes of one event-loop turn leave in one system call.
 *
 * A gateway answers in bursts: one RabbitMQ `basic.ack multiple` settles a batch of messages in
 * one turn, and each of them writes a PUBACK, a RECEIPT or a disposition; a publish to a topic
 * writes one packet per subscriber. Written one by one to a socket with TCP_NODELAY, every packet
 * is its own `write(2)` and its own TCP segment (one syscall per packet was a fifth of Ferry's CPU
 * in the benchmark profile, docs/benchmarks-log.md). The first write of a turn corks the stream;
 * `process.nextTick` uncorks it, which runs after the current operation and its microtasks (the
 * promise chains that produced the settlements) but before any I/O or timer: nothing waits for a
 * timer, so TCP_NODELAY keeps its latency, and a net.Socket flushes the corked chunks with one
 * `writev`. Streams without a `_writev` (a WebSocket stream) still get every chunk, in order.
 *
 * `flush()` uncorks at once: call it before `destroy()` (which discards what is buffered) so the
 * last packets of a turn (a DISCONNECT, an ERROR frame) are not lost. `end()` flushes by itself
 * (Writable.end uncorks), except text from {@link writeText}: call `flush()` before `end()`.
 *
 * On a byte stream, small packets written as text ({@link writeText}) are joined: the texts of a
 * turn become one string and one buffer, written before the next `write` or at the flush. A
 * corked `Writable.write` per packet keeps an entry per chunk in the stream's buffer and hands
 * each to `writev`; for a turn of STOMP RECEIPTs that cost 10,000 instructions more per RECEIPT
 * than the joined text (docs/benchmarks-log.md, session 24).
 *
 * On a byte stream made with `join` (TCP, TLS), a turn's small packets are not handed to the
 * stream one by one either: they are copied (or encoded in place, {@link reserve}) into one
 * buffer, which reaches the stream as one chunk. Each corked `Writable.write` costs an entry in
 * the stream's buffer, its callback, and a slot in `writev`'s array: per packet, that was as much
 * as the packet's encoding on the mqtt-listener's delivery path (docs/benchmarks-log.md, session 28).
 * The buffer is made for the turn (the first within Node's shared pool, sized from the writer's
 * previous turn; a larger turn goes on in larger ones) and let go of at the flush: an idle writer
 * holds none. `end()` does not see it: call `flush()` before `end()`.
 */
export class TurnWriter {
  readonly #stream: Writable;
  readonly #join: boolean;
  #corked = false;
  /** text written in this turn and not yet handed to the stream, in order */
  #text = '';
  /** this turn's buffer (with `join`): bytes [#start, #end) are written and not yet handed to the stream */
  #buffer: Buffer | undefined;
  #start = 0;
  #end = 0;
  /** bytes joined in this turn so far, and in the previous one (the size of the next turn's first buffer) */
  #turnBytes = 0;
  #lastTurnBytes = 0;

  constructor(stream: Writable, options?: TurnWriterOptions) {
    this.#stream = stream;
    this.#join = options?.join === true;
  }

  /** Writes `chunk`; the return value is `Writable.write`'s (false: above the high-water mark, wait for 'drain'). */
  write(chunk: Uint8Array): boolean {
    if (this.#join && chunk.length <= JOIN_COPY_MAX) {
      const at = this.reserve(chunk.length);
      (this.#buffer as Buffer).set(chunk, at);
      return this.#stream.writableLength + this.pending < this.#stream.writableHighWaterMark;
    }
    if (!this.#corked) this.#cork();
    else this.#handOver();
    return this.#stream.write(chunk);
  }

  /**
   * Room for `size` bytes in this turn's joined buffer ({@link buffer}), at the offset returned:
   * the caller writes them there at once, before its next call to this writer. Only with `join`.
   */
  reserve(size: number): number {
    if (!this.#corked) this.#cork();
    else if (this.#text !== '') this.#writeText();
    const buffer = this.#buffer;
    if (buffer === undefined || buffer.length - this.#end < size) this.#newBuffer(size);
    const at = this.#end;
    this.#end = at + size;
    this.#turnBytes += size;
    return at;
  }

  /** the buffer the last {@link reserve} gave an offset into */
  get buffer(): Buffer {
    return this.#buffer as Buffer;
  }

  /** bytes written in this turn and not yet handed to the stream (not in its `writableLength`) */
  get pending(): number {
    return this.#end - this.#start + this.#text.length;
  }

  /**
   * Writes `text` as UTF-8, joined with the text written next to it in this turn into one buffer.
   * Only for a stream of bytes (TCP, TLS): on a stream of messages (WebSocket) each write is one
   * message, so write each packet with {@link write} there. The text reaches the stream at the
   * next `write` or at the flush, so backpressure shows on the writes after it.
   */
  writeText(text: string): void {
    if (!this.#corked) this.#cork();
    else this.#writeJoined();
    this.#text += text;
  }

  /** Sends what this turn wrote now. Idempotent; the next write corks again. */
  flush(): void {
    if (!this.#corked) return;
    this.#handOver();
    this.#buffer = undefined;
    this.#start = this.#end = 0;
    this.#lastTurnBytes = this.#turnBytes;
    this.#turnBytes = 0;
    this.#corked = false;
    // `end()` may already have uncorked it (it resets the count): uncork only what is still held
    if (this.#stream.writableCorked > 0) this.#stream.uncork();
  }

  #cork(): void {
    this.#corked = true;
    this.#stream.cork();
    // a shared function with the writer as its argument: no closure per writer (10,000 idle
    // devices hold 10,000 writers) and none per turn
    process.nextTick(flushWriter, this);
  }

  /**
   * the turn's next buffer, for at least `size` bytes: the first as large as the previous turn's
   * bytes (within Node's pool), the next ones twice this turn's so far (what the one before held
   * goes to the stream first)
   */
  #newBuffer(size: number): void {
    this.#writeJoined();
    const guess = this.#turnBytes === 0 ? Math.min(JOIN_FIRST_MAX, Math.max(JOIN_BUFFER_MIN, this.#lastTurnBytes)) : Math.min(JOIN_BUFFER_MAX, 2 * this.#turnBytes);
    this.#buffer = Buffer.allocUnsafe(Math.max(size, guess));
    this.#start = this.#end = 0;
  }

  /** what the turn wrote and the stream does not have yet, to the stream, in order */
  #handOver(): void {
    if (this.#text !== '') this.#writeText();
    this.#writeJoined();
  }

  #writeJoined(): void {
    const start = this.#start;
    const end = this.#end;
    if (end === start) return;
    this.#start = end;
    // ended or destroyed in this turn: what it still held is not written (as with write)
    if (this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#stream.write((this.#buffer as Buffer).subarray(start, end));
  }

  #writeText(): void {
    const text = this.#text;
    this.#text = '';
    // ended or destroyed in this turn: what it still held is not written (as with write)
    if (this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#stream.write(Buffer.from(text, 'utf8'));
  }
}

function flushWriter(w: TurnWriter): void {
  w.flush();
}
