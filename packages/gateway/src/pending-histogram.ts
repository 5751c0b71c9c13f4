import type { Histogram } from 'prom-client';
import type { HistogramHandle } from '@ferry/core';

/** one labelled series of prom-client's Histogram (lib/histogram.js `createBaseValues`), the fields written here */
interface SeriesValues {
  readonly labels: object;
  readonly bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/** prom-client's Histogram holds its series by a hash of their labels in `hashMap` (lib/histogram.js) */
interface SeriesStore {
  readonly hashMap: Record<string, SeriesValues | undefined>;
}

/**
 * A histogram series that adds its observations up on the message path and writes the totals
 * into prom-client's series when the metric is collected, so prom-client renders the exposition
 * (bucket, sum, count) as it always did: prom-client's own `observe` on a labelled series
 * validates and hashes the labels on every call (lib/histogram.js `observe`), once per confirmed
 * write. The totals are kept here from the start, not only since the last collect, so the sum
 * adds the same numbers in the same order as prom-client would, and reads the same to the last
 * digit. A value prom-client would refuse (NaN, infinite) goes to it at once, to fail as it always did.
 */
export class PendingHistogram implements HistogramHandle {
  readonly #histogram: Histogram;
  readonly #labels: Record<string, string>;
  readonly #bounds: readonly number[];
  /** observations per bucket (not cumulative), as prom-client keeps them */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(histogram: Histogram, labels: Record<string, string>, bounds: readonly number[]) {
    this.#histogram = histogram;
    this.#labels = labels;
    this.#bounds = bounds;
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) {
      this.#histogram.observe(this.#labels, value);
      return;
    }
    this.#sum += value;
    this.#count++;
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  /** the totals, into prom-client's series; called by the metric's `collect` */
  flush(): void {
    if (this.#count === 0) return;
    let series = this.#series();
    if (series === undefined) {
      this.#histogram.zero(this.#labels);
      series = this.#series();
      if (series === undefined) return;
    }
    series.sum = this.#sum;
    series.count = this.#count;
    for (let i = 0; i < this.#bounds.length; i++) series.bucketValues[this.#bounds[i]!] = this.#counts[i]!;
  }

  /** prom-client's series of these labels: `zero` keeps the labels object it is given */
  #series(): SeriesValues | undefined {
    const store = this.#histogram as unknown as SeriesStore;
    for (const key in store.hashMap) {
      const series = store.hashMap[key];
      if (series?.labels === this.#labels) return series;
    }
    return undefined;
  }
}
