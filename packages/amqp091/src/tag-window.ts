/**
 * Values kept by AMQP 0-9-1 delivery tag, from the lowest open tag on: a slot per tag at
 * `tag & mask` of an array whose length is a power of two, so keeping a value costs no object of
 * its own. A channel numbers its deliveries (and, on a confirm channel, its publishes) 1, 2, 3, …
 * (§1.8.3.9 "delivery-tag"; RabbitMQ "Publisher Confirms"), and the open ones lie within a bounded
 * distance of the lowest (the prefetch window, the publishes in flight), so the array stays small.
 *
 * The window does not track the lowest open tag itself: its owner does (it knows when a tag is
 * settled) and passes it to {@link put}, which doubles the array when a tag lies past it. A tag is
 * read only between the lowest open tag and the highest put since, which is what keeps a slot's
 * value from being another tag's.
 */
export class TagWindow<T> {
  #slots: (T | undefined)[];
  #mask: number;
  /** a tag this far past the lowest open one gets no slot */
  readonly #max: number;

  /**
   * @param initial the tags it holds room for at first (a power of two)
   * @param max how far past the lowest open tag a tag may lie and still be kept
   */
  constructor(initial: number, max: number = Number.MAX_SAFE_INTEGER) {
    if (!Number.isInteger(Math.log2(initial)) || initial < 1) throw new RangeError(`a tag window's size is a power of two, not ${initial}`);
    this.#slots = new Array<T | undefined>(initial).fill(undefined);
    this.#mask = initial - 1;
    this.#max = max;
  }

  /** how many tags it holds room for now */
  get size(): number {
    return this.#mask + 1;
  }

  /** the value at `tag`, which lies between the lowest open tag and the highest put since */
  get(tag: number): T | undefined {
    return this.#slots[tag & this.#mask];
  }

  /** {@link get}, and the slot cleared */
  take(tag: number): T | undefined {
    const slots = this.#slots;
    const i = tag & this.#mask;
    const v = slots[i];
    if (v !== undefined) slots[i] = undefined;
    return v;
  }

  /**
   * Keep `value` at `tag`, `lowest` being the lowest open tag; the array doubles until the tag
   * fits. False, and nothing kept, for a tag below `lowest` or `max` or more past it.
   */
  put(tag: number, value: T, lowest: number): boolean {
    const ahead = tag - lowest;
    const mask = this.#mask;
    if (ahead >= 0 && ahead <= mask) {
      this.#slots[tag & mask] = value;
      return true;
    }
    if (ahead < 0 || ahead >= this.#max) return false;
    this.#grow(ahead, lowest);
    this.#slots[tag & this.#mask] = value;
    return true;
  }

  /** Widen until `ahead` tags past `lowest` fit, each slot from `lowest` on moved under the wider mask. */
  #grow(ahead: number, lowest: number): void {
    let size = this.#mask + 1;
    while (size <= ahead) size *= 2;
    const slots = new Array<T | undefined>(size).fill(undefined);
    const last = lowest + this.#mask;
    for (let t = lowest; t <= last; t++) slots[t & (size - 1)] = this.#slots[t & this.#mask];
    this.#slots = slots;
    this.#mask = size - 1;
  }
}
