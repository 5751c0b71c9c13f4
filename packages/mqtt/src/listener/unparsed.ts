const EMPTY = Buffer.alloc(0);

/**
 * Bytes read from a client but not parsed yet, kept as the chunks they arrived in, with the
 * offsets where whole packets end.
 *
 * A large PUBLISH arrives in many socket reads (a 16 MiB one in about 250 reads of 64 KiB).
 * Appending each read to one growing buffer copies everything held so far every time, which is
 * quadratic: about 2 GiB of copying, seconds of CPU, for one 16 MiB packet. Here the chunks are
 * only joined once a whole packet is there to parse, so each byte is copied at most once.
 */
export class Unparsed {
  #chunks: Buffer[] = [];
  #length = 0;
  #ends: number[] = [];

  /** `ends`: offsets in `bytes` where a packet ends (the size guard's, packet-guard.ts) */
  push(bytes: Buffer, ends: readonly number[]): void {
    for (const e of ends) this.#ends.push(this.#length + e);
    if (bytes.length === 0) return;
    this.#chunks.push(bytes);
    this.#length += bytes.length;
  }

  /** at least one whole packet is held */
  get hasPacket(): boolean {
    return this.#ends.length > 0;
  }

  /** everything held as one buffer (joined now, once), and where its packets end */
  whole(): { readonly bytes: Buffer; readonly ends: readonly number[] } {
    if (this.#chunks.length > 1) this.#chunks = [Buffer.concat(this.#chunks, this.#length)];
    return { bytes: this.#chunks[0] ?? EMPTY, ends: this.#ends };
  }

  /**
   * Drops the first `n` bytes (the packets parsed); the start of an unfinished packet stays.
   * True when nothing is left.
   */
  consume(n: number): boolean {
    if (n <= 0) return this.#length === 0;
    if (n >= this.#length) {
      this.clear();
      return true;
    }
    const rest = this.whole().bytes.subarray(n);
    this.#chunks = [rest];
    this.#length = rest.length;
    this.#ends = this.#ends.filter((e) => e > n).map((e) => e - n);
    return false;
  }

  clear(): void {
    this.#chunks = [];
    this.#length = 0;
    this.#ends = [];
  }
}
