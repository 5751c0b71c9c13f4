import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CounterHandle, CounterName, GaugeHandle, GaugeName, HistogramHandle, HistogramName, Labels, Metrics } from '@ferry/core';
import type { Series } from './dashboard/status.js';
import { PendingCount, PendingGauge } from './pending-series.js';
import { PendingHistogram } from './pending-histogram.js';

const HELP: Record<CounterName | GaugeName | HistogramName, string> = {
  messages_received_total: 'Messages taken from a source connector',
  messages_sent_total: 'Messages confirmed by a sink connector',
  messages_routed_total: 'Messages a route dispatched',
  messages_matched_total: 'Messages a route took from its source (matched, before any write)',
  messages_unrouted_total: 'Messages no route matched (accepted and dropped)',
  messages_accepted_total: 'Messages settled accept at their source',
  messages_rejected_total: 'Messages settled reject at their source',
  messages_released_total: 'Messages given back to their source for redelivery',
  messages_dropped_total: 'Messages dropped (expired, buffer overflow)',
  sink_failures_total: 'Sink writes that failed',
  messages_retried_total: 'Retries of a message\'s failed destinations (route failure policy)',
  messages_dead_lettered_total: 'Messages written to their route\'s dead-letter destination, by the error that sent them there',
  connector_reconnects_total: 'Connector reconnect attempts',
  protocol_errors_total: 'Protocol errors answered to peers',
  limits_exceeded_total: 'Messages or frames a listener refused because a client went over a byte or count limit, by the limit option',
  listener_connections_refused_total: 'Connections a listener closed at once because it held maxConnections',
  listener_handshake_timeouts_total: 'Connections a listener closed because their TLS, WebSocket and protocol handshake took longer than handshakeTimeoutMs',
  listener_tls_failures_total: 'TLS handshakes a listener failed (wrong CA, expired or missing client certificate, bad version), by TLS error code',
  messages_spooled_total: 'Messages written to the durable spool because their destination was unreachable',
  auth_failures_total: 'Listener logins refused (no credentials, bad credentials, a client id owned by another user)',
  access_denied_total: 'Publishes and subscriptions a listener refused because the client\'s grants do not allow them',
  connector_up: '1 while the connector is connected or listening',
  messages_in_flight: 'Messages taken but not yet settled',
  listener_clients: 'Clients connected to a listener',
  spool_messages: 'Messages waiting in the durable spool for a sink connector',
  spool_bytes: 'Bytes the messages waiting in the durable spool take, per sink connector',
  source_paused: '1 while backpressure (a route at maxInFlight) pauses the source',
  sink_confirm_seconds: 'Time from sink write to confirmation',
};

/** The label names of each series, as documented in core/metrics.ts. */
const LABELS: Record<CounterName | GaugeName | HistogramName, readonly string[]> = {
  messages_received_total: ['connector'],
  messages_sent_total: ['connector'],
  messages_routed_total: ['route'],
  messages_matched_total: ['route'],
  messages_unrouted_total: ['connector'],
  messages_accepted_total: ['connector'],
  messages_rejected_total: ['connector', 'reason'],
  messages_released_total: ['connector', 'reason'],
  messages_dropped_total: ['connector', 'reason'],
  sink_failures_total: ['connector', 'route', 'code'],
  messages_retried_total: ['route', 'code'],
  messages_dead_lettered_total: ['route', 'reason'],
  connector_reconnects_total: ['connector'],
  protocol_errors_total: ['connector', 'code'],
  limits_exceeded_total: ['connector', 'limit'],
  listener_connections_refused_total: ['connector', 'reason'],
  listener_handshake_timeouts_total: ['connector', 'transport'],
  listener_tls_failures_total: ['connector', 'reason'],
  messages_spooled_total: ['connector'],
  auth_failures_total: ['connector', 'reason'],
  access_denied_total: ['connector', 'action'],
  connector_up: ['connector'],
  messages_in_flight: ['route'],
  listener_clients: ['connector'],
  spool_messages: ['connector'],
  spool_bytes: ['connector'],
  source_paused: ['connector'],
  sink_confirm_seconds: ['connector'],
};

/** what prom-client needs to make a counter or a gauge */
interface MetricConfig {
  readonly name: string;
  readonly help: string;
  readonly labelNames: string[];
  readonly registers: Registry[];
  /** prom-client calls it before it reads the metric's values */
  readonly collect: () => void;
}
// made once: #registered takes these without a closure per metric
const newCounter = (config: MetricConfig): Counter => new Counter(config);
const newGauge = (config: MetricConfig): Gauge => new Gauge(config);
const BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The values of the documented labels, in order; others are ignored, so a call never throws. */
function values(name: CounterName | GaugeName | HistogramName, labels: Labels): string[] {
  return LABELS[name].map((k) => labels[k] ?? '');
}

