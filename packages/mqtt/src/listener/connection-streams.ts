import type { Duplex } from 'node:stream';

/** What a connection does with the events of its stream. */
export interface StreamOwner {
  /** bytes from the client */
  received(chunk: Buffer): void;
  /** the stream failed (its 'close' follows) */
  streamError(err: Error): void;
  /** the stream's unsent data fell below its high-water mark */
  streamDrained(): void;
  /** the stream closed; called once, after the table let go of the connection */
  streamClosed(): void;
}

/**
 * The open connections of one listener, by their stream, and the listeners on those streams.
 *
 * Every stream gets the same four functions for 'data', 'error', 'drain' and 'close' (the stream
 * as `this`, its connection found here) instead of four closures and their context per
 * connection: with 10,000 idle devices those were about 200 bytes of heap each, where one entry
 * in this table costs a slot of its hash table.
 */
export class ConnectionStreams<C extends StreamOwner> {
  readonly #byStream = new Map<Duplex, C>();
  readonly #onData: (this: Duplex, chunk: Buffer) => void;
  readonly #onError: (this: Duplex, err: Error) => void;
  readonly #onDrain: (this: Duplex) => void;
  readonly #onClose: (this: Duplex) => void;

  /** `onRemoved`: a connection left the table (its stream closed); the count is the table's size after it */
  constructor(onRemoved: (count: number) => void) {
    const byStream = this.#byStream;
    this.#onData = function (this: Duplex, chunk: Buffer): void {
      byStream.get(this)?.received(chunk);
    };
    this.#onError = function (this: Duplex, err: Error): void {
      byStream.get(this)?.streamError(err);
    };
    this.#onDrain = function (this: Duplex): void {
      byStream.get(this)?.streamDrained();
    };
    this.#onClose = function (this: Duplex): void {
      const c = byStream.get(this);
      if (c === undefined) return;
      byStream.delete(this);
      onRemoved(byStream.size);
      c.streamClosed();
    };
  }

  get size(): number {
    return this.#byStream.size;
  }

  /** the open connections (a live view: copy it before closing them) */
  values(): IterableIterator<C> {
    return this.#byStream.values();
  }

  /** Keep `conn` until `stream` closes, and hand it the stream's events. */
  add(stream: Duplex, conn: C): void {
    this.#byStream.set(stream, conn);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
    stream.on('data', this.#onData);
    // the session stops writing to a socket with too much unsent data (session.ts WRITE_HIGH_WATER)
    stream.on('drain', this.#onDrain);
  }
}
