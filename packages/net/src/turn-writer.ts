import type { Writable } from 'node:stream';

/**
 * The writes of one event-loop turn leave in one system call.
 *
 * A gateway answers in bursts: one RabbitMQ `basic.ack multiple` settles a batch of messages in
 * one turn, and each of them writes a PUBACK, a RECEIPT or a disposition; a publish to a topic
 * writes one packet per subscriber. Written one by one to a socket with TCP_NODELAY, every packet
 * is its own `write(2)` and its own TCP segment (one syscall per packet was a fifth of Ferry's CPU
 * in the benchmark profile, docs/benchmarks.md). The first write of a turn corks the stream;
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
 * than the joined text (docs/benchmarks.md, session 24).
 */
export class TurnWriter {
  readonly #stream: Writable;
  #corked = false;
  /** text written in this turn and not yet handed to the stream, in order */
  #text = '';

  constructor(stream: Writable) {
    this.#stream = stream;
  }

  /** Writes `chunk`; the return value is `Writable.write`'s (false: above the high-water mark, wait for 'drain'). */
  write(chunk: Uint8Array): boolean {
    if (!this.#corked) this.#cork();
    else if (this.#text !== '') this.#writeText();
    return this.#stream.write(chunk);
  }

  /**
   * Writes `text` as UTF-8, joined with the text written next to it in this turn into one buffer.
   * Only for a stream of bytes (TCP, TLS): on a stream of messages (WebSocket) each write is one
   * message, so write each packet with {@link write} there. The text reaches the stream at the
   * next `write` or at the flush, so backpressure shows on the writes after it.
   */
  writeText(text: string): void {
    if (!this.#corked) this.#cork();
    this.#text += text;
  }

  /** Sends what this turn wrote now. Idempotent; the next write corks again. */
  flush(): void {
    if (!this.#corked) return;
    if (this.#text !== '') this.#writeText();
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
