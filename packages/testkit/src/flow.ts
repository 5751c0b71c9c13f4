import type { SourceFlow } from '@ferry/core';

/** A SourceFlow a test pauses and resumes by hand, to drive a connector's backpressure. */
export class ManualFlow implements SourceFlow {
  paused: boolean;
  readonly #listeners = new Set<(paused: boolean) => void>();

  constructor(paused = false) {
    this.paused = paused;
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** how many connectors listen (0 once they unsubscribed) */
  get listeners(): number {
    return this.#listeners.size;
  }

  set(paused: boolean): void {
    this.paused = paused;
    for (const l of this.#listeners) l(paused);
  }
}
