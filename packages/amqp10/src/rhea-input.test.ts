import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { jest } from '@jest/globals';
import rhea from 'rhea';
import { input, type ConnectionInternals } from './rhea-input.js';
import { disarmConnection, installConnectionInput, rheaConnectionInput } from './rhea-seam.js';

// rhea's own function, whether or not another test installed the replacement
const rheaInput = rheaConnectionInput();
const connectionPrototype = (createRequire(import.meta.url)('rhea/lib/connection.js') as { prototype: { input: unknown } }).prototype;

/** What a read reads: whole frames (their bytes read), the rest left, or an error thrown. */
interface Read {
  readonly consumed?: number;
  readonly peek?: number;
  readonly throws?: 'protocol' | 'other';
  readonly pending?: boolean;
}

interface Fake extends ConnectionInternals {
  readonly calls: string[];
}

/** A connection with what rhea's input reads and writes (lib/connection.js), recording what it does. */
function connection(localIdle: number | undefined, remoteIdle: number | undefined, reads: Read[], open = true): Fake {
  const calls: string[] = [];
  let i = 0;
  const c: Fake = {
    calls,
    heartbeat_in: undefined,
    heartbeat_out: undefined,
    frame_size: undefined,
    received_bytes: 0,
    chunks: null,
    previous_input: undefined,
    saved_error: undefined,
    options: { id: 'c' },
    local: { open: { idle_time_out: localIdle } },
    remote: { open: { idle_time_out: remoteIdle } },
    transport: {
      read: (buffer: Buffer) => {
        const r = reads[i++] ?? {};
        calls.push(`read ${buffer.toString('hex')}`);
        if (r.throws !== undefined) {
          const e = new Error('bad');
          if (r.throws === 'protocol') e.name = 'ProtocolError';
          throw e;
        }
        return r.consumed ?? buffer.length;
      },
      peek_size: (buffer: Buffer) => {
        calls.push(`peek ${buffer.length}`);
        return reads[i - 1]?.peek;
      },
      has_writes_pending: () => reads[i - 1]?.pending === true,
    },
    state: { has_settled: () => true },
    socket: { end: () => void calls.push('end') },
    is_open: () => open,
    is_closed: () => !open,
    idle: () => void calls.push('idle'),
    output: () => void calls.push('output'),
    _write_frame: () => undefined,
    _get_peer_details: () => 'peer',
    dispatch: (name: string) => {
      calls.push(`dispatch ${name}`);
      return name === 'protocol_error';
    },
  };
  return c;
}

/** a timer armed and not cleared (Node marks a cleared or fired Timeout destroyed) */
const armed = (t: ReturnType<typeof setTimeout> | undefined): boolean => t !== undefined && !(t as unknown as { _destroyed: boolean })._destroyed;

function state(c: Fake): Record<string, unknown> {
  return {
    calls: c.calls,
    frame_size: c.frame_size,
    received_bytes: c.received_bytes,
    chunks: c.chunks?.map((b) => b.toString('hex')) ?? null,
    previous_input: c.previous_input?.toString('hex'),
    saved_error: (c.saved_error as Error | undefined)?.name,
    watchdog: armed(c.heartbeat_in),
    heartbeat_out: armed(c.heartbeat_out),
  };
}

const b = (...bytes: number[]): Buffer => Buffer.from(bytes);

/** each scenario: the connection's idle time-outs and what each of its reads does */
const scenarios: Record<string, { local?: number; remote?: number; open?: boolean; inputs: Buffer[]; reads: Read[] }> = {
  'whole frames, idle time-out announced': { local: 60_000, inputs: [b(1, 2), b(3), b(4, 5, 6)], reads: [{}, {}, { pending: true }] },
  'no idle time-out': { local: 0, inputs: [b(1), b(2)], reads: [{}, {}] },
  "the peer's idle time-out: a heartbeat owed": { local: 60_000, remote: 10_000, inputs: [b(1), b(2)], reads: [{}, {}] },
  'a frame left incomplete, then completed': { local: 60_000, inputs: [b(1, 2, 3), b(4), b(5, 6, 7)], reads: [{ consumed: 1, peek: 6 }, {}] },
  'bytes left too few to know a size': { local: 60_000, inputs: [b(1, 2, 3), b(4)], reads: [{ consumed: 2 }, {}] },
  'a protocol error': { local: 60_000, inputs: [b(1), b(2)], reads: [{}, { throws: 'protocol' }] },
  'another error': { local: 60_000, inputs: [b(1), b(2)], reads: [{}, { throws: 'other' }] },
  'a closed connection': { local: 60_000, open: false, inputs: [b(1)], reads: [{}] },
};

