import { unescapeHeader } from './escape.js';
import { StompFrameError } from './frame-error.js';
import { CLIENT_COMMANDS, type HeaderEntry, type StompFrame, type StompVersion } from './frame.js';

/**
 * Size limits, checked while parsing, before anything past them is buffered
 * (STOMP 1.2 §Size Limits: a server may limit the number of headers, the length of a header
 * line and the size of a body, and must tell the client with an ERROR frame).
 */
export interface FrameLimits {
  /** command line + header block + body, in bytes (EOLs included) */
  readonly maxFrameBytes: number;
  readonly maxHeaders: number;
  /** one command or header line, without its EOL */
  readonly maxHeaderLineBytes: number;
  readonly maxBodyBytes: number;
}

const DEFAULT_FRAME_LIMITS: FrameLimits = {
  maxFrameBytes: 1024 * 1024,
  maxHeaders: 100,
  maxHeaderLineBytes: 8 * 1024,
  maxBodyBytes: 1024 * 1024,
};

/** Frames that are never escaped (STOMP 1.2 §Value Encoding). */
const UNESCAPED_COMMANDS = new Set(['CONNECT', 'STOMP', 'CONNECTED']);
const COMMAND = /^[A-Z]+$/;
const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
/** the commands a server reads (STOMP 1.2 §Client Frames), by length */
const COMMANDS = byLength([...CLIENT_COMMANDS]);
/** the header names of the client frames (STOMP 1.2 §Client Frames) and the usual application ones, by length */
const HEADER_NAMES = byLength([
  'accept-version',
  'host',
  'login',
  'passcode',
  'heart-beat',
  'destination',
  'receipt',
  'transaction',
  'content-type',
  'content-length',
  'id',
  'ack',
  'persistent',
  'expires',
  'priority',
  'reply-to',
  'correlation-id',
  'message-id',
]);

function byLength(names: readonly string[]): readonly (readonly string[])[] {
  const table: string[][] = [];
  for (const n of names) (table[n.length] ??= []).push(n);
  return table;
}

/** the name of `table` that `text[from, end)` spells, or undefined */
function knownName(table: readonly (readonly string[] | undefined)[], text: string, from: number, end: number): string | undefined {
  const names = table[end - from];
  if (names !== undefined) for (const n of names) if (text.startsWith(n, from)) return n;
  return undefined;
}

/** LF LF: the last header line's end and the blank line after it */
const BLANK_LINE = Buffer.from('\n\n');
/** header blocks longer than this go line by line */
const MAX_BLOCK_BYTES = 4096;

type State = 'idle' | 'command' | 'headers' | 'body-length' | 'body-end' | 'body-nul' | 'stopped';

/**
 * A streaming STOMP frame parser. Feed it TCP chunks as they come ({@link push}); frames may be
 * split anywhere and several may share a chunk. Each complete frame goes to `onFrame`
 * synchronously, so a handler can change {@link version} (after CONNECT) before the next frame
 * of the same chunk is decoded.
 *
 * Line endings: STOMP 1.2 §Augmented BNF allows `\r\n` as well as `\n`. A CR right before the
 * LF is removed in every version (1.0 and 1.1 have no way to put a CR at the end of a header
 * anyway, and some 1.0/1.1 clients send CRLF).
 *
 * Heart-beats (STOMP 1.2 §Heart-beating) are EOLs between frames; they are skipped.
 *
 * `push` throws a {@link StompFrameError} on the first violation; the parser then stops and
 * drops what it buffered. Frames completed earlier in the same chunk were already delivered.
 */
export class FrameParser {
  /**
   * The negotiated version; undefined before CONNECT. Until then nothing is unescaped (CONNECT
   * is never escaped, and any other frame is refused by the server anyway).
   */
  version: StompVersion | undefined;
  readonly #limits: FrameLimits;
  readonly #onFrame: (frame: StompFrame) => void;
  #state: State = 'idle';
  #line: Buffer[] = [];
  #lineLen = 0;
  #frameBytes = 0;
  #command = '';
  /** whether the frame in progress has escaped headers (every command but CONNECT, STOMP, CONNECTED) */
  #escaped = true;
  #headers: HeaderEntry[] = [];
  #contentLength = -1;
  /** the body's first part; the rest in #bodyRest (a body is mostly one part: no list for it) */
  #bodyFirst: Buffer | undefined;
  #bodyRest: Buffer[] | undefined;
  #bodyLen = 0;
  /** the chunk {@link #headerBlock} searched last (only while it is pushed), and what it found */
  #searched: Buffer | undefined;
  #blankLine = -1;
  /**
   * The last `destination` and `content-type` values read, given again to the next frame that
   * carries the same one (most clients send every frame to one destination with one content
   * type): no string made for it, and none kept per frame that holds the whole header block's
   * text alive (a value cut from it is a slice of it).
   */
  #lastDestination = '';
  #lastContentType = '';

