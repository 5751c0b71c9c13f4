import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * a turn's frames up to this many bytes are framed into one buffer; more go through `ws.send`
 * (below 65,536, so every payload here has a 7-bit or 16-bit length)
 */
const MAX_JOINED_BYTES = 64 * 1024 - 1;
/** WebSocket.OPEN (RFC 6455 §4.1: the connection is established, no Close frame sent or received) */
const OPEN = 1;

/** the header of an unmasked frame of `length` (below 65,536) payload bytes (RFC 6455 §5.2) */
function headerBytes(length: number): number {
  return length < 126 ? 2 : 4;
}

/**
 * The frames a WebSocket connection writes in one turn leave in one write of its socket, each
 * still its own WebSocket message.
 *
 * TurnWriter corks a connection's stream for the turn and uncorks it once. `ws`'s
 * createWebSocketStream has no `_writev`, so on uncork the Duplex would hand its chunks to
 * `ws.send` one at a time, each only once the one before reached the socket: a turn's RECEIPTs
 * or PUBACKs went out as one system call each. With this `_writev` (and `_write` for a turn of
 * one chunk), a turn's chunks (up to {@link MAX_JOINED_BYTES} in all) are framed here into one
 * buffer, one binary message per chunk, and written to the socket once: RFC 6455 §5.2 with FIN
 * set, RSV bits clear (no extension was negotiated: the listener's `ws` server has
 * permessage-deflate off, and with an extension everything goes through `ws`), opcode 0x2, and
 * no mask (§5.1: a server MUST NOT mask what it sends). `ws` itself writes a frame as a header
 * and a payload, two writes of the socket and their objects per message. A larger turn goes
 * through `ws.send` per chunk with the socket corked, so it still leaves in one write and its
 * payloads are not copied. Once the connection is no longer open (a Close frame sent or
 * received, §5.5.1: no data frame may follow it) every chunk goes to `ws.send`, which refuses it.
 *
 * `socket` is the one `ws` writes to (the upgraded TCP or TLS socket). Message boundaries are
 * kept: one chunk, one binary WebSocket message (a STOMP frame per message, as clients expect).
 */
export function batchWebSocketWrites(stream: Duplex, ws: WebSocket, socket: Duplex): void {
  if (ws.extensions !== '') {
    stream._writev = (chunks, callback) => sendEach(ws, socket, chunks, callback);
    return;
  }
  // a turn of one write: the stream hands a lone chunk to _write, not to _writev
  stream._write = (chunk: unknown, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void => {
    if (ws.readyState === OPEN && chunk instanceof Uint8Array && chunk.length <= MAX_JOINED_BYTES - 4) {
      const out = Buffer.allocUnsafe(headerBytes(chunk.length) + chunk.length);
      frameInto(out, 0, chunk);
      socket.write(out, callback);
      return;
    }
    ws.send(chunk as Uint8Array, callback);
  };
  stream._writev = (chunks: { chunk: unknown }[], callback: (error?: Error | null) => void): void => {
    if (ws.readyState === OPEN) {
      const joined = framed(chunks);
      if (joined !== undefined) {
        socket.write(joined, callback);
        return;
      }
    }
    sendEach(ws, socket, chunks, callback);
  };
}

/** every chunk through `ws.send`, the socket corked meanwhile so they leave in one write */
function sendEach(ws: WebSocket, socket: Duplex, chunks: readonly { chunk: unknown }[], callback: (error?: Error | null) => void): void {
  let left = chunks.length;
  let failed: Error | undefined;
  const sent = (err?: Error): void => {
    if (err !== undefined && failed === undefined) failed = err;
    if (--left === 0) callback(failed);
  };
  socket.cork();
  try {
    for (const { chunk } of chunks) ws.send(chunk as Uint8Array, sent);
  } finally {
    socket.uncork();
  }
}

/** every chunk as an unmasked binary frame, in one buffer; undefined when they are too large together */
function framed(chunks: readonly { chunk: unknown }[]): Buffer | undefined {
  let total = 0;
  for (const { chunk } of chunks) {
    if (!(chunk instanceof Uint8Array)) return undefined;
    total += headerBytes(chunk.length) + chunk.length;
  }
  if (total > MAX_JOINED_BYTES) return undefined;
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const c of chunks) at = frameInto(out, at, c.chunk as Uint8Array);
  return out;
}

/** `payload` (below 65,536 bytes) as a frame at `at` of `out`; returns where the frame ends */
function frameInto(out: Buffer, at: number, payload: Uint8Array): number {
  const n = payload.length;
  // FIN and opcode 0x2 (binary frame)
  out[at] = 0x82;
  // the payload length: 7 bits, or 126 and 16 bits (§5.2)
  if (n < 126) {
    out[at + 1] = n;
    at += 2;
  } else {
    out[at + 1] = 126;
    out[at + 2] = n >> 8;
    out[at + 3] = n & 0xff;
    at += 4;
  }
  out.set(payload, at);
  return at + n;
}
