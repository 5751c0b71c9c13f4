import { Duplex } from 'node:stream';
import type { StompFrame } from '../frame/frame.js';
import { FrameParser } from '../frame/parser.js';

/**
 * The client end of an in-memory connection to a session, for tests: `send` pushes bytes to
 * the server, `frames` collects what the server wrote (parsed without unescaping), and the
 * server's `end()` is answered by ending the client side, as a TCP peer would.
 * Shared by the session tests and the fuzz test (a *.test.ts file cannot be imported by another
 * without Jest running it as a suite); it imports only node and the codec.
 */
export class MemorySocket {
  readonly server: Duplex;
  readonly frames: StompFrame[] = [];
  readonly parser: FrameParser;
  ended = false;
  /** how many frames the server had written when it ended its side (called `end()`) */
  endedAtFrame: number | undefined;
  /** bytes from the server this client's parser could not read (a server bug when > 0) */
  parseErrors = 0;
  bytesOut = 0;

  constructor() {
    this.parser = new FrameParser((f) => this.frames.push(f), { maxFrameBytes: 64 * 1024 * 1024, maxBodyBytes: 64 * 1024 * 1024, maxHeaderLineBytes: 1024 * 1024, maxHeaders: 10_000 });
    this.server = new Duplex({
      read: () => undefined, // what the client sends is pushed by send()
      write: (chunk: Buffer, _enc, cb) => {
        this.bytesOut += chunk.length;
        try {
          this.parser.push(chunk);
        } catch {
          // counted: garbage from the server also shows as missing frames
          this.parseErrors++;
        }
        cb();
      },
      final: (cb) => {
        // Node calls _final synchronously from end() once nothing is buffered, so this is
        // the moment the server ended the connection.
        this.ended = true;
        this.endedAtFrame = this.frames.length;
        cb();
        // the peer answers FIN with FIN
        setImmediate(() => this.server.push(null));
      },
    });
  }

  send(data: Buffer | string): void {
    if (this.server.destroyed || this.server.readableEnded) return;
    this.server.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** the client hangs up */
  hangUp(): void {
    if (!this.server.destroyed) this.server.push(null);
  }

  commands(): string[] {
    return this.frames.map((f) => f.command);
  }
}
