import { FerryError } from './errors.js';

/**
 * The one in-flight semaphore of Ferry's sinks: bounds the writes awaiting the far side's
 * confirmation (MQTT PUBACK/PUBCOMP, STOMP RECEIPT) on one connection. Up to `max` hold a slot;
 * up to `maxWaiting` more (default: as many again) wait for one, in order; past that a write
 * fails at once with LIMIT_EXCEEDED (transient, so the engine retries it later), so nothing
 * queues without bound.
 */
export class InflightLimit {
  readonly #max: number;
  readonly #maxWaiting: number;
  #used = 0;
  readonly #waiters: { readonly resolve: (release: () => void) => void; readonly reject: (err: FerryError) => void }[] = [];

  constructor(max: number, maxWaiting: number = max) {
    if (!Number.isInteger(max) || max < 1) throw new FerryError('CONFIG_INVALID', `an in-flight limit must be a positive integer, got ${max}`, { permanent: true });
    this.#max = max;
    this.#maxWaiting = Math.max(0, maxWaiting);
  }

  get max(): number {
    return this.#max;
  }

  /** slots held now (never above max) */
  get used(): number {
    return this.#used;
  }

  /** writes waiting for a slot (never above maxWaiting) */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Resolves with the function that gives the slot back; calling it more than once gives it back
   * once. Rejects with LIMIT_EXCEEDED when `maxWaiting` writes wait already.
   */
  acquire(): Promise<() => void> {
    if (this.#used < this.#max) {
      this.#used++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#waiters.length >= this.#maxWaiting) {
      return Promise.reject(
        new FerryError('LIMIT_EXCEEDED', `more than ${this.#max} writes awaiting confirmation and ${this.#maxWaiting} waiting`, {
          permanent: false,
          details: { max: this.#max, maxWaiting: this.#maxWaiting },
        }),
      );
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Fail every waiting write with `err` (the connection is going away); held slots stay held until released. */
  failAll(err: FerryError): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiters.shift();
      // the slot passes straight to the next waiter: used stays the same
      if (next !== undefined) next.resolve(this.#releaser());
      else this.#used--;
    };
  }
}
