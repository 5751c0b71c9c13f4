/**
 * A Map for a collection that nearly always holds one entry: a session's subscriptions (a device
 * of a fleet subscribes to its one command topic). That entry is kept in the object itself, and
 * a V8 Map is made only for a second one. A V8 Map costs its table from the start: 184 bytes
 * with one entry, held by each of 10,000 idle devices (docs/benchmarks-log.md, session 23).
 *
 * Keys are compared with `===` (a Map uses SameValueZero, which differs only for NaN). Iteration
 * is in insertion order, as a Map's; the one-entry form iterates over a snapshot.
 */
export class OneEntryMap<K, V> {
  #key: K | undefined;
  #value: V | undefined;
  #one = false;
  #map: Map<K, V> | undefined;

  get size(): number {
    if (this.#map !== undefined) return this.#map.size;
    return this.#one ? 1 : 0;
  }

  has(key: K): boolean {
    if (this.#map !== undefined) return this.#map.has(key);
    return this.#one && this.#key === key;
  }

  get(key: K): V | undefined {
    if (this.#map !== undefined) return this.#map.get(key);
    return this.#one && this.#key === key ? this.#value : undefined;
  }

  set(key: K, value: V): this {
    if (this.#map !== undefined) {
      this.#map.set(key, value);
    } else if (!this.#one || this.#key === key) {
      this.#key = key;
      this.#value = value;
      this.#one = true;
    } else {
      this.#map = new Map<K, V>([[this.#key as K, this.#value as V]]).set(key, value);
      this.#forgetOne();
    }
    return this;
  }

  delete(key: K): boolean {
    if (this.#map !== undefined) {
      const deleted = this.#map.delete(key);
      if (this.#map.size === 0) this.#map = undefined;
      return deleted;
    }
    if (!this.has(key)) return false;
    this.#forgetOne();
    return true;
  }

  keys(): IterableIterator<K> {
    if (this.#map !== undefined) return this.#map.keys();
    return (this.#one ? [this.#key as K] : []).values();
  }

  values(): IterableIterator<V> {
    if (this.#map !== undefined) return this.#map.values();
    return (this.#one ? [this.#value as V] : []).values();
  }

  #forgetOne(): void {
    this.#key = undefined;
    this.#value = undefined;
    this.#one = false;
  }
}
