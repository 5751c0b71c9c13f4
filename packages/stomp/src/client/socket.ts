import { createConnection, type Socket } from 'node:net';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import { FrameParser } from '../frame/parser.js';
import type { StompFrame } from '../frame/frame.js';

/**
 * The TCP side of one STOMP connection, for @stomp/stompjs.
 *
 * Two things stompjs does not do are done here:
 *
 * 1. TCP_NODELAY. @stomp/tcp-wrapper leaves Nagle on, which costs about 40 ms at the 99th
 *    percentile at low rates (RECIPES.md §7).
 * 2. Faithful MESSAGE headers. stompjs trims every header value (STOMP 1.2 §Headers: "MUST NOT
 *    trim"), never unescapes header names, and its value unescaping runs one regex per escape,
 *    so `\\n` (an escaped backslash followed by `n`) comes back as a backslash and a line feed.
 *    A second parser, the strict streaming one of this package, reads the same bytes first and
 *    hands each MESSAGE frame, decoded per STOMP 1.2 §Value Encoding, to `onMessageFrame`.
 *    Both parsers see one byte stream in one order, so the n-th MESSAGE of one equals the n-th
 *    of the other; the session checks that their `ack` headers agree.
 */
export interface TeeHooks {
  /** every MESSAGE frame, decoded, in wire order, before stompjs sees it */
  onMessageFrame(frame: StompFrame): void;
  /** the tee parser refused the stream (size limit, bad escape): the connection must go */
  onProtocolError(err: Error): void;
  /** the socket, once created (to destroy it when a graceful close hangs) */
  onSocket(socket: Socket): void;
}

export interface TeeLimits {
  readonly maxFrameBytes: number;
}

export function createTcpSocket(host: string, port: number, hooks: TeeHooks, limits: TeeLimits): TCPWrapper {
  const parser = new FrameParser(
    (frame) => {
      // CONNECTED fixes the version, and with it the escaping of every later frame. Ferry only
      // offers 1.2 (see session.ts), and CONNECTED itself is never escaped.
      if (frame.command === 'CONNECTED') {
        const v = frame.headers.find(([n]) => n === 'version')?.[1];
        parser.version = v === '1.1' || v === '1.0' ? v : '1.2';
      } else if (frame.command === 'MESSAGE') {
        hooks.onMessageFrame(frame);
      }
    },
    {
      maxFrameBytes: limits.maxFrameBytes,
      maxBodyBytes: limits.maxFrameBytes,
      // A broker's MESSAGE carries the publisher's headers: be generous, but bounded.
      maxHeaders: 10_000,
      maxHeaderLineBytes: Math.min(limits.maxFrameBytes, 1024 * 1024),
    },
  );

  // getSocket runs inside TCPWrapper's constructor, before a subclass could set fields, so the
  // hooks reach it through this closure.
  class FerryTcpWrapper extends TCPWrapper {
    protected override getSocket(p: number, h: string): Socket {
      const socket = createConnection({ port: p, host: h, noDelay: true });
      socket.setNoDelay(true);
      // Registered before TCPWrapper's own 'data' listener, so this parser runs first.
      socket.on('data', (chunk: Buffer) => {
        if (parser.stopped) return;
        try {
          parser.push(chunk);
        } catch (err) {
          hooks.onProtocolError(err instanceof Error ? err : new Error(String(err)));
        }
      });
      socket.on('close', () => parser.stop());
      hooks.onSocket(socket);
      return socket;
    }
  }
  return new FerryTcpWrapper(host, port);
}
