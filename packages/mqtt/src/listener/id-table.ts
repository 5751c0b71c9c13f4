/**
 * A table keyed by MQTT packet identifier (1..65535, MQTT 5 §2.2.1): what a session has in flight
 * to its subscriber, and the publishes of its client still being settled.
 *
 * A V8 Map or Set shrinks its hash table when a deletion leaves it a quarter full, and grows it
 * again as entries come: a window of QoS 1 messages that fills and drains (every PUBLISH added,
 * every PUBACK deleted) reallocates the table several times per window, and the allocation
 * profile of path C showed those tables among the listener's largest allocations per message.
 * This one is open addressing in one array of key/value pairs, made on the first entry (an idle
 * device holds none), grown as needed and never shrunk until cleared. Linear probing with
 * backward-shift deletion keeps lookups short without tombstones.
 *
 * An id's home slot is its Fibonacci hash (the id times 2^32 / the golden ratio, its top bits),
 * not the id itself: packet identifiers are handed out in sequence, and a window of sequential
 * ids at home `id & mask` is one run of occupied slots, which a deletion of the oldest (a
 * PUBACK, nearly always the oldest) walks to its end to find what to shift back. With a window
 * of 1,000 that was 4.7 µs per deletion (docs/benchmarks-log.md, session 28). The hash spreads a
 * sequence evenly over the table (each id still lands in its own slot, a lookup is one
 * comparison), so runs stay a few slots long.
 */
export class IdTable<V> {
  /** keys at even indexes (0: free), their values after them; undefined until the first entry */
  #slots: (number | V | undefined)[] | undefined;
  #size = 0;
  /** slot count - 1 (a power of two) */
  #mask = 0;

  get size(): number {
    return this.#size;
  }

  get(id: number): V | undefined {
    const slots = this.#slots;
    if (slots === undefined) return undefined;
    const mask = this.#mask;
    for (let i = home(id, mask); ; i = (i + 1) & mask) {
      const k = slots[2 * i];
      if (k === id) return slots[2 * i + 1] as V;
      if (k === 0) return undefined;
    }
  }

  has(id: number): boolean {
    return this.#find(id) >= 0;
  }

  set(id: number, value: V): void {
    let slots = this.#slots;
    if (slots === undefined) {
      // 4 slots: one message in flight to an idle device costs less than an empty Map
      slots = this.#slots = new Array<number | V | undefined>(8).fill(0);
      this.#mask = 3;
    }
    const at = this.#find(id);
    if (at >= 0) {
      slots[2 * at + 1] = value;
      return;
    }
    // at most half full: a free slot always ends a probe, and probes stay short
    if (2 * (this.#size + 1) > this.#mask + 1) slots = this.#grow();
    const mask = this.#mask;
    let i = home(id, mask);
    while (slots[2 * i] !== 0) i = (i + 1) & mask;
    slots[2 * i] = id;
    slots[2 * i + 1] = value;
    this.#size++;
  }

  delete(id: number): boolean {
    let hole = this.#find(id);
    if (hole < 0) return false;
    const slots = this.#slots as (number | V | undefined)[];
    const mask = this.#mask;
    // backward shift: each entry after the hole whose home slot does not lie between the hole
    // and itself moves into the hole, so no probe meets a free slot before its key
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const k = slots[2 * j] as number;
      if (k === 0) break;
      const h = home(k, mask);
      const stays = hole <= j ? hole < h && h <= j : hole < h || h <= j;
      if (stays) continue;
      slots[2 * hole] = k;
      slots[2 * hole + 1] = slots[2 * j + 1];
      hole = j;
    }
    slots[2 * hole] = 0;
    slots[2 * hole + 1] = undefined;
    this.#size--;
    return true;
  }

  clear(): void {
    this.#slots = undefined;
    this.#size = 0;
    this.#mask = 0;
  }

  /** every entry as [id, value], in no particular order: a copy, so the table may change meanwhile */
  entries(): [number, V][] {
    const out: [number, V][] = [];
    const slots = this.#slots;
    if (slots === undefined) return out;
    for (let i = 0; i < slots.length; i += 2) if (slots[i] !== 0) out.push([slots[i] as number, slots[i + 1] as V]);
    return out;
  }

  /** the slot holding `id`, or -1 */
  #find(id: number): number {
    const slots = this.#slots;
    if (slots === undefined) return -1;
    const mask = this.#mask;
    for (let i = home(id, mask); ; i = (i + 1) & mask) {
      const k = slots[2 * i];
      if (k === id) return i;
      if (k === 0) return -1;
    }
  }

  #grow(): (number | V | undefined)[] {
    const old = this.#slots as (number | V | undefined)[];
    const mask = 2 * (this.#mask + 1) - 1;
    const slots = new Array<number | V | undefined>(2 * (mask + 1)).fill(0);
    for (let s = 0; s < old.length; s += 2) {
      const k = old[s] as number;
      if (k === 0) continue;
      let i = home(k, mask);
      while (slots[2 * i] !== 0) i = (i + 1) & mask;
      slots[2 * i] = k;
      slots[2 * i + 1] = old[s + 1];
    }
    this.#slots = slots;
    this.#mask = mask;
    return slots;
  }
}

/**
 * the home slot of `id` in a table of `mask + 1` slots (a power of two): the top log2(slots) bits
 * of its Fibonacci hash, which `mask`'s leading zeros count off
 */
function home(id: number, mask: number): number {
  return Math.imul(id, 0x9e3779b1) >>> Math.clz32(mask);
}
