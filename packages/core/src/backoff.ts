import { FerryError, toFerryError } from './errors.js';

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): attempt n waits a random time in [0, min(max, initial * 2^n)], never less than
 * `min`, so many connectors failing at once do not retry in step.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** lower bound of every delay */
  readonly minMs?: number;
  /** injectable for tests */
  readonly random?: () => number;
}

export class Backoff {
  #attempt = 0;
  readonly #opts: Required<BackoffOptions>;

  constructor(opts: BackoffOptions) {
    this.#opts = { minMs: 0, random: Math.random, ...opts };
  }

  get attempt(): number {
    return this.#attempt;
  }

  /** the delay before the next attempt; each call counts one attempt */
  next(): number {
    const { initialMs, maxMs, minMs, random } = this.#opts;
    const cap = Math.min(maxMs, initialMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.max(minMs, Math.round(random() * cap));
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** Resolves after `ms`, or rejects early when `signal` aborts: with the abort reason as a FerryError (SHUTTING_DOWN when it is not one). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(aborted(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      if (signal !== undefined) reject(aborted(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal): FerryError {
  return toFerryError(signal.reason, 'SHUTTING_DOWN');
}
