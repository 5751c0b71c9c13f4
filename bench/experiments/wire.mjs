import { Duplex } from 'node:stream';

/**
 * An in-memory socket for the listener-path experiments: what the listener writes is kept (for
 * the answers the experiment sends back, and to compare two builds' bytes); what it reads is
 * emitted by the experiment as 'data'.
 */
export class Wire extends Duplex {
  written = [];
  _read() {}
  _write(chunk, _enc, cb) {
    this.written.push(chunk);
    cb();
  }
  _writev(chunks, cb) {
    for (const c of chunks) this.written.push(c.chunk);
    cb();
  }
  /** everything written since the last take, as one buffer */
  take() {
    const all = Buffer.concat(this.written);
    this.written = [];
    return all;
  }
}

/**
 * Feed `chunks` to `wire` one a turn, calling `settle` after each read (the engine's answer for
 * what that read brought); returns the process's CPU µs per message over `messages` messages.
 */
export async function feedTimed(wire, chunks, settle, messages) {
  const t0 = process.cpuUsage();
  for (const chunk of chunks) {
    wire.emit('data', chunk);
    settle();
    await new Promise((r) => setImmediate(r));
  }
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / messages;
}

/** the packet ids of the QoS 1 PUBLISH packets (3.1.1, no properties) in `bytes` */
export function publishIds(bytes) {
  const ids = [];
  for (let at = 0; at < bytes.length; ) {
    const first = bytes[at];
    let remaining = 0;
    let i = at + 1;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[i++];
      remaining += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    if (first >> 4 === 3) ids.push(bytes.readUInt16BE(i + 2 + bytes.readUInt16BE(i)));
    at = i + remaining;
  }
  return ids;
}
