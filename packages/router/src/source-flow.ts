import { describeError, type FlowScope, type Logger, type SourceFlow } from '@ferry/core';

/** One connector's flow: paused while a route it feeds is full. */
export class Flow implements SourceFlow {
  #paused = false;
  readonly #listeners = new Set<(paused: boolean) => void>();
  scope: FlowScope = 'source';

  constructor(private readonly onFlip: (paused: boolean) => void) {}

  get paused(): boolean {
    return this.#paused;
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(paused: boolean, logger: Logger): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.onFlip(paused);
    for (const l of [...this.#listeners]) {
      try {
        l(paused);
      } catch (err) {
        logger.error('a source flow listener threw', { error: describeError(err) });
      }
    }
  }
}