describe("rhea input: a connection's read against rhea's Connection.input", () => {
  afterEach(() => jest.restoreAllMocks());

  for (const [name, s] of Object.entries(scenarios)) {
    it(`${name}: the same state and calls, one watchdog armed as rhea arms one`, () => {
      jest.spyOn(console, 'error').mockImplementation(() => undefined);
      const mine = connection(s.local, s.remote, s.reads, s.open);
      const theirs = connection(s.local, s.remote, s.reads, s.open);
      const timers: (ReturnType<typeof setTimeout> | undefined)[] = [];
      for (const chunk of s.inputs) {
        input.call(mine, chunk);
        rheaInput.call(theirs, chunk);
        timers.push(mine.heartbeat_in);
        expect(state(mine)).toEqual(state(theirs));
      }
      // the watchdog this read armed is the one it refreshes: one Timeout for the connection's reads
      const kept = timers.filter((t) => t !== undefined);
      if (s.local && !s.reads.some((r) => r.throws !== undefined || r.peek !== undefined)) expect(new Set(kept).size).toBe(1);
      for (const c of [mine, theirs]) {
        if (c.heartbeat_in !== undefined) clearTimeout(c.heartbeat_in);
        if (c.heartbeat_out !== undefined) clearTimeout(c.heartbeat_out);
      }
    });
  }

  it('a watchdog rhea cleared (undefined) or armed itself is replaced, not refreshed', () => {
    const c = connection(60_000, undefined, [{}, {}, {}]);
    input.call(c, b(1));
    const first = c.heartbeat_in;
    // rhea's _disconnected clears it and sets it undefined; its output arms one when there is none
    clearTimeout(first);
    c.heartbeat_in = undefined;
    input.call(c, b(2));
    const second = c.heartbeat_in;
    expect(second).not.toBe(first);
    expect(armed(second)).toBe(true);
    const own = setTimeout(() => undefined, 60_000);
    c.heartbeat_in = own;
    input.call(c, b(3));
    expect(c.heartbeat_in).not.toBe(own);
    expect(armed(own)).toBe(false);
    expect(armed(c.heartbeat_in)).toBe(true);
    clearTimeout(c.heartbeat_in);
  });

  it('a connection silent for twice its idle time-out is idle: the refreshed watchdog fires', async () => {
    const c = connection(20, undefined, [{}, {}]);
    const idle = new Promise<number>((resolve) => {
      c.idle = () => resolve(performance.now());
    });
    input.call(c, b(1));
    await new Promise((r) => setTimeout(r, 25));
    const last = performance.now();
    input.call(c, b(2));
    // refreshed at the second read: not before 40 ms after it
    expect((await idle) - last).toBeGreaterThanOrEqual(39);
  });

  it('between two rhea containers: a peer that keeps sending heartbeats stays, one that stops is closed as idle', async () => {
    installConnectionInput();
    const server = rhea.create_container({ id: 'input-idle-server' });
    server.on('disconnected', () => undefined);
    // the server watches for 2 × 100 ms of silence (§2.4.5); the client owes it a frame every 50 ms
    const listener = server.listen({ port: 0, host: '127.0.0.1', idle_time_out: 100 });
    await once(listener, 'listening');
    const port = (listener.address() as AddressInfo).port;
    const conn = rhea.create_container({ id: 'input-idle-client' }).connect({ port, host: '127.0.0.1', reconnect: false });
    conn.on('disconnected', () => undefined);
    try {
      await once(conn, 'connection_open');
      let closedAt: number | undefined;
      const closed = new Promise<unknown>((resolve) => {
        conn.once('connection_error', (ctx: rhea.EventContext) => {
          closedAt = performance.now();
          resolve(ctx.connection.error);
        });
      });
      // five idle time-outs of heartbeats: each read refreshed the server's watchdog
      await new Promise((r) => setTimeout(r, 500));
      expect(closedAt).toBeUndefined();
      const silent = performance.now();
      disarmConnection(conn);
      const error = (await closed) as { condition?: unknown };
      expect(error.condition).toBe('amqp:resource-limit-exceeded');
      expect((closedAt ?? 0) - silent).toBeLessThan(2_000);
    } finally {
      disarmConnection(conn);
      conn.close();
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });

  it("installs once, in place of rhea's Connection.input, keeping rhea's", () => {
    installConnectionInput();
    installConnectionInput();
    expect(connectionPrototype.input).toBe(input);
    expect(rheaConnectionInput()).toBe(rheaInput);
    expect(rheaInput).not.toBe(input);
  });
});
