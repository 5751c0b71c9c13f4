/**
 * A socket stand-in between a TCP socket and rhea: for each client of the listener, and for the
 * amqp10 connector's own connection to its peer (`role: 'client'`).
 *
 * rhea reads whatever arrives: a frame header announcing 4 GB makes it buffer forever, a
 * message split over many transfer frames is reassembled without a limit, and when it fails it
 * ends the socket without telling the peer why. The guard checks each frame BEFORE rhea sees
 * it (AMQP 1.0 §2.3 frame layout):
 * - the protocol header (§2.2): anything but "AMQP" closes the socket (a server first answers
 *   with the header it supports);
 * - frame size ≥ 8 and ≤ maxFrameSize (§2.7.1 max-frame-size), data offset ≥ 2 (§2.3.1),
 *   else close with `amqp:connection:framing-error`;
 * - after the AMQP header, the peer's first frame is an open (§2.4.1), else `amqp:not-allowed`;
 * - the frame type: 0 (AMQP) after an AMQP header, 1 (SASL) after a SASL header (§2.3, §5.3.1),
 *   else `amqp:connection:framing-error`;
 * - every frame body, SASL frames included, decodes within its bytes (./bounded-scan.ts: no
 *   count larger than the bytes can hold), else `amqp:decode-error`; a transfer's message is
 *   checked the same way once its last frame is in (§2.7.5 `more`), before rhea decodes it;
 * - a transfer's payload bytes, summed over the frames of one delivery (§2.7.5 `more`),
 *   ≤ maxMessageBytes (when given), else close with `amqp:link:message-size-exceeded`; all
 *   unfinished deliveries of the connection together ≤ maxUnfinishedBytes (when given), else
 *   `amqp:resource-limit-exceeded` (each link may have one open, §2.6.12, over many links);
 * `fail()` closes the connection the AMQP way: an open if none was sent yet (§2.4.1 — a close
 * must follow an open), then a close carrying the error (§2.7.9), then the socket.
 * Only whole, checked frames are passed on, so rhea never sees the offending frame.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeError } from '@ferry/core';
import { TurnWriter } from '@ferry/net';
import { scanValue, scanValues } from './bounded-scan.js';
import { described, encode, str, sym, type AmqpValue } from './codec.js';
import { dropHanded, handingOn, handOn, transferFrame } from './rhea-transfer-frame.js';
import { decodeTransferFields, transferFields, type TransferFields } from './transfer-fields.js';
import { newTransferList, readTransferList } from './transfer-list.js';

export interface GuardLimits {
  /** 'server': the listener's side of a client's socket; 'client': the amqp10 connector's socket */
  readonly role: 'server' | 'client';
  /** the max-frame-size this side announced in its open (§2.7.1) */
  readonly maxFrameSize: number;
  /** undefined: transfers are not summed (the amqp10 client leaves message size to its peer) */
  readonly maxMessageBytes: number | undefined;
  /**
   * bytes of the deliveries begun and not finished (§2.7.5 `more`) over all links of the
   * connection; undefined: not bounded here
   */
  readonly maxUnfinishedBytes?: number | undefined;
  /** our container-id, for an open frame we may have to send before a close */
  readonly containerId: string;
  /** SASL is mandatory: a client that skips it gets the SASL header back and the socket closed */
  readonly requireSasl: boolean;
}

const AMQP = Buffer.from('AMQP', 'ascii');
const PERFORMATIVE = { open: 0x10, transfer: 0x14, close: 0x18 } as const;
/** SASL frame bodies (§5.3.3) */
const SASL = { init: 0x41, challenge: 0x42, response: 0x43, outcome: 0x44 } as const;
const ERROR_DESCRIPTOR = 0x1d;
/** one read of a transfer's performative at a time (./transfer-list.ts) */
const transferList = newTransferList();

function frame(body: AmqpValue): Buffer {
  const payload = encode(body);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(8 + payload.length, 0);
  h[4] = 2; // doff: 2 × 4-byte words, no extended header
  h[5] = 0; // AMQP frame
  h.writeUInt16BE(0, 6); // channel 0
  return Buffer.concat([h, payload]);
}

/** The performative code of an AMQP frame body, when it is a small-ulong described list. */
function performativeCode(body: Buffer): number | undefined {
  if (body.length >= 3 && body[0] === 0x00 && body[1] === 0x53) return body[2];
  if (body.length >= 10 && body[0] === 0x00 && body[1] === 0x80) return body.readUInt32BE(6);
  return undefined;
}

