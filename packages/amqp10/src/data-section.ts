/**
 * A data section (AMQP 1.0 §3.2.6) in the encoding senders write: the descriptor `0x00 0x53 0x75`
 * (smallulong 0x75) and a vbin8 (`0xa0`, one size byte) or vbin32 (`0xb0`, four) binary
 * (§1.6.20). The bounded scan passes one by its size and `parseMessage` takes its binary as a
 * view of the bytes; both find it here, as two numbers, with no object made for it.
 */

/**
 * The end of the data section at `at` (where its binary ends) when it is in that encoding and ends
 * within `end`; -1 for anything else, which the caller then reads value by value.
 */
export function dataSectionEnd(bytes: Buffer, at: number, end: number): number {
  if (at + 5 > end || bytes[at] !== 0x00 || bytes[at + 1] !== 0x53 || bytes[at + 2] !== 0x75) return -1;
  const code = bytes[at + 3];
  let next: number;
  if (code === 0xa0) next = at + 5 + (bytes[at + 4] as number);
  else if (code === 0xb0 && at + 8 <= end) next = at + 8 + bytes.readUInt32BE(at + 4);
  else return -1;
  return next > end ? -1 : next;
}

/** Where the binary of a data section {@link dataSectionEnd} found at `at` starts: after its size. */
export function dataSectionStart(bytes: Buffer, at: number): number {
  return bytes[at + 3] === 0xa0 ? at + 5 : at + 8;
}
