import { Backoff, type BackoffOptions } from '../backoff.js';

/**
 * A connector's reconnect loop: one pending attempt at a time, each after the next delay of a
 * jittered exponential {@link Backoff}, reset once a connection is up again.
 */
export class ReconnectTimer {
  readonly #backoff: Backoff;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: BackoffOptions) {
    this.#backoff = new Backoff(options);
  }

  /** attempts scheduled since the last reset */
  get attempt(): number {
    return this.#backoff.attempt;
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /**
   * Call `attempt` after the next backoff delay, unless an attempt is already pending. Returns
   * the delay, or undefined when one was pending (nothing new is scheduled).
   */
  schedule(attempt: () => void): number | undefined {
    if (this.#timer !== undefined) return undefined;
    const delay = this.#backoff.next();
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      attempt();
    }, delay);
    return delay;
  }

  /** Drop the pending attempt, if any (the connector stops). */
  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Connected: the next loss starts again from the first delay. */
  reset(): void {
    this.#backoff.reset();
  }
}