/** Prometheus metrics for the core Metrics surface; labels are created on first use. */
export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();
  readonly #histograms = new Map<string, Histogram>();
  readonly #children = new Map<string, unknown>();
  /** by metric name: the series whose counts wait for the metric's next collect */
  readonly #pending = new Map<string, (PendingCount | PendingGauge | PendingHistogram)[]>();

  constructor(readonly gatewayId: string) {
    this.registry.setDefaultLabels({ gateway: gatewayId });
    collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
  }

  inc(name: CounterName, labels: Labels, value = 1): void {
    this.bindCounter(name, labels).inc(value);
  }

  set(name: GaugeName, labels: Labels, value: number): void {
    this.bindGauge(name, labels).set(value);
  }

  add(name: GaugeName, labels: Labels, delta: number): void {
    this.bindGauge(name, labels).inc(delta);
  }

  /** the series, counting until the next collect (pending-series.ts): the engine keeps it per route and connector */
  bindCounter(name: CounterName, labels: Labels): CounterHandle {
    return this.#child(name, labels, (v) => this.#held(name, new PendingCount(this.#counter(name).labels(...v))));
  }

  bindGauge(name: GaugeName, labels: Labels): GaugeHandle {
    return this.#child(name, labels, (v) => this.#held(name, new PendingGauge(this.#gauge(name).labels(...v))));
  }

  #held<S extends PendingCount | PendingGauge | PendingHistogram>(name: CounterName | GaugeName | HistogramName, series: S): S {
    let all = this.#pending.get(name);
    if (all === undefined) this.#pending.set(name, (all = []));
    all.push(series);
    return series;
  }

  #collect(name: CounterName | GaugeName | HistogramName): void {
    for (const s of this.#pending.get(name) ?? []) s.flush();
  }

  /** the series, adding up until the next collect (pending-histogram.ts) */
  bindHistogram(name: HistogramName, labels: Labels): HistogramHandle {
    return this.#child(name, labels, (v) => this.#held(name, new PendingHistogram(this.#histogram(name), Object.fromEntries(LABELS[name].map((k, i) => [k, v[i]!])), BUCKETS)));
  }

  /**
   * The labelled series, made once and kept: the message path calls several metrics per
   * message, and prom-client would otherwise hash a new label object on every call.
   */
  #child<T>(name: CounterName | GaugeName | HistogramName, labels: Labels, make: (values: string[]) => T): T {
    let key: string = name;
    for (const k of LABELS[name]) key += '\u0000' + (labels[k] ?? '');
    let child = this.#children.get(key) as T | undefined;
    if (child === undefined) {
      child = make(values(name, labels));
      this.#children.set(key, child);
    }
    return child;
  }

  observe(name: HistogramName, labels: Labels, value: number): void {
    this.bindHistogram(name, labels).observe(value);
  }

  #histogram(name: HistogramName): Histogram {
    let h = this.#histograms.get(name);
    if (!h) {
      h = new Histogram({
        name: `ferry_${name}`,
        help: HELP[name],
        labelNames: [...LABELS[name]],
        buckets: [...BUCKETS],
        registers: [this.registry],
        collect: () => this.#collect(name),
      });
      this.#histograms.set(name, h);
    }
    return h;
  }

  /** every labelled value of a counter or gauge now (none before its first use), for the dashboard */
  async series(name: CounterName | GaugeName): Promise<readonly Series[]> {
    const metric: Counter | Gauge | undefined = this.#counters.get(name) ?? this.#gauges.get(name);
    if (metric === undefined) return [];
    const { values } = await metric.get();
    return values.map((v) => ({ labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])), value: v.value }));
  }

  #counter(name: CounterName): Counter {
    return this.#registered(this.#counters, name, newCounter);
  }

  #gauge(name: GaugeName): Gauge {
    return this.#registered(this.#gauges, name, newGauge);
  }

  /** the metric called `name` in `made`, made and registered at its first use */
  #registered<M>(made: Map<string, M>, name: CounterName | GaugeName, make: (config: MetricConfig) => M): M {
    let m = made.get(name);
    if (m === undefined) {
      m = make({ name: `ferry_${name}`, help: HELP[name], labelNames: [...LABELS[name]], registers: [this.registry], collect: () => this.#collect(name) });
      made.set(name, m);
    }
    return m;
  }
}
