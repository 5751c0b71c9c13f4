/**
 * The one read of a transfer performative's fields (AMQP 1.0 §2.7.5) from its bytes, for both
 * readers of every transfer: the frame guard (./transfer-fields.ts: handle, more, aborted) and
 * rhea's frame read (./rhea-transfer-frame.ts: all eleven fields).
 *
 * It reads `0x00 0x53 0x14` and a list0, list8 or list32 (§1.6.22) of at most eleven fields, each
 * in an encoding senders write for a transfer without a delivery state: null, true, false, uint
 * (0x43, 0x52, 0x70), ubyte, the one-byte boolean 0x56, binary (0xa0, 0xb0). Each field's value is
 * read by its encoding alone (the two readers judge types their own way), and its encoding code is
 * kept beside it: the guard takes a field only in the type §2.7.5 gives it, and reads 0x56 as a
 * boolean, where rhea takes any and reads 0x56 as its byte. Anything else (another encoding,
 * more fields, a list whose declared size is not what its fields take, or that runs past `limit`):
 * -1, and each caller goes to its general decoder.
 */

/** A field's value by its encoding: absent undefined, null null, true/false, a number, a binary's view. */
export type TransferFieldValue = null | boolean | number | Buffer | undefined;

/** §2.7.5 defines eleven fields (handle .. batchable). */
const TRANSFER_FIELD_COUNT = 11;

/** Where one read leaves its fields: reused from read to read, the callers copy what they keep out. */
export interface TransferList {
  /** the fields' values; undefined past `count` */
  readonly values: TransferFieldValue[];
  /** each field's encoding code (§1.6); 0 past `count` */
  readonly codes: Uint8Array;
  /** how many fields the list holds */
  count: number;
}

export function newTransferList(): TransferList {
  return { values: new Array<TransferFieldValue>(TRANSFER_FIELD_COUNT).fill(undefined), codes: new Uint8Array(TRANSFER_FIELD_COUNT), count: 0 };
}

/**
 * Read the transfer performative starting at `at` of `buf` (its descriptor) into `out`; the
 * position after its list, or -1 where the general decoder must read it. Reads nothing at or past `limit`.
 */
export function readTransferList(buf: Buffer, at: number, limit: number, out: TransferList): number {
  if (at + 4 > limit || buf[at] !== 0x00 || buf[at + 1] !== 0x53 || buf[at + 2] !== 0x14) return -1;
  let pos = at + 3;
  let count: number;
  let end: number;
  const list = buf[pos++];
  if (list === 0x45) {
    count = 0;
    end = pos;
  } else if (list === 0xc0) {
    if (pos + 2 > limit) return -1;
    end = pos + 1 + (buf[pos] as number);
    count = buf[pos + 1] as number;
    pos += 2;
  } else if (list === 0xd0) {
    if (pos + 8 > limit) return -1;
    end = pos + 4 + buf.readUInt32BE(pos);
    count = buf.readUInt32BE(pos + 4);
    pos += 8;
  } else return -1;
  if (count > TRANSFER_FIELD_COUNT || end > limit) return -1;
  const { values, codes } = out;
  for (let i = 0; i < count; i++) {
    if (pos >= end) return -1;
    const code = buf[pos++] as number;
    let v: TransferFieldValue;
    switch (code) {
      case 0x40:
        v = null;
        break;
      case 0x41:
        v = true;
        break;
      case 0x42:
        v = false;
        break;
      case 0x43:
        v = 0;
        break;
      case 0x50:
      case 0x52:
      case 0x56:
        v = buf[pos++];
        break;
      case 0x70:
        if (pos + 4 > end) return -1;
        v = buf.readUInt32BE(pos);
        pos += 4;
        break;
      case 0xa0: {
        const n = buf[pos] as number;
        if (pos + 1 + n > end) return -1;
        v = buf.subarray(pos + 1, pos + 1 + n);
        pos += 1 + n;
        break;
      }
      case 0xb0: {
        if (pos + 4 > end) return -1;
        const n = buf.readUInt32BE(pos);
        if (pos + 4 + n > end) return -1;
        v = buf.subarray(pos + 4, pos + 4 + n);
        pos += 4 + n;
        break;
      }
      default:
        return -1;
    }
    values[i] = v;
    codes[i] = code;
  }
  if (pos !== end) return -1;
  for (let i = count; i < TRANSFER_FIELD_COUNT; i++) {
    values[i] = undefined;
    codes[i] = 0;
  }
  out.count = count;
  return end;
}
