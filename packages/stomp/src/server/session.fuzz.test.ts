import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FerryError, silentLogger } from '@ferry/core';
import { StompBroker } from './broker.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { StompServer } from './server.js';
import { DEFAULT_SESSION_OPTIONS } from './session.js';

/**
 * 100,000 generated frames (valid, invalid, truncated, oversized, split anywhere) from a seeded
 * PRNG, fed to server sessions over in-memory sockets. The server must answer with an ERROR or
 * close, never throw, and keep nothing unbounded once the clients are gone.
 */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAMES = 100_000;
const LIMITS = { maxFrameBytes: 4096, maxHeaders: 12, maxHeaderLineBytes: 256, maxBodyBytes: 4096 };

describe('server session fuzz', () => {
  it(`survives ${FRAMES.toLocaleString('en')} random and truncated frames`, async () => {
    const rnd = prng(0xf0e1);
    const int = (n: number): number => Math.floor(rnd() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => {
      uncaught.push(e);
    };
    process.on('uncaughtException', onUncaught);

    const broker = new StompBroker({ queueBufferMessages: 50, maxUnackedPerSubscription: 5 });
    const server = new StompServer(
      { ...DEFAULT_SESSION_OPTIONS, limits: LIMITS, heartBeat: { sendMs: 0, receiveMs: 0 }, lingerMs: 50, host: '127.0.0.1', port: 0, serverName: 'Ferry/fuzz' },
      broker,
      {
        authenticate: (login) => login !== 'bad',
        acceptingSends: () => rnd() > 0.02,
        onSend: () => {
          const r = rnd();
          if (r < 0.5) return undefined;
          if (r < 0.8) return Promise.resolve();
          return Promise.reject(new FerryError('SINK_REJECTED', 'fuzz says no', { permanent: true }));
        },
      },
      silentLogger,
    );

    const commands = ['SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT', 'CONNECT', 'STOMP', 'MESSAGE', 'FOO'];
    const names = ['destination', 'id', 'ack', 'receipt', 'transaction', 'message-id', 'subscription', 'content-type', 'content-length', 'x', 'accept-version', 'heart-beat', 'login', 'expires'];
    const values = ['/queue/a', '/queue/b', '/topic/a', '/topic/b', '/exchange/x', '', '0', '1', 'client', 'client-individual', 'auto', 'tx', 'a\\cb', 'a\\tb', '1.2', '1.0,1.1', '10,10', 'x,y', '99999999', 'bad', '-1'];
    const randomText = (n: number): string => {
      let s = '';
      for (let i = 0; i < n; i++) s += pick(['a', ':', '\\', '\n', '\r', '\0', 'é', ' ', 'Z', '9']);
      return s;
    };
    // Well-formed frames with valid-looking parameters, so sessions live long enough to reach
    // deep states (subscriptions with unacked messages, open transactions, pending settlements).
    const validFrame = (): string => {
      const q = pick(['/queue/a', '/queue/b', '/topic/a', '/topic/b']);
      const r = rnd() < 0.3 ? `receipt:r${int(100)}\n` : '';
      const tx = rnd() < 0.1 ? 'transaction:tx\n' : '';
      switch (int(8)) {
        case 0:
        case 1:
          return `SEND\ndestination:${q}\n${r}${tx}x:${pick(values)}\n\n${randomText(int(20)).replace(/\0/g, '')}\0`;
        case 2:
          return `SUBSCRIBE\nid:${int(4)}\ndestination:${q}\nack:${pick(['auto', 'client', 'client-individual'])}\n${r}\n\0`;
        case 3:
          return `UNSUBSCRIBE\nid:${int(4)}\n${r}\n\0`;
        case 4:
          return `${pick(['ACK', 'NACK'])}\nid:${pick(['x', '1', '2'])}\nmessage-id:${int(50)}\nsubscription:${int(4)}\n${r}${tx}\n\0`;
        case 5:
          return `${pick(['BEGIN', 'COMMIT', 'ABORT'])}\ntransaction:tx\n${r}\n\0`;
        case 6:
          return rnd() < 0.2 ? `DISCONNECT\n${r}\n\0` : '\n';
        default:
          return `SEND\ndestination:${q}\ncontent-length:3\n\n\0\0\0\0`;
      }
    };
    const randomFrame = (): Buffer => {
      if (rnd() < 0.6) return Buffer.from(validFrame(), 'utf8');
      const kind = rnd();
      if (kind < 0.05) return Buffer.from(Array.from({ length: int(300) }, () => int(256)));
      if (kind < 0.08) return Buffer.from(`SEND\ndestination:/queue/a\n\n${'x'.repeat(LIMITS.maxBodyBytes + int(100))}\0`);
      if (kind < 0.1) return Buffer.from(`SEND\n${Array.from({ length: 20 }, (_, i) => `h${i}:v`).join('\n')}\n\n\0`);
      if (kind < 0.12) return Buffer.from(`SEND\nx:${'y'.repeat(400)}\n\n\0`);
      let head = pick(commands) + pick(['\n', '\r\n']);
      const nh = int(6);
      for (let i = 0; i < nh; i++) head += `${rnd() < 0.9 ? pick(names) : randomText(3)}:${rnd() < 0.8 ? pick(values) : randomText(int(8))}\n`;
      let body = rnd() < 0.5 ? '' : randomText(int(40));
      if (rnd() < 0.3) {
        const n = Buffer.byteLength(body);
        head += `content-length:${rnd() < 0.8 ? n : int(n + 5)}\n`;
      } else body = body.replace(/\0/g, '');
      const frame = Buffer.from(`${head}\n${body}\0${rnd() < 0.2 ? '\n' : ''}`, 'utf8');
      // truncated frames
      return rnd() < 0.1 ? frame.subarray(0, int(frame.length)) : frame;
    };

    // global.gc without --expose-gc: turn the flag on and fetch gc from a fresh context.
    let gcFn = (globalThis as { gc?: () => void }).gc;
    if (gcFn === undefined) {
      try {
        setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = undefined;
      }
    }
    gcFn?.();
    const heapBefore = process.memoryUsage().heapUsed;

    let fed = 0;
    let sessions = 0;
    let errors = 0;
    let maxBuffered = 0;
    while (fed < FRAMES) {
      const sock = new MemorySocket();
      const session = server.attach(sock.server);
      // after the session's own 'data' listener: what it holds between chunks
      sock.server.on('data', () => {
        maxBuffered = Math.max(maxBuffered, session.bufferedBytes);
      });
      sessions++;
      if (rnd() < 0.8) sock.send(`CONNECT\naccept-version:${pick(['1.0', '1.1', '1.2', '1.1,1.2'])}\n${rnd() < 0.05 ? 'login:bad\n' : ''}\n\0`);
      const n = 1 + int(30);
      const stream = Buffer.concat(Array.from({ length: n }, randomFrame));
      fed += n;
      // split anywhere
      let i = 0;
      while (i < stream.length) {
        const step = 1 + int(64);
        sock.send(stream.subarray(i, i + step));
        i += step;
      }
      if (sessions % 50 === 0) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      if (sock.commands().includes('ERROR')) errors++;
      sock.hangUp();
    }
    // let every session finish closing
    for (let k = 0; k < 200 && server.sessionCount > 0; k++) await new Promise((r) => setTimeout(r, 10));
    process.off('uncaughtException', onUncaught);

    gcFn?.();
    const heapAfter = process.memoryUsage().heapUsed;
    console.log(
      `fuzz: ${fed} frames over ${sessions} sessions, ${errors} answered with ERROR; max partial-frame buffer ${maxBuffered} B; ` +
        `heap ${(heapBefore / 1e6).toFixed(1)} MB -> ${(heapAfter / 1e6).toFixed(1)} MB${gcFn === undefined ? ' (no --expose-gc: not asserted)' : ''}; ` +
        `destinations left ${broker.destinationCount}, queue depths ${broker.queueDepth('/queue/a')}/${broker.queueDepth('/queue/b')}`,
    );
    expect(uncaught).toEqual([]);
    expect(server.sessionCount).toBe(0);
    expect(errors).toBeGreaterThan(sessions / 4);
    expect(maxBuffered).toBeGreaterThan(0);
    // internal buffers are bounded by the limits
    expect(maxBuffered).toBeLessThanOrEqual(LIMITS.maxFrameBytes);
    // what outlives the sessions: at most the queue buffers of the few valid destinations
    const left = broker.destinationCount;
    expect(left).toBeLessThanOrEqual(2);
    broker.collect();
    expect(broker.destinationCount).toBeLessThanOrEqual(2);
    for (const q of ['/queue/a', '/queue/b']) expect(broker.queueDepth(q)).toBeLessThanOrEqual(50 + 5 * sessions);
    if (gcFn !== undefined) expect(heapAfter - heapBefore).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);
});