  constructor(onFrame: (frame: StompFrame) => void, limits: Partial<FrameLimits> = {}, version?: StompVersion) {
    this.#onFrame = onFrame;
    this.#limits = { ...DEFAULT_FRAME_LIMITS, ...limits };
    this.version = version;
  }

  /** Bytes held for the frame in progress (bounded by the limits). */
  get bufferedBytes(): number {
    return this.#lineLen + this.#bodyLen;
  }

  /** true between frames (nothing partial held) */
  get idle(): boolean {
    return this.#state === 'idle';
  }

  get stopped(): boolean {
    return this.#state === 'stopped';
  }

  /** Stop parsing for good and drop what was buffered (after an error, or on close). */
  stop(): void {
    this.#state = 'stopped';
    this.#reset();
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const len = chunk.length;
    try {
      while (pos < len) {
        switch (this.#state) {
          case 'stopped':
            return;
          case 'idle': {
            const b = chunk[pos];
            // Heart-beat EOLs between frames (STOMP 1.2 §Heart-beating).
            if (b === LF || b === CR) {
              pos++;
              continue;
            }
            this.#state = 'command';
            break;
          }
          case 'command':
          case 'headers': {
            if (this.#state === 'command' && this.#lineLen === 0) {
              const next = this.#headerBlock(chunk, pos);
              if (next !== pos) {
                pos = next;
                break;
              }
            }
            const nl = chunk.indexOf(LF, pos);
            const end = nl < 0 ? len : nl;
            if (this.#lineLen + end - pos > this.#limits.maxHeaderLineBytes + 1) {
              // +1: the CR of a CRLF is not part of the line; it is checked exactly below.
              throw this.#lineTooLong(this.#lineLen + end - pos);
            }
            this.#addFrameBytes(end - pos + (nl < 0 ? 0 : 1));
            if (nl >= 0 && this.#lineLen === 0) {
              // The whole line is in this chunk (the usual case): decoded straight from it,
              // without a slice or a copy of its bytes.
              const stop = nl > pos && chunk[nl - 1] === CR ? nl - 1 : nl;
              if (stop - pos > this.#limits.maxHeaderLineBytes) throw this.#lineTooLong(stop - pos);
              const line = chunk.toString('utf8', pos, stop);
              pos = nl + 1;
              this.#endLine(line);
              break;
            }
            if (end > pos) {
              this.#line.push(chunk.subarray(pos, end));
              this.#lineLen += end - pos;
            }
            if (nl < 0) return;
            pos = nl + 1;
            this.#endLine(this.#takeLine());
            break;
          }
          case 'body-length': {
            const need = this.#contentLength - this.#bodyLen;
            const take = Math.min(need, len - pos);
            if (take > 0) {
              this.#addBody(chunk.subarray(pos, pos + take));
              this.#bodyLen += take;
              pos += take;
            }
            if (this.#bodyLen === this.#contentLength) this.#state = 'body-end';
            break;
          }
          case 'body-end': {
            // STOMP 1.2 §Body: the body is followed by the NULL octet even with content-length.
            if (chunk[pos] !== NUL) {
              throw new StompFrameError('missing-nul', `frame ${this.#command}: no NUL octet after the ${this.#contentLength} body bytes of content-length`);
            }
            pos++;
            this.#addFrameBytes(1);
            this.#emit();
            break;
          }
          case 'body-nul': {
            const z = chunk.indexOf(NUL, pos);
            const end = z < 0 ? len : z;
            const n = end - pos;
            if (this.#bodyLen + n > this.#limits.maxBodyBytes) {
              throw new StompFrameError('limit-body-size', `frame ${this.#command}: body larger than ${this.#limits.maxBodyBytes} bytes`, { limit: this.#limits.maxBodyBytes });
            }
            this.#addFrameBytes(n + (z < 0 ? 0 : 1));
            if (n > 0) {
              this.#addBody(chunk.subarray(pos, end));
              this.#bodyLen += n;
            }
            if (z < 0) return;
            pos = z + 1;
            this.#emit();
            break;
          }
        }
      }
    } catch (err) {
      if (err instanceof StompFrameError && this.#state !== 'stopped') err.receiptId = this.#headers.find(([n]) => n === 'receipt')?.[1];
      this.stop();
      throw err;
    } finally {
      this.#searched = undefined;
    }
  }

  #addFrameBytes(n: number): void {
    this.#frameBytes += n;
    if (this.#frameBytes > this.#limits.maxFrameBytes) {
      throw new StompFrameError('limit-frame-size', `frame larger than ${this.#limits.maxFrameBytes} bytes`, { limit: this.#limits.maxFrameBytes });
    }
  }

  #lineTooLong(n: number): StompFrameError {
    return new StompFrameError('limit-header-line', `header line longer than ${this.#limits.maxHeaderLineBytes} bytes (${n} so far)`, {
      limit: this.#limits.maxHeaderLineBytes,
    });
  }

  /**
   * The rest of a header block that lies whole in `chunk` from `pos` (the usual case: a frame's
   * command and headers in one read), decoded with one `toString` and cut into lines as text,
   * in place of a search and a decode per line. Returns where it stopped: after the blank line
   * that ends the headers, or at a line it leaves to the line-by-line path (one over a limit,
   * which that path refuses with its error), or `pos` when the block is not whole in the chunk
   * or holds a multi-byte character (offsets in the text are then not offsets in the chunk).
   */
  #headerBlock(chunk: Buffer, pos: number): number {
    // One search per chunk while it finds nothing or a pair past `pos` (nothing lies between),
    // so a chunk of CRLF frames, which have no pair of LFs, is not searched again for each frame.
    if (this.#searched !== chunk || (this.#blankLine >= 0 && this.#blankLine < pos)) {
      this.#searched = chunk;
      this.#blankLine = chunk.indexOf(BLANK_LINE, pos);
    }
    const end = this.#blankLine;
    // a block this long is rare, and would be decoded again for every frame of a chunk whose
    // lines end in CRLF (the pair found is then in a body or a later frame)
    if (end < 0 || end - pos > MAX_BLOCK_BYTES || this.#frameBytes + end + 2 - pos > this.#limits.maxFrameBytes) return pos;
    // one UTF-16 unit per byte: every byte is a character of its own, so text offsets are chunk
    // offsets (a multi-byte sequence or an invalid one decodes to fewer units than bytes)
    const text = chunk.toString('utf8', pos, end + 1);
    if (text.length !== end + 1 - pos) return pos;
    const max = this.#limits.maxHeaderLineBytes;
    // no backslash in the block: no line of it has anything to unescape
    const plain = !text.includes('\\');
    let from = 0;
    while (from < text.length) {
      const nl = text.indexOf('\n', from);
      // a CR before the LF is not part of the line (STOMP 1.2 §Augmented BNF)
      const stop = nl > from && text.charCodeAt(nl - 1) === CR ? nl - 1 : nl;
      if (stop - from > max) break;
      this.#frameBytes += nl + 1 - from;
      const line = from;
      from = nl + 1;
      this.#endLineIn(text, line, stop, plain);
      // a blank line ends the headers: here when lines end in CRLF (the search above found a
      // later pair of LFs, in the body or a later frame); that rest is left alone
      if (this.#state !== 'command' && this.#state !== 'headers') return pos + from;
    }
    if (from < text.length) return pos + from;
    // the blank line right after the block
    this.#frameBytes += 1;
    this.#endLine('');
    return end + 2;
  }

  /**
   * {@link #endLine} for the line `text[from, stop)`, without a string of the whole line: a
   * header's name and value are cut from the block's text directly, a known command or header
   * name is the constant string (no string made for it, and the lookups after it compare
   * constants). `plain`: the block holds no backslash.
   */
  #endLineIn(text: string, from: number, stop: number, plain: boolean): void {
    if (this.#state === 'command') {
      const known = knownName(COMMANDS, text, from, stop);
      if (known === undefined) return this.#endLine(text.slice(from, stop));
      this.#command = known;
      this.#escaped = !UNESCAPED_COMMANDS.has(known);
      this.#state = 'headers';
      return;
    }
    const colon = text.indexOf(':', from);
    if (stop === from || !plain || colon <= from || colon >= stop || this.#headers.length >= this.#limits.maxHeaders) return this.#endLine(text.slice(from, stop));
    // STOMP 1.2 §Augmented BNF: the first colon splits; no backslash, so nothing to unescape
    const name = knownName(HEADER_NAMES, text, from, colon) ?? text.slice(from, colon);
    this.#headers.push([name, name === 'destination' || name === 'content-type' ? this.#repeatedValue(name, text, colon + 1, stop) : text.slice(colon + 1, stop)]);
  }

  /** `text[from, stop)`, the value of `destination` or `content-type`: the last one when it is the same */
  #repeatedValue(name: 'destination' | 'content-type', text: string, from: number, stop: number): string {
    const last = name === 'destination' ? this.#lastDestination : this.#lastContentType;
    if (last.length === stop - from && text.startsWith(last, from)) return last;
    const value = text.slice(from, stop);
    if (name === 'destination') this.#lastDestination = value;
    else this.#lastContentType = value;
    return value;
  }

  #takeLine(): string {
    let buf = this.#line.length === 1 ? (this.#line[0] as Buffer) : Buffer.concat(this.#line, this.#lineLen);
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    if (buf.length > this.#limits.maxHeaderLineBytes) throw this.#lineTooLong(buf.length);
    this.#line = [];
    this.#lineLen = 0;
    return buf.toString('utf8');
  }

  #endLine(line: string): void {
    if (this.#state === 'command') {
      if (!COMMAND.test(line)) {
        throw new StompFrameError('bad-command', `not a STOMP command: ${JSON.stringify(line.slice(0, 40))}`);
      }
      this.#command = line;
      this.#escaped = !UNESCAPED_COMMANDS.has(line);
      this.#state = 'headers';
      return;
    }
    if (line === '') {
      this.#endHeaders();
      return;
    }
    if (this.#headers.length >= this.#limits.maxHeaders) {
      throw new StompFrameError('limit-header-count', `frame ${this.#command}: more than ${this.#limits.maxHeaders} headers`, { limit: this.#limits.maxHeaders });
    }
    // STOMP 1.2 §Augmented BNF: header = header-name ":" header-value; the first colon splits
    // (later colons belong to the value where the version allows them unescaped).
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new StompFrameError('bad-header', `frame ${this.#command}: header line without a name and colon: ${JSON.stringify(line.slice(0, 40))}`);
    }
    const version = this.version ?? '1.0';
    const escaped = this.#escaped;
    // Without a backslash there is nothing to decode in any version (STOMP 1.2 §Value Encoding).
    if (!escaped || version === '1.0' || !line.includes('\\')) {
      this.#headers.push([line.slice(0, colon), line.slice(colon + 1)]);
      return;
    }
    const name = unescapeHeader(line.slice(0, colon), version, escaped);
    const value = unescapeHeader(line.slice(colon + 1), version, escaped);
    if (!name.ok || !value.ok) {
      const seq = !name.ok ? name.sequence : !value.ok ? value.sequence : '';
      // STOMP 1.2 §Value Encoding: undefined escape sequences MUST be a fatal protocol error.
      throw new StompFrameError('bad-escape', `frame ${this.#command}: undefined escape sequence ${JSON.stringify(seq)} in a header (STOMP ${version})`);
    }
    this.#headers.push([name.value, value.value]);
  }

  #endHeaders(): void {
    // Repeated headers: the first wins (STOMP 1.2 §Repeated Header Entries).
    let cl: HeaderEntry | undefined;
    for (const h of this.#headers) {
      if (h[0] === 'content-length') {
        cl = h;
        break;
      }
    }
    if (cl === undefined) {
      this.#state = 'body-nul';
      return;
    }
    // STOMP 1.2 §Header content-length: an octet count; anything but digits is an error.
    let n = digits(cl[1]);
    if (n < 0) {
      if (!/^[0-9]{1,15}$/.test(cl[1].trim())) {
        throw new StompFrameError('bad-content-length', `frame ${this.#command}: content-length ${JSON.stringify(cl[1].slice(0, 20))} is not a byte count`);
      }
      n = Number(cl[1].trim());
    }
    if (n > this.#limits.maxBodyBytes) {
      throw new StompFrameError('limit-body-size', `frame ${this.#command}: content-length ${n} is larger than ${this.#limits.maxBodyBytes} bytes`, { limit: this.#limits.maxBodyBytes });
    }
    // Refuse before buffering a single body byte: header block + body + NUL.
    if (this.#frameBytes + n + 1 > this.#limits.maxFrameBytes) {
      throw new StompFrameError('limit-frame-size', `frame ${this.#command}: ${this.#frameBytes + n + 1} bytes is larger than ${this.#limits.maxFrameBytes} bytes`, {
        limit: this.#limits.maxFrameBytes,
      });
    }
    this.#contentLength = n;
    this.#state = n === 0 ? 'body-end' : 'body-length';
  }

  #emit(): void {
    const first = this.#bodyFirst;
    const rest = this.#bodyRest;
    const body = first === undefined ? Buffer.alloc(0) : rest === undefined ? Buffer.from(first) : Buffer.concat([first, ...rest], this.#bodyLen);
    const f: StompFrame = { command: this.#command, headers: this.#headers, body };
    this.#reset();
    this.#state = 'idle';
    this.#onFrame(f);
  }

  #addBody(part: Buffer): void {
    if (this.#bodyFirst === undefined) this.#bodyFirst = part;
    else (this.#bodyRest ??= []).push(part);
  }

  #reset(): void {
    // a list already empty is kept (setting an array's length is a call into the runtime)
    if (this.#line.length > 0) this.#line = [];
    this.#lineLen = 0;
    this.#frameBytes = 0;
    this.#command = '';
    this.#headers = [];
    this.#contentLength = -1;
    this.#bodyFirst = undefined;
    this.#bodyRest = undefined;
    this.#bodyLen = 0;
  }
}

/** the number 1 to 15 decimal digits spell, -1 for anything else (spaces included) */
function digits(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
