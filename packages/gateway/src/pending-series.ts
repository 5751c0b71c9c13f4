import type { CounterHandle, GaugeHandle } from '@ferry/core';

/** prom-client's labelled counter series (`Counter.labels(...)`), as far as it is used here */
interface CounterChild {
  inc(value?: number): void;
}

/** prom-client's labelled gauge series (`Gauge.labels(...)`), as far as it is used here */
interface GaugeChild {
  inc(value?: number): void;
  set(value: number): void;
}

/**
 * A counter series that adds up on the message path and hands the sum to prom-client when the
 * metric is collected: prom-client's own `inc` on a labelled series hashes and validates its
 * labels on every call (lib/counter.js `incWithoutExemplar`), several times per message. A value
 * prom-client would refuse (negative, infinite) goes to it at once, to fail as it always did.
 */
export class PendingCount implements CounterHandle {
  readonly #child: CounterChild;
  #sum = 0;

  constructor(child: CounterChild) {
    this.#child = child;
  }

  inc(value = 1): void {
    if (value >= 0 && value !== Infinity) this.#sum += value;
    else this.#child.inc(value);
  }

  /** the sum so far into prom-client; called by the metric's `collect` */
  flush(): void {
    if (this.#sum === 0) return;
    const sum = this.#sum;
    this.#sum = 0;
    this.#child.inc(sum);
  }
}

/**
 * A gauge series whose increments add up until the metric is collected, as {@link PendingCount};
 * a `set` replaces the value, and the increments before it with it.
 */
export class PendingGauge implements GaugeHandle {
  readonly #child: GaugeChild;
  #delta = 0;

  constructor(child: GaugeChild) {
    this.#child = child;
  }

  set(value: number): void {
    this.#delta = 0;
    this.#child.set(value);
  }

  inc(delta = 1): void {
    if (Number.isFinite(delta)) this.#delta += delta;
    else this.#child.inc(delta);
  }

  flush(): void {
    if (this.#delta === 0) return;
    const delta = this.#delta;
    this.#delta = 0;
    this.#child.inc(delta);
  }
}
