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
 * (Writable.end uncorks).
 */
export class TurnWriter {
  readonly #stream: Writable;
  #corked = false;

  constructor(stream: Writable) {
    this.#stream = stream;
  }

  /** Writes `chunk`; the return value is `Writable.write`'s (false: above the high-water mark, wait for 'drain'). */
  write(chunk: Uint8Array): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.#stream.cork();
      // a shared function with the writer as its argument: no closure per writer (10,000 idle
      // devices hold 10,000 writers) and none per turn
      process.nextTick(flushWriter, this);
    }
    return this.#stream.write(chunk);
  }

  /** Sends what this turn wrote now. Idempotent; the next write corks again. */
  flush(): void {
    if (!this.#corked) return;
    this.#corked = false;
    // `end()` may already have uncorked it (it resets the count): uncork only what is still held
    if (this.#stream.writableCorked > 0) this.#stream.uncork();
  }
}

function flushWriter(w: TurnWriter): void {
  w.flush();
}