/**
 * The byte stream under the guard: a TCP or TLS socket, or a WebSocket stream from the
 * listener's transport (which has no addresses and no Nagle switch of its own).
 */
export type GuardedStream = Duplex & Partial<Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort' | 'setNoDelay'>>;

export class FrameGuard extends EventEmitter {
  readonly #socket: GuardedStream;
  /** the frames rhea writes in one turn (dispositions of a batch, transfers to a link) leave in one system call */
  readonly #out: TurnWriter;
  readonly #limits: GuardLimits;
  #buf: Buffer = Buffer.alloc(0);
  #headerSeen = false;
  /** the protocol id of the last header the client sent: 3 SASL, 0 AMQP (§5.3.1) */
  #phase = -1;
  #sawSasl = false;
  #amqpHeaderOut = false;
  #openOut = false;
  /** the peer's open came in (§2.4.1: nothing else may come before it) */
  #openIn = false;
  #failed = false;
  #ended = false;
  /**
   * Server side: a sasl-init or sasl-response went to rhea and its answer (challenge or
   * outcome) is not written yet. rhea decides asynchronously and reads whatever follows with
   * its SASL reader meanwhile, so bytes a client sent behind it without waiting for the answer
   * (the AMQP header and open, §5.3.2) were lost and the connection hung; they are held (at most
   * one frame's worth) until the answer is out.
   */
  #saslAnswerPending = false;
  /** payload so far of the unfinished delivery per "channel/handle" (checked once complete) */
  readonly #partial = new Map<string, { bytes: number; chunks: Buffer[] }>();
  /** the sum of `#partial`'s bytes */
  #unfinished = 0;

