/**
 * What the route table worked out for one source address, remembered for the next message of
 * the same address: devices publish to the same few topics again and again, and the routes that
 * take an address, their captures and the destinations rendered from them are the same every
 * time. Bounded in entries and in the characters of the addresses held (a peer can send long
 * addresses: an MQTT topic may be 65,535 bytes long, MQTT 5 §1.5.4): when either bound would be
 * passed, the memo starts afresh, so it holds at most `capacity` addresses of at most
 * `maxChars` characters together, never more. What is kept per address (matches, rendered
 * destinations) grows with the address, so the character bound bounds it too.
 */
export class AddressMemo<V> {
  readonly #capacity: number;
  readonly #maxChars: number;
  #entries = new Map<string, V>();
  #chars = 0;

  constructor(capacity: number, maxChars: number) {
    this.#capacity = capacity;
    this.#maxChars = maxChars;
  }

  get(address: string): V | undefined {
    return this.#entries.get(address);
  }

  set(address: string, value: V): void {
    // an address longer than the whole budget is never kept
    if (address.length > this.#maxChars) return;
    if (this.#entries.has(address)) {
      this.#entries.set(address, value);
      return;
    }
    if (this.#entries.size >= this.#capacity || this.#chars + address.length > this.#maxChars) {
      this.#entries = new Map();
      this.#chars = 0;
    }
    this.#entries.set(address, value);
    this.#chars += address.length;
  }
}
