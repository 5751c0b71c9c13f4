import type { CounterName, GaugeName, HistogramName, Labels, Metrics } from '@ferry/core';

interface Series {
  readonly labels: Labels;
  value: number;
}

export interface Observation {
  readonly name: HistogramName;
  readonly labels: Labels;
  readonly value: number;
}

/**
 * Metrics that keep every series, for tests: counters and gauges by name and labels, histogram
 * observations in order. `count` and `gauge` add up the series of a name whose labels include the
 * ones asked for, so a test names only the labels it cares about (`count('messages_sent_total')`
 * is every connector's). With `forward`, every call also reaches another Metrics (a gateway's
 * PromMetrics, whose /metrics a test also reads).
 */
export class RecordingMetrics implements Metrics {
  readonly #counters = new Map<string, Map<string, Series>>();
  readonly #gauges = new Map<string, Map<string, Series>>();
  readonly observations: Observation[] = [];

  constructor(private readonly forward?: Metrics) {}

  inc(name: CounterName, labels: Labels, value = 1): void {
    series(this.#counters, name, labels).value += value;
    this.forward?.inc(name, labels, value);
  }

  set(name: GaugeName, labels: Labels, value: number): void {
    series(this.#gauges, name, labels).value = value;
    this.forward?.set(name, labels, value);
  }

  add(name: GaugeName, labels: Labels, delta: number): void {
    series(this.#gauges, name, labels).value += delta;
    this.forward?.add(name, labels, delta);
  }

  observe(name: HistogramName, labels: Labels, value: number): void {
    this.observations.push({ name, labels, value });
    this.forward?.observe(name, labels, value);
  }

  /** the sum of the counter's series whose labels include `labels` (0 when there is none) */
  count(name: CounterName, labels: Labels = {}): number {
    return sum(this.#counters.get(name), labels);
  }

  /** the sum of the gauge's series whose labels include `labels` (0 when there is none) */
  gauge(name: GaugeName, labels: Labels = {}): number {
    return sum(this.#gauges.get(name), labels);
  }
}

function series(store: Map<string, Map<string, Series>>, name: string, labels: Labels): Series {
  let byLabels = store.get(name);
  if (byLabels === undefined) store.set(name, (byLabels = new Map<string, Series>()));
  const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  let s = byLabels.get(key);
  if (s === undefined) byLabels.set(key, (s = { labels: { ...labels }, value: 0 }));
  return s;
}

function sum(byLabels: Map<string, Series> | undefined, want: Labels): number {
  let total = 0;
  for (const s of byLabels?.values() ?? []) {
    if (Object.entries(want).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}
