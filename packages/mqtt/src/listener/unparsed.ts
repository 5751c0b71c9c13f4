/**
 * Bytes read from a client but not parsed yet, kept as the reads they arrived in, with the
 * places where whole packets end; handed out one whole packet at a time.
 *
 * A packet inside one read is a view of that read: nothing is copied, and its payload keeps only
 * that read alive. Only a packet that straddles reads is joined, from its first byte to its last,
 * when it is taken: a large PUBLISH arriving in many reads (a 16 MiB one in about 250 reads of
 * 64 KiB) is copied once, and no packet ever holds bytes of other packets beyond its own reads.
 * Joining every held read into one buffer instead would copy the whole backlog on each take and
 * make every payload in flight pin a buffer as large as the backlog.
 *
 * Offsets are counted in the client's stream since this holder was made (or last emptied).
 */
export class Unparsed {
  /** the reads held, the first possibly partly taken */
  #reads: Buffer[] = [];
  /** stream offset of the first held read's first byte */
  #base = 0;
  /** stream offset just past the last held byte */
  #length = 0;
  /** stream offset of the next packet's first byte */
  #at = 0;
  /** stream offsets where held whole packets end, from index #next on */
  #ends: number[] = [];
  #next = 0;

  /**
   * One read: `ends` are offsets in `bytes` where a packet ends (the size guard's, packet-guard.ts),
   * those from index `from` on still to take. `skip` bytes at its start were parsed already (only
   * when nothing is held).
   */
  push(bytes: Buffer, ends: readonly number[], from = 0, skip = 0): void {
    const length = this.#length;
    for (let i = from; i < ends.length; i++) this.#ends.push(length + (ends[i] as number));
    if (bytes.length === 0) return;
    this.#reads.push(bytes);
    this.#length = length + bytes.length;
    this.#at += skip;
  }

  /** at least one whole packet is held */
  holdsPacket(): boolean {
    return this.#next < this.#ends.length;
  }

  /** nothing is held, not even the start of a packet */
  get empty(): boolean {
    return this.#at === this.#length;
  }

  /** the next whole packet, or undefined when none is held */
  take(): Buffer | undefined {
    const ends = this.#ends;
    if (this.#next >= ends.length) return undefined;
    const end = ends[this.#next++] as number;
    if (this.#next === ends.length) {
      ends.length = 0;
      this.#next = 0;
    }
    const reads = this.#reads;
    const first = reads[0] as Buffer;
    const from = this.#at - this.#base;
    let packet: Buffer;
    if (end - this.#base <= first.length) packet = first.subarray(from, end - this.#base);
    else {
      // the packet straddles reads: its bytes alone are joined, each copied once
      const parts = [first.subarray(from)];
      this.#base += first.length;
      reads.shift();
      while (this.#base < end) {
        const read = reads[0] as Buffer;
        if (this.#base + read.length > end) {
          parts.push(read.subarray(0, end - this.#base));
          break;
        }
        parts.push(read);
        this.#base += read.length;
        reads.shift();
      }
      packet = Buffer.concat(parts, end - this.#at);
    }
    this.#at = end;
    if (end - this.#base === reads[0]?.length) {
      this.#base = end;
      reads.shift();
    }
    if (reads.length === 0) {
      // all taken: offsets start again from 0
      this.#base = 0;
      this.#length = 0;
      this.#at = 0;
    }
    return packet;
  }
}
