import { counterHandle, type CounterHandle, type CounterName, type Metrics } from '../metrics.js';
import type { Outcome } from '../settlement.js';

/** the counters a connector counts per message, by reason where they have one */
type ReasonCounter = Extract<CounterName, 'messages_rejected_total' | 'messages_released_total' | 'messages_dropped_total'>;

/**
 * The per-message counters of one connector, every series bound once: a message counted through
 * them builds no label object and looks nothing up by label (the engine binds its route series
 * the same way). A series is bound when it is first counted, so /metrics shows the series a
 * connector used and no others, as with `metrics.inc`. Settlements are counted at their source
 * the same way in every connector: `messages_accepted_total`, or `messages_rejected_total` /
 * `messages_released_total` labelled with the error code that decided it.
 */
export class ConnectorCounters {
  readonly #metrics: Metrics;
  readonly #connector: string;
  #received: CounterHandle | undefined;
  #sent: CounterHandle | undefined;
  #accepted: CounterHandle | undefined;
  /** by counter, then reason: reasons are error codes and fixed words, a small set per connector */
  readonly #byReason = new Map<ReasonCounter, Map<string, CounterHandle>>();

  constructor(metrics: Metrics, connector: string) {
    this.#metrics = metrics;
    this.#connector = connector;
  }

  /** a message taken from the connector's source */
  received(): void {
    (this.#received ??= counterHandle(this.#metrics, 'messages_received_total', { connector: this.#connector })).inc();
  }

  /** a message the connector's sink wrote and had confirmed */
  sent(): void {
    (this.#sent ??= counterHandle(this.#metrics, 'messages_sent_total', { connector: this.#connector })).inc();
  }

  /** how a message taken from the source was settled */
  outcome(outcome: Outcome): void {
    if (outcome.kind === 'accept') (this.#accepted ??= counterHandle(this.#metrics, 'messages_accepted_total', { connector: this.#connector })).inc();
    else this.#reason(outcome.kind === 'reject' ? 'messages_rejected_total' : 'messages_released_total', outcome.reason.code).inc();
  }

  /** `count` messages dropped for `reason` (expired, no-subscriber, …) */
  dropped(reason: string, count = 1): void {
    this.#reason('messages_dropped_total', reason).inc(count);
  }

  /** `count` messages refused for `reason`, not counted through a settlement */
  rejected(reason: string, count = 1): void {
    this.#reason('messages_rejected_total', reason).inc(count);
  }

  #reason(name: ReasonCounter, reason: string): CounterHandle {
    let byReason = this.#byReason.get(name);
    if (byReason === undefined) this.#byReason.set(name, (byReason = new Map<string, CounterHandle>()));
    let h = byReason.get(reason);
    if (h === undefined) byReason.set(reason, (h = counterHandle(this.#metrics, name, { connector: this.#connector, reason })));
    return h;
  }
}
