/**
 * rhea's read of a transfer frame (lib/frames.js `read_frame`), straight from the bytes.
 *
 * rhea reads every frame through its generic reader: a typed wrapper object per field, a list of
 * them, and a composite performative whose getters unwrap a field on every access
 * (lib/types.js `define_composite`, `types.unwrap`). A transfer (AMQP 1.0 §2.7.5) arrives once per
 * message and its fields are read several times by rhea's session, so here the encodings senders
 * write for it are read once into plain fields, with the values rhea's getters would give:
 * - a field absent from the list is `undefined`, one encoded as null (0x40) is `null`;
 * - true (0x41) and false (0x42) are booleans, but the one-byte boolean 0x56 is the byte itself,
 *   a number, as rhea reads it (lib/types.js: Boolean has uint8 ops);
 * - uint (0x43, 0x52, 0x70) and ubyte (0x50) are numbers, binary (0xa0, 0xb0) a view on the frame.
 * rhea does not check a field's type when it reads, so neither does this: each value is read by
 * its encoding alone. Any other encoding, a descriptor other than 0x00 0x53 0x14, more than the
 * eleven fields rhea defines, a list whose declared size is not what its fields take, or a frame
 * header other than the plain eight bytes: undefined, and the caller uses rhea's own reader.
 * rhea-transfer-frame.test.ts compares the two on generated transfers.
 */

/** A field's value as rhea's composite getter gives it. */
export type TransferFieldValue = null | boolean | number | Buffer | undefined;

/** The object rhea's session is handed a transfer's frame in (lib/frames.js read_frame). */
export interface RheaFrame {
  readonly size: number;
  readonly type: number;
  readonly channel: number;
  readonly performative: TransferPerformative;
  payload?: Buffer;
}

/** What a performative's dispatch calls (rhea's Connection: `on_<name>`). */
interface TransferTarget {
  on_transfer(frame: RheaFrame): void;
}

/** The fields of §2.7.5 in their order, under rhea's names (lib/frames.js `transfer`). */
const FIELDS = ['handle', 'delivery_id', 'delivery_tag', 'message_format', 'settled', 'more', 'rcv_settle_mode', 'state', 'resume', 'aborted', 'batchable'] as const;

/** A transfer performative with rhea's field names and values; dispatches as rhea's does. */
export class TransferPerformative {
  handle: TransferFieldValue;
  delivery_id: TransferFieldValue;
  delivery_tag: TransferFieldValue;
  message_format: TransferFieldValue;
  settled: TransferFieldValue;
  more: TransferFieldValue;
  rcv_settle_mode: TransferFieldValue;
  state: TransferFieldValue;
  resume: TransferFieldValue;
  aborted: TransferFieldValue;
  batchable: TransferFieldValue;

  constructor(v: readonly TransferFieldValue[]) {
    this.handle = v[0];
    this.delivery_id = v[1];
    this.delivery_tag = v[2];
    this.message_format = v[3];
    this.settled = v[4];
    this.more = v[5];
    this.rcv_settle_mode = v[6];
    this.state = v[7];
    this.resume = v[8];
    this.aborted = v[9];
    this.batchable = v[10];
  }

  /** rhea's composite dispatch: `target['on_' + name](frame)` */
  dispatch(target: TransferTarget, frame: RheaFrame): void {
    target.on_transfer(frame);
  }

  /** as rhea's composite toJSON (its frame log): the fields that are set and truthy */
  toJSON(): Record<string, TransferFieldValue> {
    const o: Record<string, TransferFieldValue> = {};
    for (const f of FIELDS) if (this[f]) o[f] = this[f];
    return o;
  }

  /** as rhea's composite constructor prints in its frame log */
  static toString(): string {
    return 'transfer#14';
  }
}

/** The eleven values, reused between reads: the performative copies them out. */
const scratch: TransferFieldValue[] = new Array<TransferFieldValue>(FIELDS.length);

/**
 * `frame` is one whole frame (its size field says how long) as rhea's transport hands it to
 * read_frame: the transfer in it as rhea would read it, or undefined where rhea's reader must.
 */
export function readTransferFrame(frame: Buffer): RheaFrame | undefined {
  // size (4), doff 2, type 0 (AMQP), channel (2); then 0x00 0x53 0x14 and the list (§2.3.1, §2.7.5)
  if (frame.length < 12 || frame[4] !== 2 || frame[5] !== 0 || frame[8] !== 0x00 || frame[9] !== 0x53 || frame[10] !== 0x14) return undefined;
  const size = frame.readUInt32BE(0);
  if (size !== frame.length) return undefined;
  let pos = 11;
  let count: number;
  let end: number;
  const list = frame[pos++];
  if (list === 0x45) {
    count = 0;
    end = pos;
  } else if (list === 0xc0) {
    if (pos + 2 > size) return undefined;
    end = pos + 1 + (frame[pos] as number);
    count = frame[pos + 1] as number;
    pos += 2;
  } else if (list === 0xd0) {
    if (pos + 8 > size) return undefined;
    end = pos + 4 + frame.readUInt32BE(pos);
    count = frame.readUInt32BE(pos + 4);
    pos += 8;
  } else return undefined;
  if (count > FIELDS.length || end > size) return undefined;
  for (let i = 0; i < FIELDS.length; i++) scratch[i] = undefined;
  for (let i = 0; i < count; i++) {
    if (pos >= end) return undefined;
    const code = frame[pos++];
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
        v = frame[pos++];
        break;
      case 0x70:
        if (pos + 4 > end) return undefined;
        v = frame.readUInt32BE(pos);
        pos += 4;
        break;
      case 0xa0: {
        const n = frame[pos] as number;
        if (pos + 1 + n > end) return undefined;
        v = frame.subarray(pos + 1, pos + 1 + n);
        pos += 1 + n;
        break;
      }
      case 0xb0: {
        if (pos + 4 > end) return undefined;
        const n = frame.readUInt32BE(pos);
        if (pos + 4 + n > end) return undefined;
        v = frame.subarray(pos + 4, pos + 4 + n);
        pos += 4 + n;
        break;
      }
      default:
        return undefined;
    }
    scratch[i] = v;
  }
  if (pos !== end) return undefined;
  const out: RheaFrame = { size, type: 0, channel: frame.readUInt16BE(6), performative: new TransferPerformative(scratch) };
  // rhea sets a payload only when bytes follow the performative
  if (end < size) out.payload = frame.subarray(end, size);
  return out;
}
