import type { StompVersion } from './frame.js';

/**
 * Header escaping, per version.
 *
 * - STOMP 1.2 §Value Encoding: `\r` `\n` `\c` `\\` stand for CR, LF, `:` and `\`; "Undefined
 *   escape sequences such as \t MUST be treated as a fatal protocol error"; CONNECT and
 *   CONNECTED frames are not escaped.
 * - STOMP 1.1 §Value Encoding: the same, without `\r` (a CR cannot be represented: 1.1 has no
 *   escape for it, and a raw CR before the LF would read as part of the line ending).
 * - STOMP 1.0 has no escaping at all: a name cannot hold `:`, neither a name nor a value can
 *   hold CR or LF.
 *
 * NUL has no escape in any version. The 1.2 grammar would let a raw NUL stand in a header,
 * but many client parsers look for NUL to find the end of a frame, so a NUL from another
 * protocol (an AMQP header, an MQTT user property) is removed rather than written: it could
 * otherwise end the frame early in the receiver and inject whatever follows.
 */
export type Unescaped = { readonly ok: true; readonly value: string } | { readonly ok: false; readonly sequence: string };

/** Decode one header name or value read from the wire. */
export function unescapeHeader(raw: string, version: StompVersion, escaped: boolean): Unescaped {
  if (!escaped || version === '1.0' || !raw.includes('\\')) return { ok: true, value: raw };
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charAt(i);
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = raw[i + 1];
    i++;
    if (n === 'n') out += '\n';
    else if (n === 'c') out += ':';
    else if (n === '\\') out += '\\';
    else if (n === 'r' && version === '1.2') out += '\r';
    else return { ok: false, sequence: n === undefined ? '\\' : `\\${n}` };
  }
  return { ok: true, value: out };
}

// eslint-disable-next-line no-control-regex -- NUL is exactly what we look for
const NUL = /\u0000/g;
const CRLF = /[\r\n]/g;
const HAS_CRLF = /[\r\n]/;
/** every character some version escapes (`\\` LF `:` CR) or removes (NUL, and CR LF in 1.0) */
// eslint-disable-next-line no-control-regex -- NUL is one of them
const NEEDS_WORK = /[\u0000\\\n\r:]/;

/** whether every version writes `value` as it is: none of the characters any version escapes or removes */
export function writtenAsIs(value: string): boolean {
  return !NEEDS_WORK.test(value);
}

/**
 * Encode one header name or value for the wire. Returns undefined when the header cannot be
 * written in this version at all (a 1.0 header NAME containing `:`, CR or LF, or a name that is
 * empty after removing what cannot be represented); the caller drops such a header.
 */
export function escapeHeader(value: string, version: StompVersion, escaped: boolean, isName: boolean): string | undefined {
  // Nothing any version escapes or removes: the text goes as it is.
  if (writtenAsIs(value)) return isName && value === '' ? undefined : value;
  let v = value.includes('\u0000') ? value.replace(NUL, '') : value;
  if (!escaped || version === '1.0') {
    // No escaping (1.0, or CONNECT/CONNECTED in any version): CR and LF would end the line.
    if (isName && (v.includes(':') || HAS_CRLF.test(v))) return undefined;
    v = v.replace(CRLF, '');
    return isName && v === '' ? undefined : v;
  }
  if (version === '1.1') v = v.replace(/\r/g, '');
  if (isName && v === '') return undefined;
  let out = '';
  for (const c of v) {
    if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === ':') out += '\\c';
    else if (c === '\r') out += '\\r';
    else out += c;
  }
  return out;
}
