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

/** the weight of the Remaining Length's n-th header byte (n = 1..4, §1.5.5: 128^(n-1)) */
const DIGIT = [0, 1, 128, 16_384, 2_097_152] as const;

export class PacketSizeGuard {
  readonly #max: number;
  /** bytes of the current packet's body still to pass before the next fixed header */
  #bodyLeft = 0;
  /**
   * fixed-header bytes of the next packet seen so far (a header may span chunks), and the
   * Remaining Length they add up to: two numbers, not an array per packet (this runs for every
   * packet a client sends)
   */
  #headerLen = 0;
  #remaining = 0;
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
      const byte = chunk[i] as number;
      i++;
      const at = this.#headerLen++;
      if (at === 0) continue;
      // §1.5.5 Variable Byte Integer: 7 bits per byte, least significant first
      this.#remaining += (byte & 0x7f) * (DIGIT[at] as number);
      if ((byte & 0x80) !== 0) {
        // §1.5.5: at most 4 bytes; a 4th byte with the continuation bit set is malformed
        if (this.#headerLen === 5) return this.#fail(chunk, ends, i - 5, { kind: 'malformed', reason: 'remaining length longer than 4 bytes' });
        continue;
      }
      const remaining = this.#remaining;
      const headerLen = this.#headerLen;
      const size = headerLen + remaining;
      this.#headerLen = 0;
      this.#remaining = 0;
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
