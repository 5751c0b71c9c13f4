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

/**
 * Where a stream stands between packet boundaries: kept by whoever reads the stream, in its own
 * fields ({@link PacketSizeGuard}, or the mqtt-listener's PacketInput, so that an idle device holds
 * no object of its own for it).
 */
export interface GuardState {
  /** bytes of the current packet's body still to pass before the next fixed header */
  guardBodyLeft: number;
  /**
   * fixed-header bytes of the next packet seen so far (a header may span chunks), and the
   * Remaining Length they add up to: two numbers, not an array per packet (this runs for every
   * packet a client sends)
   */
  guardHeaderLen: number;
  guardRemaining: number;
  /** the stream was refused: nothing after it is passed */
  guardFailed: boolean;
}

/** One chunk of the stream whose state is `s`, against a maximum packet size. */
export function guardChunk(s: GuardState, maxPacketSize: number, chunk: Buffer): GuardResult {
  if (s.guardFailed) return { kind: 'malformed', bytes: Buffer.alloc(0), ends: [], reason: 'stream already refused' };
  let i = 0;
  const ends: number[] = [];
  while (i < chunk.length) {
    if (s.guardBodyLeft > 0) {
      const n = Math.min(s.guardBodyLeft, chunk.length - i);
      s.guardBodyLeft -= n;
      i += n;
      if (s.guardBodyLeft === 0) ends.push(i);
      continue;
    }
    // reading a fixed header: byte 0 is the type, bytes 1..4 the Remaining Length
    const byte = chunk[i] as number;
    i++;
    const at = s.guardHeaderLen++;
    if (at === 0) continue;
    // §1.5.5 Variable Byte Integer: 7 bits per byte, least significant first
    s.guardRemaining += (byte & 0x7f) * (DIGIT[at] as number);
    if ((byte & 0x80) !== 0) {
      // §1.5.5: at most 4 bytes; a 4th byte with the continuation bit set is malformed
      if (s.guardHeaderLen === 5) return fail(s, chunk, ends, i - 5, { kind: 'malformed', reason: 'remaining length longer than 4 bytes' });
      continue;
    }
    const remaining = s.guardRemaining;
    const headerLen = s.guardHeaderLen;
    const size = headerLen + remaining;
    s.guardHeaderLen = 0;
    s.guardRemaining = 0;
    if (size > maxPacketSize) {
      // the header started headerLen bytes back, possibly in an earlier chunk
      return fail(s, chunk, ends, i - headerLen, { kind: 'oversize', size });
    }
    s.guardBodyLeft = remaining;
    if (remaining === 0) ends.push(i);
  }
  return { kind: 'ok', bytes: chunk, ends };
}

function fail(
  s: GuardState,
  chunk: Buffer,
  ends: readonly number[],
  start: number,
  what: { kind: 'oversize'; size: number } | { kind: 'malformed'; reason: string },
): GuardResult {
  s.guardFailed = true;
  const bytes = chunk.subarray(0, Math.max(0, start));
  const before = ends.filter((e) => e <= bytes.length);
  return what.kind === 'oversize' ? { kind: 'oversize', bytes, ends: before, size: what.size } : { kind: 'malformed', bytes, ends: before, reason: what.reason };
}

/** The guard of one stream as an object of its own. */
export class PacketSizeGuard implements GuardState {
  readonly #max: number;
  guardBodyLeft = 0;
  guardHeaderLen = 0;
  guardRemaining = 0;
  guardFailed = false;

  constructor(maxPacketSize: number) {
    this.#max = maxPacketSize;
  }

  push(chunk: Buffer): GuardResult {
    return guardChunk(this, this.#max, chunk);
  }
}
