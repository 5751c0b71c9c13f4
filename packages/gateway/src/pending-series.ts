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

/** what waits in a series for the metric's next collect, and hands it to prom-client then */
abstract class Pending {
  protected waiting = 0;
  protected readonly child: CounterChild;

  constructor(child: CounterChild) {
    this.child = child;
  }

  /** what waited, into prom-client; called by the metric's `collect` */
  flush(): void {
    if (this.waiting === 0) return;
    const n = this.waiting;
    this.waiting = 0;
    this.child.inc(n);
  }
}

/**
 * A counter series that adds up on the message path and hands the sum to prom-client when the
 * metric is collected: prom-client's own `inc` on a labelled series hashes and validates its
 * labels on every call (lib/counter.js `incWithoutExemplar`), several times per message. A value
 * prom-client would refuse (negative, infinite) goes to it at once, to fail as it always did.
 */
export class PendingCount extends Pending implements CounterHandle {
  inc(value = 1): void {
    if (value >= 0 && value !== Infinity) this.waiting += value;
    else this.child.inc(value);
  }
}

/**
 * A gauge series whose increments add up until the metric is collected, as {@link PendingCount};
 * a `set` replaces the value, and the increments before it with it.
 */
export class PendingGauge extends Pending implements GaugeHandle {
  readonly #gauge: GaugeChild;

  constructor(child: GaugeChild) {
    super(child);
    this.#gauge = child;
  }

  set(value: number): void {
    this.waiting = 0;
    this.#gauge.set(value);
  }

  inc(delta = 1): void {
    if (Number.isFinite(delta)) this.waiting += delta;
    else this.child.inc(delta);
  }
}
