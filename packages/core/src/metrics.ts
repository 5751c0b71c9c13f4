/**
 * The metrics surface adapters and the engine use; the gateway backs it with prom-client and
 * serves it on /metrics. Names are fixed here so every connector reports the same series.
 */
export type CounterName =
  | 'messages_received_total' // labels: connector
  | 'messages_sent_total' // labels: connector
  | 'messages_routed_total' // labels: route
  | 'messages_matched_total' // labels: route (messages a route took from its source, before any write)
  | 'messages_unrouted_total' // labels: connector
  | 'messages_accepted_total' // labels: connector
  | 'messages_rejected_total' // labels: connector, reason
  | 'messages_released_total' // labels: connector, reason
  | 'messages_dropped_total' // labels: connector, reason
  | 'sink_failures_total' // labels: connector, route, code
  | 'messages_retried_total' // labels: route, code (one per retry of a message's failed destinations)
  | 'messages_dead_lettered_total' // labels: route, reason (the error code that sent it there)
  | 'connector_reconnects_total' // labels: connector
  | 'protocol_errors_total' // labels: connector, code
  | 'limits_exceeded_total' // labels: connector, limit (the option a client went over; it was refused)
  | 'messages_spooled_total' // labels: connector (the sink whose spool queue took the message)
  | 'auth_failures_total' // labels: connector, reason (no-credentials, bad-credentials, client-id-taken)
  | 'access_denied_total' // labels: connector, action (publish, subscribe): refused by the client's grants
  | 'listener_connections_refused_total' // labels: connector, reason (max-connections)
  | 'listener_handshake_timeouts_total' // labels: connector, transport (tcp, tls, ws, wss)
  | 'listener_tls_failures_total'; // labels: connector, reason (the TLS error code)

export type GaugeName =
  | 'connector_up' // labels: connector
  | 'messages_in_flight' // labels: route
  | 'listener_clients' // labels: connector
  | 'source_paused' // labels: connector (1 while backpressure pauses the source)
  | 'spool_messages' // labels: connector (the sink): messages waiting in its durable spool queue
  | 'spool_bytes'; // labels: connector: bytes they take (keys + encoded messages)

export type HistogramName = 'sink_confirm_seconds'; // labels: connector

export type Labels = Readonly<Record<string, string>>;

export interface Metrics {
  inc(name: CounterName, labels: Labels, value?: number): void;
  set(name: GaugeName, labels: Labels, value: number): void;
  add(name: GaugeName, labels: Labels, delta: number): void;
  observe(name: HistogramName, labels: Labels, value: number): void;
  /**
   * One series bound once, for the message path: counting through the handle costs no label
   * object and no look-up per message. Optional: {@link counterHandle} and its siblings fall back
   * to the calls above with the labels fixed, so every Metrics serves them.
   */
  bindCounter?(name: CounterName, labels: Labels): CounterHandle;
  bindGauge?(name: GaugeName, labels: Labels): GaugeHandle;
  bindHistogram?(name: HistogramName, labels: Labels): HistogramHandle;
}

/** one counter series, its labels bound */
export interface CounterHandle {
  inc(value?: number): void;
}

/** one gauge series, its labels bound */
export interface GaugeHandle {
  set(value: number): void;
  inc(delta?: number): void;
}

/** one histogram series, its labels bound */
export interface HistogramHandle {
  observe(value: number): void;
}

/** The series `name` × `labels` of `metrics`, bound once; keep it and count through it. */
export function counterHandle(metrics: Metrics, name: CounterName, labels: Labels): CounterHandle {
  if (metrics.bindCounter !== undefined) return metrics.bindCounter(name, labels);
  const fixed = { ...labels };
  return { inc: (value = 1) => metrics.inc(name, fixed, value) };
}

/** The gauge series `name` × `labels` of `metrics`, bound once. */
export function gaugeHandle(metrics: Metrics, name: GaugeName, labels: Labels): GaugeHandle {
  if (metrics.bindGauge !== undefined) return metrics.bindGauge(name, labels);
  const fixed = { ...labels };
  return { set: (value) => metrics.set(name, fixed, value), inc: (delta = 1) => metrics.add(name, fixed, delta) };
}

/** The histogram series `name` × `labels` of `metrics`, bound once. */
export function histogramHandle(metrics: Metrics, name: HistogramName, labels: Labels): HistogramHandle {
  if (metrics.bindHistogram !== undefined) return metrics.bindHistogram(name, labels);
  const fixed = { ...labels };
  return { observe: (value) => metrics.observe(name, fixed, value) };
}

export const noopMetrics: Metrics = {
  inc: () => undefined,
  set: () => undefined,
  add: () => undefined,
  observe: () => undefined,
};
