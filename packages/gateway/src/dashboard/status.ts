import { DEFAULT_MAX_IN_FLIGHT, type AnyConnectorDefinition, type CounterName, type EndpointSpec, type GaugeName, type Labels } from '@ferry/core';
import type { GatewayConfig } from '@ferry/config';
import { describePeer } from './peer.js';
import { RateMeter } from './rate-meter.js';
import type { RecentLog, RecentLogEntry } from './recent-log.js';

/** One labelled value of a metric, as the metrics registry holds it. */
export interface Series {
  readonly labels: Labels;
  readonly value: number;
}

/** What the status is read from: the running gateway, its metrics, its recent log lines. */
export interface StatusSource {
  /** the running configuration; undefined before the first start */
  config(): GatewayConfig | undefined;
  connectorStates(): Record<string, string>;
  ready(): boolean;
  definition(type: string): AnyConnectorDefinition | undefined;
  /** messages and bytes waiting in the durable spool, per sink connector that has one */
  spoolDepth(): Record<string, { messages: number; bytes: number }>;
  series(name: CounterName | GaugeName): Promise<readonly Series[]>;
  readonly recent: RecentLog;
}

interface ConnectorStatus {
  readonly name: string;
  readonly type: string;
  readonly role: 'listener' | 'client';
  /** the connector's own state: idle, connecting, up, down, stopping, stopped */
  readonly state: string;
  readonly up: boolean;
  readonly peer: string;
  /** clients connected, for a listener */
  readonly clients?: number;
  /** what waits in the durable spool for this sink (docs/spool.md), when a spool holds its messages */
  readonly spooled?: { readonly messages: number; readonly bytes: number };
}

/** A route's counters since the process started, and their rates per second. */
interface RouteCounts {
  /** messages the route took from its source */
  readonly received: number;
  /** messages every destination of the route confirmed */
  readonly sent: number;
  /** destination writes that failed (each retry that failed counts) */
  readonly failed: number;
  /** messages written to the route's dead-letter destination */
  readonly deadLettered: number;
}

export interface RouteStatus extends RouteCounts {
  readonly name: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly deadLetter?: string;
  /** taken and not yet settled, now */
  readonly inFlight: number;
  readonly maxInFlight: number;
  readonly rates: RouteCounts;
}

export interface DashboardStatus {
  readonly gateway: { readonly id: string; readonly ready: boolean; readonly startedAt: string; readonly time: string; readonly uptimeSeconds: number };
  readonly connectors: readonly ConnectorStatus[];
  readonly routes: readonly RouteStatus[];
  /** the last warn/error log lines, newest first, secrets redacted */
  readonly errors: readonly RecentLogEntry[];
  /** warn/error lines logged since the start (more than `errors` keeps) */
  readonly errorsLogged: number;
}

const COUNTED = ['received', 'sent', 'failed', 'deadLettered'] as const;

function countsOf(value: (k: keyof RouteCounts) => number): RouteCounts {
  return { received: value('received'), sent: value('sent'), failed: value('failed'), deadLettered: value('deadLettered') };
}

const COUNTERS = {
  received: 'messages_matched_total',
  sent: 'messages_routed_total',
  failed: 'sink_failures_total',
  deadLettered: 'messages_dead_lettered_total',
} as const satisfies Record<keyof RouteCounts, CounterName>;

/**
 * Builds the dashboard's snapshot: the route table and connectors of the running
 * configuration, with the counters of the metrics registry summed per route (the same numbers
 * /metrics serves), and rates per second from one snapshot to the next.
 */
export class StatusBoard {
  readonly #source: StatusSource;
  readonly #started = new Date();
  readonly #rates: RateMeter;

  constructor(source: StatusSource, opts: { readonly rateWindowMs?: number } = {}) {
    this.#source = source;
    this.#rates = new RateMeter(opts.rateWindowMs ?? 900);
  }

  async snapshot(): Promise<DashboardStatus> {
    const src = this.#source;
    const config = src.config();
    const [counters, inFlight, clients] = await Promise.all([
      Promise.all(COUNTED.map(async (k) => perLabel(await src.series(COUNTERS[k]), 'route'))).then((maps) => new Map(COUNTED.map((k, i) => [k, maps[i]]))),
      src.series('messages_in_flight').then((s) => perLabel(s, 'route')),
      src.series('listener_clients').then((s) => perLabel(s, 'connector')),
    ]);
    const now = Date.now();
    const states = src.connectorStates();
    const spool = src.spoolDepth();
    const connectors: ConnectorStatus[] = (config?.connectors ?? []).map((c) => {
      const listener = src.definition(c.type)?.capabilities.listener === true;
      const state = states[c.name] ?? 'unknown';
      return {
        name: c.name,
        type: c.type,
        role: listener ? 'listener' : 'client',
        state,
        up: state === 'up',
        peer: describePeer(c.options, listener),
        ...(listener ? { clients: clients.get(c.name) ?? 0 } : {}),
        ...(spool[c.name] === undefined ? {} : { spooled: spool[c.name] }),
      };
    });
    const keys = new Set<string>();
    const routes: RouteStatus[] = (config?.routes ?? []).map((r) => {
      const totals = countsOf((k) => counters.get(k)?.get(r.name) ?? 0);
      const rates = countsOf((k) => {
        const key = `${r.name}\u0000${k}`;
        keys.add(key);
        return this.#rates.rate(key, totals[k], now);
      });
      const dead = r.onFailure?.deadLetter;
      return {
        name: r.name,
        from: endpoint(r.from),
        to: r.to.map(endpoint),
        ...(dead === undefined ? {} : { deadLetter: endpoint(dead) }),
        ...totals,
        inFlight: Math.max(0, inFlight.get(r.name) ?? 0),
        maxInFlight: r.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
        rates,
      };
    });
    this.#rates.retainOnly(keys);
    return {
      gateway: {
        id: config?.gateway.id ?? '',
        ready: src.ready(),
        startedAt: this.#started.toISOString(),
        time: new Date(now).toISOString(),
        uptimeSeconds: Math.floor((now - this.#started.getTime()) / 1000),
      },
      connectors,
      routes,
      errors: src.recent.entries(),
      errorsLogged: src.recent.recorded,
    };
  }
}

/** the sum of a metric's values per value of one label (sink failures come per connector and code) */
function perLabel(series: readonly Series[], label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series) {
    const key = s.labels[label];
    if (key === undefined) continue;
    out.set(key, (out.get(key) ?? 0) + s.value);
  }
  return out;
}

/** `rabbit exchange=telemetry routingKey=f.{1}`: the connector and the fields as the route file wrote them */
function endpoint(e: EndpointSpec): string {
  const fields = Object.entries(e.fields)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}=${String(v)}`);
  return [e.connector, ...fields].join(' ');
}
