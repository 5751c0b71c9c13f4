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
 * its encoding alone (./transfer-list.ts, the one reader the frame guard uses too). Any other
 * encoding, a descriptor other than 0x00 0x53 0x14, more than the eleven fields rhea defines, a
 * list whose declared size is not what its fields take, or a frame header other than the plain
 * eight bytes: undefined, and the caller uses rhea's own reader. A transfer the frame guard has
 * read already is handed on (`handOn`) and not read again. rhea-transfer-frame.test.ts compares
 * the two readers on generated transfers.
 */

import { newTransferList, readTransferList, type TransferFieldValue, type TransferList } from './transfer-list.js';

export type { TransferFieldValue };

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

const scratch = newTransferList();

/**
 * `frame` is one whole frame (its size field says how long) as rhea's transport hands it to
 * read_frame: the transfer in it as rhea would read it, or undefined where rhea's reader must.
 */
export function readTransferFrame(frame: Buffer): RheaFrame | undefined {
  // size (4), doff 2, type 0 (AMQP), channel (2); then the performative (§2.3.1, §2.7.5)
  if (frame.length < 12 || frame[4] !== 2 || frame[5] !== 0) return undefined;
  const size = frame.readUInt32BE(0);
  if (size !== frame.length) return undefined;
  const end = readTransferList(frame, 8, size, scratch);
  if (end < 0) return undefined;
  return transferFrame(frame.readUInt16BE(6), scratch, end < size ? frame.subarray(end, size) : undefined, size);
}

/** rhea's frame object for a transfer read into `list`; `payload` only when bytes follow the performative, as rhea sets it. */
export function transferFrame(channel: number, list: TransferList, payload: Buffer | undefined, size: number): RheaFrame {
  const out: RheaFrame = { size, type: 0, channel, performative: new TransferPerformative(list.values) };
  if (payload !== undefined) out.payload = payload;
  return out;
}

/**
 * Transfers the frame guard has read (it reads every transfer's performative before rhea sees
 * the frame), kept for read_frame to take rather than read the same bytes again. A frame is
 * known by where its bytes are (the memory, the offset and the length of rhea's slice of what
 * the guard passed on), so what is taken is exactly what rhea would have read; a frame not found
 * here is read from its bytes as before. The guard drops what is left once rhea has read what it
 * passed on.
 */
let handing = false;
const handedMemory: ArrayBufferLike[] = [];
const handedOffsets: number[] = [];
const handedFrames: RheaFrame[] = [];
let taken = 0;

/** read_frame takes handed transfers (installTransferRead): until then the guard hands none on. */
export function takeHandedTransfers(): void {
  handing = true;
}

/** Whether read_frame takes what is handed on. */
export function handingOn(): boolean {
  return handing;
}

/** `frame` is the transfer in the whole frame at `offset` of `memory` (its size is `frame.size`). */
export function handOn(memory: ArrayBufferLike, offset: number, frame: RheaFrame): void {
  handedMemory.push(memory);
  handedOffsets.push(offset);
  handedFrames.push(frame);
}

/** The transfer handed on for exactly these bytes, taken (at most once), or undefined. */
export function takeHanded(bytes: Buffer): RheaFrame | undefined {
  const i = taken;
  if (i >= handedFrames.length) return undefined;
  const f = handedFrames[i] as RheaFrame;
  if (handedMemory[i] !== bytes.buffer || handedOffsets[i] !== bytes.byteOffset || f.size !== bytes.length) return undefined;
  taken = i + 1;
  return f;
}

/** Forget every transfer handed on (once rhea has read the frames they were in). */
export function dropHanded(): void {
  if (handedFrames.length === 0) return;
  handedMemory.length = 0;
  handedOffsets.length = 0;
  handedFrames.length = 0;
  taken = 0;
}