  constructor(socket: GuardedStream, limits: GuardLimits) {
    super();
    this.#socket = socket;
    this.#out = new TurnWriter(socket);
    this.#limits = limits;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e: Error) => {
      if (this.#ended) return;
      this.#ended = true;
      this.emit('error', e);
    });
    socket.on('end', () => this.#end());
    socket.on('close', () => this.#end());
  }

  // --- the parts of net.Socket rhea uses (lib/connection.js) ---------------------------------
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.#socket.remotePort;
  }
  get localAddress(): string | undefined {
    return this.#socket.localAddress;
  }
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }
  setNoDelay(noDelay?: boolean): this {
    this.#socket.setNoDelay?.(noDelay);
    return this;
  }
  write(data: Buffer): boolean {
    if (this.#failed || this.#socket.destroyed) return false;
    this.#watchOutgoing(data);
    return this.#out.write(data);
  }
  end(): this {
    if (!this.#failed) this.#socket.end();
    return this;
  }
  destroy(): this {
    this.#out.flush();
    this.#socket.destroy();
    return this;
  }
  /** rhea's view of this object */
  asSocket(): Socket {
    // rhea only calls the members above; it is typed for a net.Socket
    return this as unknown as Socket;
  }

  get failed(): boolean {
    return this.#failed;
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit('end');
  }

  #watchOutgoing(data: Buffer): void {
    // rhea writes the protocol header and every frame with separate write() calls
    if (this.#saslAnswerPending && data.length > 8 && data[5] === 1) {
      const code = performativeCode(data.subarray((data[4] ?? 2) * 4));
      if (code === SASL.challenge || code === SASL.outcome) {
        this.#saslAnswerPending = false;
        // not from inside rhea's write: pass on what was held on the next turn
        setImmediate(() => this.#onData(Buffer.alloc(0)));
      }
    }
    if (data.length === 8 && data.subarray(0, 4).equals(AMQP)) {
      if (data[4] === 0) this.#amqpHeaderOut = true;
      return;
    }
    if (!this.#openOut && data.length > 8 && data[5] === 0) {
      const doff = (data[4] ?? 2) * 4;
      if (performativeCode(data.subarray(doff)) === PERFORMATIVE.open) this.#openOut = true;
    }
  }

  #onData(chunk: Buffer): void {
    // after the end nothing reaches rhea: bytes held for a SASL answer and released once the
    // socket is gone would arm rhea's idle timer again on a connection it already let go
    if (this.#failed || this.#ended) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    if (this.#saslAnswerPending) {
      if (this.#buf.length > this.#limits.maxFrameSize + 8) this.fail('amqp:connection:framing-error', 'more than a frame sent before the SASL outcome');
      return;
    }
    let pos = 0;
    const b = this.#buf;
    for (;;) {
      const left = b.length - pos;
      if (left < 4) break;
      // "AMQP" (§2.2), byte by byte: no view of the buffer made for every frame
      if (b[pos] === 0x41 && b[pos + 1] === 0x4d && b[pos + 2] === 0x51 && b[pos + 3] === 0x50) {
        // a protocol header: at the start, and again after SASL (§5.3.2)
        if (left < 8) break;
        const id = b[pos + 4] as number;
        // §5.3.2: the SASL header comes first or not at all, the AMQP header first or right
        // after SASL; any other order is not a protocol this side can follow
        if (this.#headerSeen && (id !== 0 || this.#phase !== 3)) {
          this.fail('amqp:connection:framing-error', `protocol header ${id} after protocol header ${this.#phase}`);
          return;
        }
        this.#headerSeen = true;
        this.#phase = id;
        if (this.#phase === 3) this.#sawSasl = true;
        if (this.#phase === 0 && this.#limits.requireSasl && !this.#sawSasl) {
          // §2.2 / §5.3.1: answer with the protocol header we require (SASL), then close
          this.#failed = true;
          this.#socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0]));
          this.#socket.end();
          this.emit('violation', 'amqp:unauthorized-access', 'SASL is required');
          return;
        }
        pos += 8;
        continue;
      }
      if (!this.#headerSeen) {
        // §2.2: a server answers a bad header with the header it supports; either side then
        // closes the socket
        this.#failed = true;
        if (this.#limits.role === 'server') this.#socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));
        this.#socket.end();
        this.emit('violation', 'amqp:connection:framing-error', 'not an AMQP protocol header');
        return;
      }
      const size = b.readUInt32BE(pos);
      if (size < 8 || size > this.#limits.maxFrameSize) {
        this.fail('amqp:connection:framing-error', `frame size ${size} outside 8..${this.#limits.maxFrameSize} (max-frame-size)`);
        return;
      }
      if (left < size) break;
      const doff = (b[pos + 4] as number) * 4;
      if (doff < 8 || doff > size) {
        this.fail('amqp:connection:framing-error', `bad data offset ${doff / 4}`);
        return;
      }
      const type = b[pos + 5] as number;
      const body = b.subarray(pos + doff, pos + size);
      if (!this.#checkFrame(type, b.readUInt16BE(pos + 6), body, doff === 8)) {
        dropHanded();
        return;
      }
      pos += size;
      if (this.#limits.role === 'server' && type === 1) {
        const code = performativeCode(body);
        if (code === SASL.init || code === SASL.response) {
          this.#saslAnswerPending = true;
          break;
        }
      }
    }
    if (pos > 0) {
      const ready = b.subarray(0, pos);
      this.#buf = b.subarray(pos);
      try {
        this.emit('data', ready);
      } finally {
        // rhea has read every frame of `ready` (its transport reads all whole frames at once)
        dropHanded();
      }
    }
  }

  /**
   * Check one whole frame before rhea sees it; false (after failing) when it must not pass.
   * `plain`: its header is the plain eight bytes (doff 2), the only one rhea's transfer read is handed.
   */
  #checkFrame(type: number, channel: number, body: Buffer, plain: boolean): boolean {
    // §5.3.1: SASL frames (type 1) in the SASL phase, AMQP frames (type 0) after the AMQP header
    const expected = this.#phase === 3 ? 1 : 0;
    if (type !== expected) {
      this.fail('amqp:connection:framing-error', `frame type ${type} where ${expected} belongs`);
      return false;
    }
    // an empty frame is a heartbeat (§2.4.5)
    if (body.length === 0) return true;
    if (type === 0 && !this.#openIn) {
      // §2.4.1: each peer sends an open before any other frame; rhea would answer a begin
      const code = performativeCode(body);
      if (code !== PERFORMATIVE.open) {
        this.fail('amqp:not-allowed', `performative 0x${(code ?? 0).toString(16)} before open (§2.4.1)`);
        return false;
      }
      this.#openIn = true;
    }
    try {
      if (type === 0 && body[0] === 0x00 && body[1] === 0x53 && body[2] === PERFORMATIVE.transfer) {
        // the performative read once, for this check and for rhea (./transfer-list.ts); a list it
        // reads is whole within the body (every field within the list's size, the size within
        // the body), which is all the bounded scan would prove of it
        const list = transferList;
        const end = readTransferList(body, 0, body.length, list);
        const fields = end < 0 ? undefined : transferFields(list);
        if (fields !== undefined) {
          const payload = body.subarray(end);
          if (plain && handingOn()) handOn(body.buffer, body.byteOffset - 8, transferFrame(channel, list, end < body.length ? payload : undefined, body.length + 8));
          return this.#checkTransfer(channel, fields, payload);
        }
      }
      const used = scanValue(body);
      if (type === 1 || performativeCode(body) !== PERFORMATIVE.transfer) {
        // only a transfer carries a payload after its performative (§2.3.2)
        if (used !== body.length) throw new Error(`${body.length - used} bytes after the performative`);
        return true;
      }
      return this.#checkTransfer(channel, decodeTransferFields(body), body.subarray(used));
    } catch (e) {
      this.fail('amqp:decode-error', `undecodable frame: ${describeError(e)}`);
      return false;
    }
  }

  /**
   * Sum a transfer's payload per delivery and check the whole message decodes within its bytes
   * once its last frame is in; false (after failing) when it is too big. Throws when it does
   * not decode.
   */
  #checkTransfer(channel: number, { handle, more, aborted }: TransferFields, payload: Buffer): boolean {
    const limit = this.#limits.maxMessageBytes;
    if (!more && !aborted && this.#partial.size === 0) {
      // a whole message in one frame, none unfinished on the connection: no key to look up
      if (limit !== undefined && payload.length > limit) {
        this.fail('amqp:link:message-size-exceeded', `message of more than ${limit} bytes`);
        return false;
      }
      scanValues(payload);
      return true;
    }
    const key = `${channel}/${handle}`;
    const partial = this.#partial.get(key);
    if (aborted) {
      // §2.7.5 aborted: the delivery's frames so far are discarded, nothing to decode
      this.#partial.delete(key);
      this.#unfinished -= partial?.bytes ?? 0;
      return true;
    }
    const total = (partial?.bytes ?? 0) + payload.length;
    if (limit !== undefined && total > limit) {
      this.fail('amqp:link:message-size-exceeded', `message of more than ${limit} bytes`);
      return false;
    }
    if (more) {
      const open = this.#limits.maxUnfinishedBytes;
      if (open !== undefined && this.#unfinished + payload.length > open) {
        this.fail('amqp:resource-limit-exceeded', `unfinished messages of more than ${open} bytes over the connection's links`);
        return false;
      }
      this.#unfinished += payload.length;
      if (partial === undefined) this.#partial.set(key, { bytes: total, chunks: [payload] });
      else {
        partial.bytes = total;
        partial.chunks.push(payload);
      }
      return true;
    }
    this.#partial.delete(key);
    this.#unfinished -= partial?.bytes ?? 0;
    const message = partial === undefined ? payload : Buffer.concat([...partial.chunks, payload]);
    scanValues(message);
    return true;
  }

  /**
   * Close the connection with an AMQP error: nothing more reaches rhea, the peer gets
   * open (if needed) + close(error), then the socket ends (destroyed if it lingers).
   */
  fail(condition: string, description: string): void {
    if (this.#failed) return;
    this.#failed = true;
    const s = this.#socket;
    if (!s.destroyed) {
      if (this.#phase === 0 || this.#phase === -1) {
        if (!this.#amqpHeaderOut) s.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));
        if (!this.#openOut) s.write(frame(described(PERFORMATIVE.open, { type: 'list', value: [str(this.#limits.containerId)] })));
        const error = described(ERROR_DESCRIPTOR, { type: 'list', value: [sym(condition), str(description.slice(0, 500))] });
        s.write(frame(described(PERFORMATIVE.close, { type: 'list', value: [error] })));
      }
      // in the SASL phase there is no AMQP connection to close (§5.3): just the socket
      s.end();
      // a peer that never closes its side goes; the timer goes with the socket
      const linger = setTimeout(() => s.destroy(), 1000).unref();
      s.once('close', () => clearTimeout(linger));
    }
    this.emit('violation', condition, description);
  }
}

