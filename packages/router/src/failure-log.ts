import { describeError, type FerryError, type Logger } from '@ferry/core';

/** What the engine knows about a failed write, for the log line. */
export interface FailedWrite {
  readonly connector: string;
  readonly route: string;
  /** the destination's position in the route's `to`; -1 for a dead letter */
  readonly to: number;
}

interface FailureState {
  readonly connector: string;
  readonly code: string;
  readonly permanent: boolean;
  readonly since: number;
  lastLineAt: number;
  /** failures since the last line about this state */
  sinceLine: number;
  total: number;
}

export interface SinkFailureLogOptions {
  /** while failures of one (connector, code) go on, one summary line at most this often; default 10 s */
  readonly summaryEveryMs?: number;
  /** injectable clock for tests */
  readonly now?: () => number;
}

const DEFAULT_FAILURE_SUMMARY_MS = 10_000;

/**
 * The `sink write failed` log, rate-limited. A destination that is down fails every write sent
 * to it, and every retry of every message: one line per failure drowns the log (thousands of
 * lines a second in a requeue loop) and says nothing the first line did not. So the log follows
 * the *state* of each (connector, error code):
 *
 * - the first failure of a state: one `warn sink write failed` line with the error;
 * - while failures of that state go on: at most one `warn sink writes still failing` line per
 *   `summaryEveryMs`, with the count since the previous line;
 * - a write to that connector confirmed: one `info sink writes succeed again` line per transient
 *   state it ends, with the count and how long it lasted. Permanent failures (a refused or
 *   unroutable message) are about single messages, not the connector, so a confirmed write does
 *   not end them; they only get summaries.
 *
 * Every failure is still counted in `ferry_sink_failures_total{connector,route,code}`.
 */
export class SinkFailureLog {
  readonly #logger: Logger;
  readonly #every: number;
  readonly #now: () => number;
  readonly #states = new Map<string, FailureState>();

  constructor(logger: Logger, opts: SinkFailureLogOptions = {}) {
    this.#logger = logger;
    this.#every = opts.summaryEveryMs ?? DEFAULT_FAILURE_SUMMARY_MS;
    this.#now = opts.now ?? Date.now;
  }

  failed(w: FailedWrite, error: FerryError): void {
    const key = `${w.connector}\u0000${error.code}`;
    const now = this.#now();
    const st = this.#states.get(key);
    if (st === undefined) {
      this.#states.set(key, { connector: w.connector, code: error.code, permanent: error.permanent, since: now, lastLineAt: now, sinceLine: 0, total: 1 });
      this.#logger.warn('sink write failed', {
        connector: w.connector,
        route: w.route,
        to: w.to,
        code: error.code,
        permanent: error.permanent,
        error: describeError(error),
        note: `further failures of ${w.connector} with ${error.code} are summarized every ${Math.round(this.#every / 1000)} s`,
      });
      return;
    }
    st.total++;
    st.sinceLine++;
    if (now - st.lastLineAt < this.#every) return;
    this.#logger.warn('sink writes still failing', {
      connector: w.connector,
      code: error.code,
      failures: st.sinceLine,
      overMs: now - st.lastLineAt,
      failingForMs: now - st.since,
      route: w.route,
      error: describeError(error),
    });
    st.lastLineAt = now;
    st.sinceLine = 0;
  }

  /** A write to `connector` was confirmed: its transient failure states are over. */
  succeeded(connector: string): void {
    if (this.#states.size === 0) return;
    const now = this.#now();
    for (const [key, st] of this.#states) {
      if (st.connector !== connector || st.permanent) continue;
      this.#states.delete(key);
      this.#logger.info('sink writes succeed again', { connector, code: st.code, failures: st.total, failedForMs: now - st.since });
    }
  }
}
