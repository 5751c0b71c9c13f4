/**
 * A frame Ferry encoded itself, handed to rhea as a performative (through `Session.output`, so it
 * is written in order with the session's other frames) and written as it is by the wrapper of
 * rhea's `frames.write_frame` (installEncodedFrames in ./rhea-seam.ts), which sets its channel
 * from the frame rhea puts it in. Header (§2.3.1): size, doff 2, type 0 (AMQP), channel.
 */
export class EncodedFrame {
  constructor(readonly bytes: Buffer) {}

  /** rhea's frame log prints the performative's fields (lib/transport.js write) */
  toJSON(): { readonly frame: string } {
    return { frame: this.bytes.toString('hex') };
  }
}

/** A value rhea would write as a uint (§1.6.7). */
export const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** bytes of a uint (§1.6.7: uint0, smalluint, uint) */
export const uintSize = (v: number): number => (v === 0 ? 1 : v < 256 ? 2 : 5);

/** Write `v` as a uint at `at`; the position after it. */
export function putUint(b: Buffer, at: number, v: number): number {
  if (v === 0) {
    b[at] = 0x43;
    return at + 1;
  }
  if (v < 256) {
    b[at] = 0x52;
    b[at + 1] = v;
    return at + 2;
  }
  b[at] = 0x70;
  b.writeUInt32BE(v, at + 1);
  return at + 5;
}

/**
 * A frame of `fields` bytes of list items, `count` of them, under the small-ulong descriptor
 * `code` (§1.6.22 list8: the size counts the count byte and the items, at most 255), its header
 * and list head written; the items go from offset 14.
 */
export function frameWithList(code: number, count: number, fields: number): Buffer {
  const size = 8 + 3 + 3 + fields;
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32BE(size, 0);
  b[4] = 2;
  b[5] = 0;
  b[6] = 0;
  b[7] = 0;
  b[8] = 0x00;
  b[9] = 0x53;
  b[10] = code;
  b[11] = 0xc0;
  b[12] = 1 + fields;
  b[13] = count;
  return b;
}
