/**
 * In-memory connections for fuzzing and limit tests: a listener's accept is handed a stream that
 * needs no socket, so thousands of hostile connections cost no port and no kernel buffer.
 */
import { Duplex } from 'node:stream';

/**
 * The server's end of an in-memory connection, standing in for a net.Socket: what the server
 * writes is collected, `send` delivers bytes to it, `hangUp` is the client's FIN. It has the
 * few net.Socket members listeners use (setNoDelay, remoteAddress, destroySoon, setTimeout).
 */
export class MemoryConnection extends Duplex {
  readonly written: Buffer[] = [];
  /** the server ended its side (FIN) or destroyed the connection */
  ended = false;
  readonly remoteAddress = '127.0.0.1';
  readonly remotePort = 1;
  readonly localAddress = '127.0.0.1';
  readonly localPort = 2;

  constructor() {
    // as a net.Socket of a server with the default allowHalfOpen false: the client's FIN ends ours
    super({ allowHalfOpen: false });
    this.once('close', () => {
      this.ended = true;
    });
  }

  override _read(): void {
    // the test pushes the client's bytes itself (push()); there is nothing to pull
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.written.push(chunk);
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.ended = true;
    cb();
    // the peer answers a FIN with its own
    setImmediate(() => this.hangUp());
  }

  /** bytes from the client */
  send(bytes: Buffer): void {
    if (!this.destroyed && !this.readableEnded) this.push(bytes);
  }

  /** the client's FIN */
  hangUp(): void {
    if (!this.destroyed && !this.readableEnded) this.push(null);
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  destroySoon(): void {
    if (this.writableFinished) this.destroy();
    else {
      this.once('finish', () => this.destroy());
      this.end();
    }
  }

  /** resolves true once the connection is closed (destroyed), false when `ms` passed first */
  closedWithin(ms: number): Promise<boolean> {
    if (this.destroyed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('close', done);
        resolve(false);
      }, ms);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('close', done);
    });
  }

  /** everything the server wrote */
  output(): Buffer {
    return Buffer.concat(this.written);
  }
}

/** What a listener's accept is handed for an in-memory connection (the shape of @ferry/net's AcceptedConnection). */
export interface MemoryAccepted {
  readonly stream: MemoryConnection;
  readonly info: { readonly transport: 'tcp'; readonly remoteAddress: string; readonly remotePort: number; readonly remote: string; readonly authorized: false };
  handshakeDone(): void;
}

/**
 * A new in-memory connection, handed to a listener's `accept` as its transport hands it an
 * accepted TCP socket (from 127.0.0.1:1, without a client certificate); returns the server's
 * end, to send the client's bytes to and read what the server wrote.
 */
export function openMemoryConnection(accept: (accepted: MemoryAccepted) => void): MemoryConnection {
  const stream = new MemoryConnection();
  accept({
    stream,
    info: { transport: 'tcp', remoteAddress: stream.remoteAddress, remotePort: stream.remotePort, remote: `${stream.remoteAddress}:${stream.remotePort}`, authorized: false },
    handshakeDone: () => undefined,
  });
  return stream;
}
