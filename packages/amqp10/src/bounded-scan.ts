/**
 * Walks AMQP 1.0 encoded values (§1.6 type encodings) without building them, to prove that a
 * frame body decodes within the bytes it has BEFORE rhea decodes it.
 *
 * rhea trusts the count of a list, map or array (lib/types.js read_compound allocates
 * `new Array(count)`, read_array_items loops `count` times) and zero-width elements (null,
 * true, false, uint0, ulong0, list0: §1.6.1–§1.6.24 "fixed width 0") consume no bytes, so a
 * 49-byte frame announcing 4,294,967,295 nulls makes it allocate until the heap is gone. The
 * rule enforced here: a region of N bytes decodes to at most N values. Every value outside an
 * array takes at least its constructor byte, so only zero-width array elements can break it;
 * they are charged one value each against the region's budget. Besides that each size and
 * count is checked against the bytes actually left, sizes must match what their items used,
 * a map has an even count (§1.6.23), and nesting is bounded.
 */
import { FerryError } from '@ferry/core';
import { dataSectionEnd } from './data-section.js';

const MAX_DEPTH = 64;

function decodeError(message: string): FerryError {
  return new FerryError('PROTOCOL_ERROR', `AMQP 1.0 decode error: ${message}`, { permanent: true, details: { condition: 'amqp:decode-error' } });
}

/**
 * The width in bytes of a fixed-width primitive's value (§1.6, "fixed-width" encodings), or
 * undefined for a variable-width, compound or array constructor (or an unknown one).
 */
function fixedWidth(code: number): number | undefined {
  if (code >= 0x40 && code <= 0x45) return 0;
  if (code >= 0x50 && code <= 0x56) return 1;
  if (code === 0x60 || code === 0x61) return 2;
  if (code >= 0x70 && code <= 0x74) return 4;
  if (code >= 0x80 && code <= 0x84) return 8;
  if (code === 0x94 || code === 0x98) return 16;
  return undefined;
}

class Scanner {
  #pos: number;
  readonly #end: number;
  readonly #buf: Buffer;
  /** values still allowed in this region: one per byte */
  #budget: number;

  constructor(buf: Buffer, start: number, end: number) {
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
    this.#budget = end - start;
  }

  get position(): number {
    return this.#pos;
  }

  get done(): boolean {
    return this.#pos >= this.#end;
  }

  #need(n: number, limit = this.#end): void {
    if (this.#pos + n > limit) throw decodeError(`truncated value at byte ${this.#pos} (needs ${n}, has ${limit - this.#pos})`);
  }

