import type { ListenerRecord, ListenerStore } from '@ferry/core';

/**
 * A ListenerStore in memory for unit tests of listeners: the same batching contract as the
 * spool's (puts and deletes of one turn applied together, `written` resolves after), and the
 * records outlive the connector that wrote them, so a test restarts a listener on the same
 * store. `records` is the "disk"; a test may damage one to see it reported.
 */
export class MemoryListenerStore implements ListenerStore {
  readonly location = 'memory';
  readonly records = new Map<string, Buffer>();
  /** batches written so far */
  batches = 0;
  #pending = new Map<string, Buffer | (() => Buffer) | null>();
  #flushed: Promise<void> | undefined;
  #held: Promise<void> | undefined;

  /** Writes wait (a slow disk) until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.#held = new Promise<void>((r) => (release = r));
    return () => {
      this.#held = undefined;
      release();
    };
  }

  async scan(prefix: string): Promise<ListenerRecord[]> {
    await this.written();
    return [...this.records]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (Buffer.compare(Buffer.from(a), Buffer.from(b))))
      .map(([key, value]) => ({ key, value }));
  }

  put(key: string, value: Buffer | (() => Buffer)): void {
    this.#pending.set(key, value);
    this.#schedule();
  }

  del(key: string): void {
    this.#pending.set(key, null);
    this.#schedule();
  }

  written(): Promise<void> {
    return this.#flushed ?? Promise.resolve();
  }

  #schedule(): void {
    this.#flushed ??= new Promise<void>((resolve) => setImmediate(() => void this.#flush().then(resolve)));
  }

  async #flush(): Promise<void> {
    await this.#held;
    const ops = this.#pending;
    this.#pending = new Map();
    this.#flushed = undefined;
    for (const [k, v] of ops) {
      if (v === null) this.records.delete(k);
      else this.records.set(k, typeof v === 'function' ? v() : v);
    }
    this.batches++;
  }
}
