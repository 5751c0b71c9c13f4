import type { SourceFlow } from '../connector.js';

/**
 * The engine's SourceFlow as a source follows it (see SourceFlow in ../connector.ts): one
 * listener at a time, replaced when another flow comes with a new openSources and removed by
 * closeSources, after which the source is never paused.
 */
export class FlowWatch {
  #flow: SourceFlow | undefined;
  #off: (() => void) | undefined;

  /** true while the flow followed says stop taking */
  get paused(): boolean {
    return this.#flow?.paused === true;
  }

  get following(): boolean {
    return this.#flow !== undefined;
  }

  /**
   * Follow `flow`, calling `onChange` on each change of it; `undefined` follows none. Following
   * the flow already followed keeps its listener. Returns whether the flow followed changed.
   */
  follow(flow: SourceFlow | undefined, onChange: (paused: boolean) => void): boolean {
    if (flow === this.#flow) return false;
    this.#off?.();
    this.#off = undefined;
    this.#flow = flow;
    if (flow !== undefined) this.#off = flow.onChange(onChange);
    return true;
  }

  /** Follow no flow any more: the source is not paused from now on. */
  drop(): void {
    this.#off?.();
    this.#off = undefined;
    this.#flow = undefined;
  }
}
