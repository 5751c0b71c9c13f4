/**
 * The three fields of a transfer performative (AMQP 1.0 §2.7.5) the frame guard needs: handle
 * (field 0), more (5) and aborted (9; field 10 is batchable).
 *
 * Every transfer passes the guard, so the common encodings are read straight from the bytes
 * (`readTransferFields`); a body in any other encoding goes to the general decoder
 * (`decodeTransferFields`), whose answer is the reference: transfer-fields.test.ts checks the two
 * agree on generated and mutated performatives.
 */
import { Decoder, type AmqpValue } from './codec.js';

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
 * Straight from the bytes of a body that `scanValue` has proven whole, when the performative is
 * `0x00 0x53 0x14` and a list whose fields are each null, true, false, a uint (0x43, 0x52, 0x70),
 * a ubyte, a one-byte boolean of 0 or 1, or a short binary (§1.6: what senders write for a
 * transfer without a delivery state); undefined for anything else.
 */
export function readTransferFields(body: Buffer): TransferFields | undefined {
  if (body[0] !== 0x00 || body[1] !== 0x53 || body[2] !== 0x14) return undefined;
  let pos = 3;
  let count: number;
  let end: number;
  const list = body[pos++];
  if (list === 0x45) {
    count = 0;
    end = pos;
  } else if (list === 0xc0) {
    end = pos + 1 + (body[pos] as number);
    count = body[pos + 1] as number;
    pos += 2;
  } else if (list === 0xd0) {
    end = pos + 4 + body.readUInt32BE(pos);
    count = body.readUInt32BE(pos + 4);
    pos += 8;
  } else return undefined;
  let handle = -1;
  let more = false;
  let aborted = false;
  for (let i = 0; i < count; i++) {
    const code = body[pos++];
    let uint: number | undefined;
    let bool: boolean | undefined;
    switch (code) {
      case 0x40:
        break;
      case 0x41:
        bool = true;
        break;
      case 0x42:
        bool = false;
        break;
      case 0x43:
        uint = 0;
        break;
      case 0x52:
        uint = body[pos++];
        break;
      case 0x70:
        uint = body.readUInt32BE(pos);
        pos += 4;
        break;
      case 0x50:
        pos += 1;
        break;
      case 0x56: {
        const b = body[pos++];
        // §1.6.2: 0x00 or 0x01; anything else is the decoder's error to report
        if (b !== 0 && b !== 1) return undefined;
        bool = b === 1;
        break;
      }
      case 0xa0:
        pos += 1 + (body[pos] as number);
        break;
      default:
        return undefined;
    }
    if (i === 0) handle = uint ?? -1;
    else if (i === 5) more = bool === true;
    else if (i === 9) aborted = bool === true;
  }
  return pos === end ? { handle, more, aborted } : undefined;
}
