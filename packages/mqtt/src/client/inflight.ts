import { FerryError } from '@ferry/core';

/**
 * Bounds the QoS 1/2 publishes awaiting PUBACK/PUBCOMP on one connection. Writers beyond the
 * limit wait, up to as many again; past that they fail at once with LIMIT_EXCEEDED (transient),
 * so nothing queues without bound.
 */
export class InflightLimit {
  readonly #max: number;
  #used = 0;
  readonly #waiters: { resolve: (release: () => void) => void; reject: (err: FerryError) => void }[] = [];

  constructor(max: number) {
    this.#max = max;
  }

  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with the function that gives the slot back (call it exactly once). */
  acquire(): Promise<() => void> {
    if (this.#used < this.#max) {
      this.#used++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#waiters.length >= this.#max) {
      return Promise.reject(new FerryError('LIMIT_EXCEEDED', `more than ${this.#max} publishes awaiting acknowledgement and ${this.#max} waiting`));
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  failAll(err: FerryError): void {
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  #releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.#waiters.shift();
      // the slot passes straight to the next waiter
      if (next !== undefined) next.resolve(this.#releaser());
      else this.#used--;
    };
  }
}
