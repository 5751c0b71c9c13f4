/**
 * Failed logins slow down per client address: the refusal of the n-th failure in a row from one
 * address waits `initialMs × 2^(n-1)`, at most `maxMs`, so guessing passwords from one address
 * costs time that grows with every wrong guess, while a user who mistyped once waits a moment.
 * A success from the address, or `forgetMs` without a failure, clears its count.
 *
 * Refusals to one address are also spaced out one after the other: a failure that comes while
 * earlier refusals of the address are still waiting is answered its delay after the last of
 * them. Guessing over many parallel connections therefore goes no faster than over one.
 *
 * The table is bounded: at most `maxAddresses` entries; the address that failed longest ago
 * makes room for a new one (Map keeps insertion order, and an address that fails again moves to
 * the end), so an attacker with many addresses cannot grow Ferry's memory.
 */
export interface SlowDownOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly forgetMs: number;
  readonly maxAddresses: number;
}

export const DEFAULT_SLOW_DOWN: SlowDownOptions = { initialMs: 200, maxMs: 10_000, forgetMs: 15 * 60_000, maxAddresses: 10_000 };

interface Entry {
  failures: number;
  last: number;
  /** when the latest refusal scheduled for this address is sent */
  nextAt: number;
}

export class FailureSlowDown {
  readonly #opts: SlowDownOptions;
  readonly #now: () => number;
  readonly #table = new Map<string, Entry>();

  constructor(opts: SlowDownOptions = DEFAULT_SLOW_DOWN, now: () => number = Date.now) {
    this.#opts = opts;
    this.#now = now;
  }

  /** addresses tracked now (never more than maxAddresses) */
  get size(): number {
    return this.#table.size;
  }

  /** failures counted for `address` (0 when none, or forgotten) */
  failures(address: string): number {
    const e = this.#table.get(address);
    if (e === undefined) return 0;
    if (this.#now() - e.last > this.#opts.forgetMs) {
      this.#table.delete(address);
      return 0;
    }
    return e.failures;
  }

  /** Count one failure from `address`; returns how long to wait before refusing it (ms). */
  fail(address: string): number {
    const now = this.#now();
    const failures = this.failures(address) + 1;
    const previous = this.#table.get(address);
    this.#table.delete(address);
    while (this.#table.size >= this.#opts.maxAddresses) {
      const oldest = this.#table.keys().next();
      if (oldest.done === true) break;
      this.#table.delete(oldest.value);
    }
    const at = Math.max(now, previous?.nextAt ?? now) + this.delayFor(failures);
    this.#table.set(address, { failures, last: now, nextAt: at });
    return at - now;
  }

  /** A successful login from `address`: its count starts again. */
  succeed(address: string): void {
    this.#table.delete(address);
  }

  delayFor(failures: number): number {
    if (failures <= 0) return 0;
    // 2^(failures-1) overflows nothing below 2^1024; clamp the exponent anyway
    return Math.min(this.#opts.maxMs, this.#opts.initialMs * 2 ** Math.min(failures - 1, 30));
  }
}
