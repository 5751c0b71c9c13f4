import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * The frames a WebSocket connection writes in one turn leave in one write of its socket, each
 * still its own WebSocket message.
 *
 * TurnWriter corks a connection's stream for the turn and uncorks it once. `ws`'s
 * createWebSocketStream has no `_writev`, so on uncork the Duplex hands its chunks to `ws.send`
 * one at a time, each only once the one before reached the socket: a turn's RECEIPTs or PUBACKs
 * went out as one system call each (the largest self time in the STOMP-over-WebSocket profile,
 * docs/benchmarks.md). With this `_writev`, the socket under the WebSocket is corked while every
 * chunk is sent (`ws` writes a frame's header and payload through the same socket), so they
 * leave together. Message boundaries are kept: one chunk, one binary WebSocket message, as
 * before (a STOMP frame per message, as clients expect).
 *
 * `socket` is the one `ws` writes to (the upgraded TCP or TLS socket).
 */
export function batchWebSocketWrites(stream: Duplex, ws: WebSocket, socket: Duplex): void {
  stream._writev = (chunks: { chunk: unknown }[], callback: (error?: Error | null) => void): void => {
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
  };
}
