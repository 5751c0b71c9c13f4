/**
 * The three fields of a transfer performative (AMQP 1.0 §2.7.5) the frame guard needs: handle
 * (field 0), more (5) and aborted (9; field 10 is batchable).
 *
 * Every transfer passes the guard, so the common encodings are read straight from the bytes by
 * the one reader rhea's frame read uses too (./transfer-list.ts, `transferFields`); a body in any
 * other encoding goes to the general decoder
 * (`decodeTransferFields`), whose answer is the reference: transfer-fields.test.ts checks the two
 * agree on generated and mutated performatives.
 */
import { Decoder, type AmqpValue } from './codec.js';
import { newTransferList, readTransferList, type TransferList } from './transfer-list.js';

export interface TransferFields {
  /** -1 when the handle is not a uint */
  readonly handle: number;
  readonly more: boolean;
  readonly aborted: boolean;
}

/** Through the general decoder: throws what it throws on a body that does not decode. */
export function decodeTransferFields(body: Buffer): TransferFields {
  const perf: AmqpValue = new Decoder(body).read();
  const fields = perf.type === 'described' && perf.value.type === 'list' ? perf.value.value : [];
  const h = fields[0];
  const m = fields[5];
  const ab = fields[9];
  return {
    handle: h?.type === 'uint' ? h.value : -1,
    more: m?.type === 'boolean' && m.value,
    aborted: ab?.type === 'boolean' && ab.value,
  };
}

/**
 * The three fields from a read of the performative's bytes (./transfer-list.ts), taken only in
 * the types §2.7.5 gives them: handle a uint (0x43, 0x52, 0x70), more and aborted booleans (0x41,
 * 0x42, or the one-byte 0x56 of 0 or 1, §1.6.2); undefined when a one-byte boolean holds another
 * byte anywhere in the list, which is the decoder's error to report.
 */
export function transferFields(list: TransferList): TransferFields | undefined {
  const { values, codes } = list;
  for (let i = 0; i < list.count; i++) if (codes[i] === 0x56 && (values[i] as number) > 1) return undefined;
  const h = codes[0];
  return {
    handle: h === 0x43 || h === 0x52 || h === 0x70 ? (values[0] as number) : -1,
    more: isTrue(codes[5] as number, values[5]),
    aborted: isTrue(codes[9] as number, values[9]),
  };
}

const isTrue = (code: number, v: unknown): boolean => code === 0x41 || (code === 0x56 && v === 1);

const scratch = newTransferList();

/**
 * Straight from the bytes of a body that `scanValue` has proven whole, in the encodings
 * ./transfer-list.ts reads; undefined for anything else.
 */
export function readTransferFields(body: Buffer): TransferFields | undefined {
  return readTransferList(body, 0, body.length, scratch) < 0 ? undefined : transferFields(scratch);
}
