/**
 * A counting semaphore for SENDs awaiting their RECEIPT. @stomp/stompjs' `publish()` has no
 * backpressure at all, so this window is what bounds the frames (and memory) in flight.
 * Waiters are served in order.
 */
export class InflightWindow {
  readonly #limit: number;
  #used = 0;
  readonly #waiters: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  get used(): number {
    return this.#used;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  acquire(): Promise<void> {
    if (this.#used < this.#limit) {
      this.#used++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    // The slot passes straight to the next waiter: `used` stays the same.
    if (next !== undefined) next();
    else this.#used = Math.max(0, this.#used - 1);
  }
}
