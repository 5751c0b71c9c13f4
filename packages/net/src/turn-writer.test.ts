import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { TurnWriter } from './turn-writer.js';

/** A stream that records each call that would be a system call on a socket: one `_write` or one `_writev`. */
class CountingStream extends Writable {
  readonly calls: string[][] = [];
  constructor() {
    super({
      writev: (chunks, cb) => {
        this.calls.push(chunks.map((c) => Buffer.from(c.chunk as Uint8Array).toString()));
        cb();
      },
      write: (chunk: Buffer, _enc, cb) => {
        this.calls.push([chunk.toString()]);
        cb();
      },
    });
  }
  get bytes(): string {
    return this.calls.flat().join('');
  }
}

const tick = (): Promise<void> => new Promise((r) => process.nextTick(r));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnWriter', () => {
  it('writes of one turn leave in one call, in order', async () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    for (const x of ['a', 'b', 'c', 'd']) w.write(Buffer.from(x));
    expect(s.calls).toEqual([]);
    await tick();
    expect(s.calls).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('a write of the next turn is a call of its own, after the first', async () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    w.write(Buffer.from('1'));
    w.write(Buffer.from('2'));
    await turn();
    w.write(Buffer.from('3'));
    await turn();
    expect(s.calls).toEqual([['1', '2'], ['3']]);
  });

  it('writes made by the microtasks of a turn join its call', async () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    w.write(Buffer.from('x'));
    await Promise.resolve();
    w.write(Buffer.from('y'));
    await turn();
    expect(s.calls).toEqual([['x', 'y']]);
  });

  it('flush sends at once, so a destroy right after it loses nothing', () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    w.write(Buffer.from('last'));
    w.write(Buffer.from('words'));
    w.flush();
    s.destroy();
    expect(s.bytes).toBe('lastwords');
  });

  it('flush is idempotent and the tick after it uncorks nothing more', async () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    w.write(Buffer.from('a'));
    w.flush();
    w.flush();
    // a caller's own cork must survive the writer's scheduled tick
    s.cork();
    await tick();
    expect(s.writableCorked).toBe(1);
    s.uncork();
    expect(s.calls).toEqual([['a']]);
  });

  it('end() in the same turn sends what was written, then ends', async () => {
    const s = new CountingStream();
    const w = new TurnWriter(s);
    w.write(Buffer.from('p'));
    w.write(Buffer.from('q'));
    s.end();
    await once(s, 'finish');
    await tick();
    expect(s.bytes).toBe('pq');
    expect(s.writableCorked).toBe(0);
  });

  it('keeps Writable.write backpressure: false above the high-water mark', () => {
    const s = new Writable({ highWaterMark: 4, write: (_c, _e, cb) => cb() });
    const w = new TurnWriter(s);
    expect(w.write(Buffer.from('ab'))).toBe(true);
    expect(w.write(Buffer.from('cdef'))).toBe(false);
    w.flush();
  });

  describe('writeText', () => {
    it('joins the texts of a turn into one chunk, written before the next write, in order', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s);
      w.writeText('r1;');
      w.writeText('r2;');
      w.write(Buffer.from('frame;'));
      w.writeText('r3;');
      w.writeText('r4;');
      expect(s.calls).toEqual([]);
      await tick();
      expect(s.calls).toEqual([['r1;r2;', 'frame;', 'r3;r4;']]);
    });

    it('a turn of text alone is one chunk at the end of the turn', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s);
      for (let i = 0; i < 5; i++) w.writeText(`t${i};`);
      await tick();
      w.writeText('next;');
      await turn();
      expect(s.calls).toEqual([['t0;t1;t2;t3;t4;'], ['next;']]);
    });

    it('writes text as UTF-8', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s);
      w.writeText('é€');
      w.flush();
      expect(s.calls).toEqual([['é€']]);
      await tick();
    });

    it('flush before end(): the text of the turn is the last thing written', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s);
      w.write(Buffer.from('a;'));
      w.writeText('last;');
      w.flush();
      s.end();
      await once(s, 'finish');
      await tick();
      expect(s.bytes).toBe('a;last;');
    });

    it('text of a turn whose stream was destroyed is dropped, not written after it', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s);
      w.writeText('lost;');
      s.destroy();
      await tick();
      expect(s.calls).toEqual([]);
    });
  });

  describe('join (a byte stream)', () => {
    it('a turn of small writes and reservations is one chunk, in order, around a large write', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s, { join: true });
      w.write(Buffer.from('a;'));
      const at = w.reserve(3);
      w.buffer.write('b;c', at);
      w.write(Buffer.from('d;'));
      const large = Buffer.alloc(2000, 0x78);
      w.write(large);
      w.write(Buffer.from('e;'));
      expect(s.calls).toEqual([]);
      expect(w.pending).toBe(2);
      await tick();
      expect(s.calls).toEqual([['a;b;cd;', large.toString(), 'e;']]);
      expect(w.pending).toBe(0);
    });

    it('a turn larger than its first buffer goes on in another, nothing lost or reordered', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s, { join: true });
      const parts = Array.from({ length: 3000 }, (_, i) => `p${i};`);
      for (const p of parts) w.write(Buffer.from(p));
      await tick();
      for (const p of parts) w.write(Buffer.from(p));
      await tick();
      expect(s.calls.length).toBe(2);
      expect(s.calls[0]?.join('')).toBe(parts.join(''));
      expect(s.calls[1]?.join('')).toBe(parts.join(''));
      // each buffer of a turn twice the turn's bytes so far: a few chunks, not one per write
      expect(s.calls[1]?.length).toBeLessThanOrEqual(4);
    });

    it('text and joined bytes keep their order', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s, { join: true });
      w.write(Buffer.from('1;'));
      w.writeText('2;');
      w.write(Buffer.from('3;'));
      await tick();
      expect(s.bytes).toBe('1;2;3;');
    });

    it('flush before end(): what the turn joined is written, then the end', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s, { join: true });
      w.write(Buffer.from('last;'));
      w.flush();
      s.end();
      await once(s, 'finish');
      await tick();
      expect(s.bytes).toBe('last;');
    });

    it('what a destroyed stream did not take is dropped, not written after it', async () => {
      const s = new CountingStream();
      const w = new TurnWriter(s, { join: true });
      w.write(Buffer.from('lost;'));
      s.destroy();
      await tick();
      expect(s.calls).toEqual([]);
    });
  });

  describe('on a TCP socket', () => {
    let server: Server;
    let client: Socket;
    let peer: Socket;
    beforeAll(async () => {
      server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const port = (server.address() as { port: number }).port;
      client = connect({ port, host: '127.0.0.1', noDelay: true });
      [peer] = (await once(server, 'connection')) as [Socket];
      await once(client, 'connect');
    });
    afterAll(async () => {
      client.destroy();
      peer.destroy();
      server.close();
      await once(server, 'close');
    });

    it('the writes of one turn reach the socket as one writev, in order', async () => {
      // net.Socket's _writev is the one system call; count how often the socket is handed data
      const handle = client as unknown as { _writev: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown };
      const writev = handle._writev;
      const write = handle._write;
      const calls: string[] = [];
      handle._writev = function (this: Socket, ...a: unknown[]) {
        calls.push('writev');
        return writev.apply(this, a);
      };
      handle._write = function (this: Socket, ...a: unknown[]) {
        calls.push('write');
        return write.apply(this, a);
      };
      const w = new TurnWriter(client);
      const sent = Array.from({ length: 50 }, (_, i) => `packet-${i};`);
      let got = '';
      const all = sent.join('');
      const received = new Promise<void>((resolve) => {
        peer.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.length >= all.length) resolve();
        });
      });
      for (const p of sent) w.write(Buffer.from(p));
      await received;
      handle._writev = writev;
      handle._write = write;
      expect(calls).toEqual(['writev']);
      expect(got).toBe(all);
    });
  });
});
