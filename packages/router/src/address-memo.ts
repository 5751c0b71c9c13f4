/**
 * What the route table worked out for one source address, remembered for the next message of
 * the same address: devices publish to the same few topics again and again, and the routes that
 * take an address, their captures and the destinations rendered from them are the same every
 * time. Bounded: when `capacity` addresses are held, the memo starts afresh, so a source with
 * unbounded distinct addresses costs at most one map of `capacity` entries, never more.
 */
export class AddressMemo<V> {
  readonly #capacity: number;
  #entries = new Map<string, V>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(address: string): V | undefined {
    return this.#entries.get(address);
  }

  set(address: string, value: V): void {
    if (this.#entries.size >= this.#capacity) this.#entries = new Map();
    this.#entries.set(address, value);
  }
}
