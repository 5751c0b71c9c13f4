/**
 * Rates per second of counters sampled at irregular times (each dashboard snapshot). A rate is
 * taken over at least `windowMs`: snapshots asked for closer together than that (two pages
 * open, /api/status between two events) keep the last rate instead of dividing by a few
 * milliseconds.
 */
export class RateMeter {
  readonly #windowMs: number;
  readonly #last = new Map<string, { at: number; value: number; rate: number }>();

  constructor(windowMs: number) {
    this.#windowMs = Math.max(1, windowMs);
  }

  /** forget every key not in `keys` (routes a reload removed), so the meter stays as large as the route table */
  retainOnly(keys: ReadonlySet<string>): void {
    for (const k of this.#last.keys()) if (!keys.has(k)) this.#last.delete(k);
  }

  /** the rate of `key` now that it reads `value` at `nowMs`; 0 on its first sample */
  rate(key: string, value: number, nowMs: number): number {
    const last = this.#last.get(key);
    if (last === undefined) {
      this.#last.set(key, { at: nowMs, value, rate: 0 });
      return 0;
    }
    const dt = nowMs - last.at;
    if (dt < this.#windowMs) return last.rate;
    // a counter that went down was reset (a new metrics registry): count from there
    const rate = value >= last.value ? ((value - last.value) * 1000) / dt : 0;
    this.#last.set(key, { at: nowMs, value, rate });
    return rate;
  }
}
