/**
 * Enforces a maximum MQTT packet size on a raw byte stream, before the parser buffers anything.
 *
 * Every MQTT packet starts with a fixed header: one byte of type and flags, then the Remaining
 * Length as a Variable Byte Integer of 1–4 bytes (MQTT 5 §2.1.4, §1.5.5; 3.1.1 §2.2.3). The total
 * size is 1 + the length of that integer + its value. The guard walks packet boundaries in the
 * incoming chunks, keeping at most the 5 header bytes of a packet split across chunks, and
 * stops at the first packet that is too big or malformed. The bytes before it are handed on
 * untouched, so the parser sees exactly the stream minus the refused packet.
 */
export type GuardResult =
  /** `ends`: the offsets in `bytes` where a packet ends, so a reader can stop between two packets */
  | { readonly kind: 'ok'; readonly bytes: Buffer; readonly ends: readonly number[] }
  /** `bytes`: the complete packets before the refused one, still to be parsed; `ends` as above */
  | { readonly kind: 'oversize'; readonly bytes: Buffer; readonly ends: readonly number[]; readonly size: number }
  | { readonly kind: 'malformed'; readonly bytes: Buffer; readonly ends: readonly number[]; readonly reason: string };

export class PacketSizeGuard {
  readonly #max: number;
  /** bytes of the current packet's body still to pass before the next fixed header */
  #bodyLeft = 0;
  /** fixed-header bytes of the next packet seen so far (a header may span chunks) */
  #header: number[] = [];
  #failed = false;

  constructor(maxPacketSize: number) {
    this.#max = maxPacketSize;
  }

  push(chunk: Buffer): GuardResult {
    if (this.#failed) return { kind: 'malformed', bytes: Buffer.alloc(0), ends: [], reason: 'stream already refused' };
    let i = 0;
    const ends: number[] = [];
    while (i < chunk.length) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.length - i);
        this.#bodyLeft -= n;
        i += n;
        if (this.#bodyLeft === 0) ends.push(i);
        continue;
      }
      // reading a fixed header: byte 0 is the type, bytes 1..4 the Remaining Length
      this.#header.push(chunk[i] as number);
      i++;
      if (this.#header.length === 1) continue;
      const last = this.#header[this.#header.length - 1] as number;
      if ((last & 0x80) !== 0) {
        // §1.5.5: at most 4 bytes; a 4th byte with the continuation bit set is malformed
        if (this.#header.length === 5) return this.#fail(chunk, ends, i - 5, { kind: 'malformed', reason: 'remaining length longer than 4 bytes' });
        continue;
      }
      let remaining = 0;
      let mult = 1;
      for (let k = 1; k < this.#header.length; k++) {
        remaining += ((this.#header[k] as number) & 0x7f) * mult;
        mult *= 128;
      }
      const size = this.#header.length + remaining;
      const headerLen = this.#header.length;
      this.#header = [];
      if (size > this.#max) {
        // the header started headerLen bytes back, possibly in an earlier chunk
        return this.#fail(chunk, ends, i - headerLen, { kind: 'oversize', size });
      }
      this.#bodyLeft = remaining;
      if (remaining === 0) ends.push(i);
    }
    return { kind: 'ok', bytes: chunk, ends };
  }

  #fail(
    chunk: Buffer,
    ends: readonly number[],
    start: number,
    what: { kind: 'oversize'; size: number } | { kind: 'malformed'; reason: string },
  ): GuardResult {
    this.#failed = true;
    const bytes = chunk.subarray(0, Math.max(0, start));
    const before = ends.filter((e) => e <= bytes.length);
    return what.kind === 'oversize' ? { kind: 'oversize', bytes, ends: before, size: what.size } : { kind: 'malformed', bytes, ends: before, reason: what.reason };
  }
}
