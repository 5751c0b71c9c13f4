import { escapeHeader, writtenAsIs } from './escape.js';
import type { HeaderEntry, StompVersion } from './frame.js';

const UNESCAPED_COMMANDS = new Set(['CONNECT', 'STOMP', 'CONNECTED']);
/** Frames that carry a body (STOMP 1.2 §Body: only SEND, MESSAGE and ERROR frames MAY). */
const BODY_COMMANDS = new Set(['SEND', 'MESSAGE', 'ERROR']);

export interface EncodeResult {
  readonly bytes: Buffer;
  /** names of headers left out because this version cannot represent them */
  readonly dropped: readonly string[];
}

/**
 * Encode a frame for a peer speaking `version`.
 *
 * - Header names and values are escaped for the version ({@link escapeHeader}); CONNECT and
 *   CONNECTED never are (STOMP 1.2 §Value Encoding). A value can therefore never end its line,
 *   start a new header or end the frame: CR, LF and NUL are escaped or removed.
 * - A header the version cannot represent (1.0 names with `:`, CR or LF) is dropped and named
 *   in `dropped`.
 * - Any `content-length` in `headers` is ignored and one is always written for frames that
 *   carry a body (STOMP 1.2 §Header content-length: "SHOULD be included"), so a body may
 *   contain NUL octets.
 * - Headers are written in the given order; the caller puts protocol headers first, so a
 *   repeated header from an application can never override one (the first one wins,
 *   STOMP 1.2 §Repeated Header Entries).
 */
export function encodeFrameDetailed(command: string, headers: Iterable<HeaderEntry>, body: Buffer | undefined, version: StompVersion): EncodeResult {
  return encodeFrameAfter(`${command}\n`, !UNESCAPED_COMMANDS.has(command), BODY_COMMANDS.has(command), headers, undefined, body, version);
}

/**
 * The frame whose command line and first headers are `head`, already encoded (what the MESSAGE
 * frames of one subscription share, message-head.ts), then `headers` but those `skip` names,
 * as {@link encodeFrameDetailed} writes them: `escaped` and `bodyCommand` are what it finds for
 * the command.
 */
export function encodeFrameAfter(
  head: string,
  escaped: boolean,
  bodyCommand: boolean,
  headers: Iterable<HeaderEntry>,
  skip: ReadonlySet<string> | undefined,
  body: Buffer | undefined,
  version: StompVersion,
): EncodeResult {
  let dropped: string[] | undefined;
  for (const [name, value] of headers) {
    if (skip?.has(name) === true) continue;
    const n = escapeHeader(name, version, escaped, true);
    const v = escapeHeader(value, version, escaped, false);
    if (n === undefined || v === undefined) {
      (dropped ??= []).push(name);
      continue;
    }
    // The encoder writes the one content-length. Checked on the name as it goes on the wire: a
    // name that only becomes `content-length` there (a CR or NUL removed, "content-length\r" from
    // a 1.0 client) would otherwise come first and frame the body for the receiver (first wins).
    if (n === 'content-length') continue;
    head += `${n}:${v}\n`;
  }
  const withBody = body !== undefined && (body.length > 0 || bodyCommand);
  if (withBody) head += `content-length:${body.length}\n`;
  head += '\n';
  // one buffer: the header block written into it, the body copied after it, then the NUL
  const headLength = Buffer.byteLength(head, 'utf8');
  const bodyLength = withBody ? body.length : 0;
  const bytes = Buffer.allocUnsafe(headLength + bodyLength + 1);
  bytes.write(head, 0, 'utf8');
  if (withBody) body.copy(bytes, headLength);
  bytes[headLength + bodyLength] = 0;
  return { bytes, dropped: dropped ?? NONE_DROPPED };
}

const NONE_DROPPED: readonly string[] = [];

export function encodeFrame(command: string, headers: Iterable<HeaderEntry>, body: Buffer | undefined, version: StompVersion): Buffer {
  return encodeFrameDetailed(command, headers, body, version).bytes;
}

/**
 * A RECEIPT (STOMP 1.2 §RECEIPT), the frame a client with receipts gets for every SEND: in one
 * string and one buffer, byte for byte what {@link encodeFrame} writes for
 * `RECEIPT` with the one header `receipt-id` (encoder.test.ts checks it). An id with a
 * character that some version escapes or removes goes through encodeFrame.
 */
export function encodeReceipt(receiptId: string, version: StompVersion): Buffer {
  const text = receiptText(receiptId);
  return text === undefined ? encodeFrame('RECEIPT', [['receipt-id', receiptId]], undefined, version) : Buffer.from(text, 'utf8');
}

/**
 * The RECEIPT for `receiptId` as text, the same in every version, when the id has no character
 * some version escapes or removes; undefined otherwise (then only {@link encodeReceipt} writes it).
 */
export function receiptText(receiptId: string): string | undefined {
  return writtenAsIs(receiptId) ? `RECEIPT\nreceipt-id:${receiptId}\n\n\u0000` : undefined;
}

/** A heart-beat: one EOL (STOMP 1.2 §Heart-beating). */
export const HEARTBEAT = Buffer.from('\n');
