import { writePlainAck, type AckCommand } from './packet-fast.js';

/** Where a connection's joined acknowledgements go: its writer, in order with its other packets. */
export interface AckOutlet {
  /** write the acknowledgements joined since the last flush, unless the connection is closed */
  writeAcks(bytes: Buffer): void;
}

/**
 * The acknowledgements with reason Success (4 bytes each, MQTT 3.1.1 §3.4, MQTT 5 §3.4.2.1) one
 * connection sends in one turn of the event loop, joined into one buffer and written once the
 * poll phase has run every read of the turn (setImmediate), instead of a buffer, a stream write
 * and a writev entry each. Publishes are settled in the turn of their own read and in the turns
 * of the subscribers' reads that free room for them (room-wait.ts): all of one poll phase leave
 * in one write, and nothing waits for a timer.
 *
 * The connection flushes it before any other packet it writes, so the client reads every packet
 * in the order Ferry sent it (§4.6: PUBACKs in the order of their PUBLISH packets).
 */
export class AckBatch {
  readonly #outlet: AckOutlet;
  /** the buffer this turn's acknowledgements are written into; a new one each turn (the last went to the stream) */
  #bytes: Buffer | undefined;
  #length = 0;
  /** the size of the next turn's buffer: what the last turn wrote (at least 64 bytes), so it is seldom grown */
  #capacity = 64;

  constructor(outlet: AckOutlet) {
    this.#outlet = outlet;
  }

  /** an acknowledgement of packet `id` (0..65535) */
  add(cmd: AckCommand, id: number): void {
    let b = this.#bytes;
    const at = this.#length;
    if (b === undefined) {
      b = this.#bytes = Buffer.allocUnsafe(this.#capacity);
      PENDING.push(this);
      if (PENDING.length === 1) setImmediate(flushPending);
    } else if (at + 4 > b.length) {
      const grown = Buffer.allocUnsafe(2 * b.length);
      b.copy(grown, 0, 0, at);
      b = this.#bytes = grown;
    }
    writePlainAck(b, at, cmd, id);
    this.#length = at + 4;
  }

  /** hand what was joined to the connection now (before another packet of it, or its close) */
  flush(): void {
    const b = this.#bytes;
    if (b === undefined) return;
    const n = this.#length;
    this.#bytes = undefined;
    this.#length = 0;
    this.#capacity = Math.max(64, n);
    this.#outlet.writeAcks(b.subarray(0, n));
  }
}

/** the batches with acknowledgements of this turn, flushed together by one setImmediate */
const PENDING: AckBatch[] = [];

function flushPending(): void {
  // a flush may add to a batch again (a write that settles a publish), which then comes in the next turn
  const batches = PENDING.splice(0);
  for (const b of batches) b.flush();
}