  #u8(limit: number): number {
    this.#need(1, limit);
    return this.#buf[this.#pos++] as number;
  }

  #uint(width: 1 | 4, limit: number): number {
    if (width === 1) return this.#u8(limit);
    this.#need(4, limit);
    this.#pos += 4;
    return this.#buf.readUInt32BE(this.#pos - 4);
  }

  #spend(values: number): void {
    this.#budget -= values;
    if (this.#budget < 0) throw decodeError(`more values than bytes (${values} announced at byte ${this.#pos})`);
  }

  /**
   * A data section (§3.2.6) in the encoding of ./data-section.ts that ends within the region:
   * passed by its size (three values: the section, its descriptor, the binary), true; false for
   * anything else, which `value` then walks.
   */
  dataSection(): boolean {
    const next = dataSectionEnd(this.#buf, this.#pos, this.#end);
    if (next < 0) return false;
    this.#spend(3);
    this.#pos = next;
    return true;
  }

  /** One value, constructor and all; `limit` is the end of the compound it sits in. */
  value(depth: number, limit = this.#end): void {
    this.#spend(1);
    const code = this.#ctor(depth, limit);
    this.#body(code, depth, limit);
  }

  /** A constructor (§1.5): a type code, or 0x00, a descriptor value and a type code. */
  #ctor(depth: number, limit: number): number {
    if (depth > MAX_DEPTH) throw decodeError(`nesting deeper than ${MAX_DEPTH}`);
    const code = this.#u8(limit);
    if (code !== 0x00) return code;
    this.value(depth + 1, limit);
    const inner = this.#u8(limit);
    if (inner === 0x00) throw decodeError('a descriptor of a descriptor');
    return inner;
  }

  #body(code: number, depth: number, limit: number): void {
    const w = fixedWidth(code);
    if (w !== undefined) {
      this.#need(w, limit);
      this.#pos += w;
      return;
    }
    switch (code) {
      case 0xa0:
      case 0xa1:
      case 0xa3:
      case 0xb0:
      case 0xb1:
      case 0xb3: {
        const n = this.#uint(code < 0xb0 ? 1 : 4, limit);
        this.#need(n, limit);
        this.#pos += n;
        return;
      }
      case 0xc0:
      case 0xc1:
      case 0xd0:
      case 0xd1: {
        const { end, count } = this.#sizeCount(code < 0xd0 ? 1 : 4, limit);
        // every item of a list or map has its own constructor: at least one byte each
        if (count > end - this.#pos) throw decodeError(`count ${count} larger than its ${end - this.#pos} bytes left`);
        // §1.6.23: a map holds key, value pairs
        if ((code === 0xc1 || code === 0xd1) && count % 2 !== 0) throw decodeError(`map with an odd count ${count}`);
        for (let i = 0; i < count; i++) this.value(depth + 1, end);
        this.#ends(end, 'compound');
        return;
      }
      case 0xe0:
      case 0xf0: {
        const { end, count } = this.#sizeCount(code === 0xe0 ? 1 : 4, limit);
        // §1.6.24: one constructor, then `count` values of that type without their own
        const element = this.#ctor(depth + 1, end);
        const ew = fixedWidth(element);
        if (ew !== undefined) {
          // no per-element walk: the sizes must add up exactly
          if (count * ew !== end - this.#pos) throw decodeError(`array of ${count} × ${ew}-byte elements in ${end - this.#pos} bytes`);
          this.#spend(count);
          this.#pos = end;
          return;
        }
        this.#spend(count);
        for (let i = 0; i < count; i++) this.#body(element, depth + 1, end);
        this.#ends(end, 'array');
        return;
      }
      default:
        throw decodeError(`unknown type code 0x${code.toString(16)} at byte ${this.#pos - 1}`);
    }
  }

  #sizeCount(width: 1 | 4, limit: number): { end: number; count: number } {
    const size = this.#uint(width, limit);
    this.#need(size, limit);
    const end = this.#pos + size;
    const count = this.#uint(width, end);
    return { end, count };
  }

  #ends(end: number, what: string): void {
    if (this.#pos !== end) throw decodeError(`${what} size mismatch (ends at ${this.#pos}, declared ${end})`);
  }
}

/**
 * Checks that `buf[start, end)` holds a sequence of whole AMQP 1.0 values that decode within
 * their bytes; throws a `PROTOCOL_ERROR` FerryError (condition amqp:decode-error) otherwise.
 */
export function scanValues(buf: Buffer, start = 0, end = buf.length): void {
  // the sections of a message as rhea and most senders write one with a data body: the header or
  // properties as a described empty list (`0x00 0x53 <code> 0x45`, three values in four bytes)
  // and data sections (three values in five bytes or more), passed by their sizes without a
  // Scanner. Each passes fewer values than bytes, so what follows is scanned with the budget
  // of its own bytes and the region's rule still holds.
  let at = start;
  while (at < end) {
    const next = dataSectionEnd(buf, at, end);
    if (next >= 0) at = next;
    else if (at + 4 <= end && buf[at] === 0x00 && buf[at + 1] === 0x53 && buf[at + 3] === 0x45) at += 4;
    else break;
  }
  if (at >= end) return;
  const s = new Scanner(buf, at, end);
  while (!s.done) if (!s.dataSection()) s.value(0);
}

/** Checks the one value at `start` like scanValues; returns the position after it. */
export function scanValue(buf: Buffer, start = 0, end = buf.length): number {
  const s = new Scanner(buf, start, end);
  s.value(0);
  return s.position;
}
