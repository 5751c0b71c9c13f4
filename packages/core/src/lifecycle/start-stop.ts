/**
 * A connector's start and stop as shared promises (the Connector contract: `start` and `stop`
 * are idempotent). Concurrent and repeated calls get the promise of the run under way or done;
 * a start that failed is forgotten, so the next call tries again; a finished stop makes the
 * next start run anew, and a new start the next stop.
 */
export class StartStop {
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  /** the start under way or done since the last stop, if any (a stop may wait for it) */
  get starting(): Promise<void> | undefined {
    return this.#starting;
  }

  /** true from the first stop call until the next start */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  start(run: () => Promise<void>): Promise<void> {
    if (this.#starting !== undefined) return this.#starting;
    this.#stopping = undefined;
    const started: Promise<void> = invoke(run).catch((err: unknown) => {
      if (this.#starting === started) this.#starting = undefined;
      throw err;
    });
    this.#starting = started;
    return started;
  }

  /**
   * Run `run` once per start. With `idle`, a connector that was never started (or whose start
   * failed) calls `idle` instead: there is nothing to close.
   */
  stop(run: () => Promise<void>, idle?: () => void): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    if (this.#starting === undefined && idle !== undefined) {
      idle();
      this.#stopping = Promise.resolve();
      return this.#stopping;
    }
    this.#stopping = invoke(run).finally(() => {
      this.#starting = undefined;
    });
    return this.#stopping;
  }
}

/**
 * Calls `run` now, so its synchronous part runs before the caller goes on; a throw becomes a
 * rejection (a promise's executor runs at once, and what it throws rejects the promise).
 */
function invoke(run: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    resolve(run());
  });
}
