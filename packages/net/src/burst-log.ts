import type { LogFields, Logger } from '@ferry/core';

/**
 * One log line per burst instead of one per event: the first event of a quiet period is logged
 * at once, the rest of the window only counted, and their number logged when it ends. A flood of
 * refused or silent sockets (thousands a second) must not become a flood of log lines.
 */
export class BurstLog {
  readonly #logger: Logger;
  readonly #message: string;
  readonly #windowMs: number;
  #timer: NodeJS.Timeout | undefined;
  #suppressed = 0;

  constructor(logger: Logger, message: string, windowMs = 10_000) {
    this.#logger = logger;
    this.#message = message;
    this.#windowMs = windowMs;
  }

  hit(fields: LogFields): void {
    if (this.#timer !== undefined) {
      this.#suppressed++;
      return;
    }
    this.#logger.warn(this.#message, { ...fields, note: `further ones within ${this.#windowMs / 1000} s are counted, then logged as one line` });
    this.#timer = setTimeout(() => this.#flush(), this.#windowMs);
    this.#timer.unref();
  }

  #flush(): void {
    this.#timer = undefined;
    if (this.#suppressed === 0) return;
    const n = this.#suppressed;
    this.#suppressed = 0;
    this.#logger.warn(this.#message, { more: n, withinMs: this.#windowMs });
    // the burst goes on: keep counting in a new window instead of logging the next one at once
    this.#timer = setTimeout(() => this.#flush(), this.#windowMs);
    this.#timer.unref();
  }

  /** stop the timer (the listener closed) */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#suppressed = 0;
  }
}
