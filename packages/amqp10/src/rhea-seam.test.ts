/**
 * Each reliance of rhea-seam.ts on the installed rhea, checked between two rhea containers over
 * TCP. A failure here means an upgrade changed what the seam assumes: read
 * docs/architecture.md, "Library seams", before touching the pin.
 */
import { EventEmitter, once } from 'node:events';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import rhea from 'rhea';
import { dataSection } from '../test/rhea-message.js';
import { describeError } from '@ferry/core';
import { jest } from '@jest/globals';
import { answerSndSettleMode, armedTimers, disarmConnection, encodedMessage, installCapture, installCreditGuard, installDispositionWriter, installIncomingDeliveries, installLinkKeys, installQuietLog, installTransferRead, isQuiet, overranCredit, receiveDirect, rheaIncomingProcess, rheaLog, rheaSessionOnTransfer } from './rhea-seam.js';
import { TransferPerformative } from './rhea-transfer-frame.js';
import { IncomingDelivery } from './rhea-incoming.js';

const SEE = 'the rhea seam (packages/amqp10/src/rhea-seam.ts) no longer holds; see docs/architecture.md, "Library seams"';

function seam(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what}: ${SEE}`);
}

interface Pair {
  readonly server: rhea.Container;
  readonly client: rhea.Connection;
  /** rejects when the server side fails a connection (rhea then half-closes, and the client may wait on) */
  readonly serverFailed: Promise<never>;
  readonly close: () => Promise<void>;
}

/** A rhea container listening on a free port and a connection to it from another container. */
async function pair(serverSetup: (server: rhea.Container) => void, serverOptions: rhea.ContainerOptions = {}): Promise<Pair> {
  const server = rhea.create_container({ id: 'seam-server', ...serverOptions });
  const serverFailed = new Promise<never>((_, reject) => {
    const fail = (e: unknown): void => reject(new Error(`the server side failed: ${String(e)}`));
    server.on('error', (ctx: rhea.EventContext) => fail(ctx.error ?? ctx));
    server.on('protocol_error', (e: unknown) => fail(e));
  });
  serverFailed.catch(() => undefined);
  serverSetup(server);
  const listener = server.listen({ port: 0, host: '127.0.0.1' });
  await once(listener, 'listening');
  const port = (listener.address() as AddressInfo).port;
  const client = rhea.create_container({ id: 'seam-client' }).connect({ port, host: '127.0.0.1', reconnect: false });
  const failed = new Promise<never>((_, reject) => {
    client.on('disconnected', (ctx: rhea.EventContext) => reject(new Error(`connection lost: ${String(ctx.error ?? 'closed')}`)));
  });
  failed.catch(() => undefined);
  await Promise.race([once(client, 'connection_open'), failed]);
  return {
    server,
    client,
    serverFailed,
    close: async () => {
      client.close();
      await new Promise<void>((r) => listener.close(() => r()));
    },
  };
}

/** Resolves with what `register` settles; rejects if either side fails the connection first. */
function until<T>(p: Pair, register: (settle: (v: T) => void) => void): Promise<T> {
  const settled = new Promise<T>((resolve, reject) => {
    p.client.on('disconnected', (ctx: rhea.EventContext) => reject(new Error(`connection lost: ${String(ctx.error ?? 'closed')}`)));
    register(resolve);
  });
  return Promise.race([settled, p.serverFailed]);
}

let open: Pair | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

describe('rhea seam: message.decode (installCapture, encodedMessage)', () => {
  it("rhea calls the replaced message.decode with the transfer's exact bytes, before the message event", async () => {
    installCapture();
    const sent: rhea.Message = {
      message_id: 'seam-1',
      application_properties: { n: 7, s: 'x' },
      body: dataSection(Buffer.from([0, 1, 2, 0xfe, 0xff])),
    };
    const expected = rhea.message.encode(sent);
    const got: { encoded: Buffer | undefined; id: unknown }[] = [];
    let done: (() => void) | undefined;
    open = await pair((server) => {
      server.on('message', (ctx: rhea.EventContext) => {
        got.push({ encoded: encodedMessage(ctx.message), id: ctx.message?.message_id });
        done?.();
      });
    });
    const p = open;
    await until<undefined>(p, (resolve) => {
      done = () => resolve(undefined);
      const sender = p.client.open_sender({ target: { address: 'q' } });
      sender.once('sendable', () => sender.send(sent));
    });
    seam(got[0]?.id === 'seam-1', 'the message event did not carry the sent message');
    seam(got[0]?.encoded !== undefined, 'rhea decoded an incoming transfer without calling message.decode through its exported object, so no bytes were captured');
    seam(got[0]?.encoded?.equals(expected) === true, 'message.decode got bytes other than the transfer payload');
  });
});

describe('rhea seam: receivers handed their deliveries directly (receiveDirect)', () => {
  it("a direct receiver's handler gets each delivery with the transfer's exact bytes, a message split over frames too, without rhea's decode or message event; other receivers still get rhea's decoded message", async () => {
    installCapture();
    installCreditGuard();
    installIncomingDeliveries();
    // over two frames at the smallest max-frame-size (§2.7.1: 512)
    const big: rhea.Message = { message_id: 'big', body: dataSection(Buffer.alloc(700, 7)) };
    const small: rhea.Message = { message_id: 'small', application_properties: { n: 7 }, body: dataSection(Buffer.from([1, 2, 3])) };
    const got: { address: string; message: unknown; id?: number; credit?: number; count?: number }[] = [];
    const events: string[] = [];
    let done: (() => void) | undefined;
    open = await pair((server) => {
      server.on('receiver_open', (ctx: rhea.EventContext) => {
        const r = ctx.receiver as rhea.Receiver;
        r.add_credit(10);
        const address = (r.target as { address?: string }).address ?? '';
        const seen = (message: unknown, d?: rhea.Delivery): void => {
          const link = r as unknown as { credit: number; delivery_count: number };
          got.push({ address, message, id: d?.id, credit: link.credit, count: link.delivery_count });
          d?.accept();
          if (got.length === 4) done?.();
        };
        if (address === 'raw') receiveDirect(r, (d, data) => seen(data, d));
        r.on('message', (m: rhea.EventContext) => {
          events.push(address);
          if (address !== 'raw') seen(m.message, m.delivery);
        });
      });
    }, { max_frame_size: 512, receiver_options: { autoaccept: false, credit_window: 0 } });
    const p = open;
    const decodes = jest.spyOn(rhea.message, 'decode');
    const decodeCalls = await until<undefined>(p, (resolve) => {
      done = () => resolve(undefined);
      for (const address of ['raw', 'plain']) {
        const sender = p.client.open_sender({ target: { address } });
        sender.once('sendable', () => {
          sender.send(small);
          sender.send(big);
        });
      }
    })
      .then(() => decodes.mock.calls.length)
      .finally(() => decodes.mockRestore());
    const raw = got.filter((g) => g.address === 'raw');
    const plain = got.filter((g) => g.address === 'plain');
    seam(raw.length === 2 && raw.every((g) => Buffer.isBuffer(g.message)), 'a direct receiver got something other than the encoded message');
    seam((raw[0]?.message as Buffer).equals(rhea.message.encode(small)) && (raw[1]?.message as Buffer).equals(rhea.message.encode(big)), 'a direct receiver got bytes other than the transfer payload');
    // rhea's bookkeeping as for the plain receiver: the link's credit and delivery count after each
    // delivery, and the session's delivery ids (one sequence over both links, §2.6.12)
    const books = (l: typeof got): string => JSON.stringify(l.map((g) => [g.credit, g.count]));
    seam(books(raw) === books(plain) && books(raw) === JSON.stringify([[9, 1], [8, 2]]), `a direct receiver's credit and count ${books(raw)}, a plain one's ${books(plain)}`);
    const ids = got.map((g) => g.id).sort();
    seam(JSON.stringify(ids) === '[0,1,2,3]', `delivery ids ${JSON.stringify(ids)}`);
    seam(plain.map((g) => (g.message as rhea.Message).message_id).join() === 'small,big' && plain.every((g) => encodedMessage(g.message) !== undefined), 'a receiver not handed its deliveries directly no longer gets a decoded, captured message');
    seam(events.join() === 'plain,plain', `message events ${events.join()}`);
    // rhea decoded only the two plain ones
    seam(decodeCalls === 2, `rhea called message.decode ${decodeCalls} times for two messages of a plain receiver`);
  });

  it("refuses a receiver whose messages rhea's own observers take (autoaccept, a credit window): the handler would skip them", () => {
    installIncomingDeliveries();
    const observers = new EventEmitter();
    observers.on('message', () => undefined);
    expect(() => receiveDirect({ observers } as unknown as rhea.Receiver, () => undefined)).toThrow(/observers/);
    expect(() => receiveDirect({ observers: new EventEmitter() } as unknown as rhea.Receiver, () => undefined)).not.toThrow();
  });
});

describe('rhea seam: transfer frames read from their bytes, deliveries of one class (installTransferRead, installIncomingDeliveries)', () => {
  it("rhea's transport reads frames through frames.read_frame, and its session takes the transfers read from the bytes as IncomingDelivery: ids, tags, settled", async () => {
    installCapture();
    installCreditGuard();
    installTransferRead();
    installIncomingDeliveries();
    const frames = createRequire(import.meta.url)('rhea/lib/frames.js') as { read_frame(b: Buffer): unknown };
    const big: rhea.Message = { message_id: 'big', body: dataSection(Buffer.alloc(700, 7)) };
    const got: { id: number; tag: string; settled: boolean; messageId: unknown }[] = [];
    let done: (() => void) | undefined;
    open = await pair((server) => {
      server.on('message', (m: rhea.EventContext) => {
        const d = m.delivery as rhea.Delivery;
        seam(d instanceof IncomingDelivery, "rhea's session no longer makes its deliveries through Incoming.prototype.on_transfer");
        got.push({ id: d.id, tag: d.tag.toString(), settled: d.remote_settled, messageId: m.message?.message_id });
        if (got.length === 3) done?.();
      });
    });
    const p = open;
    const reads = jest.spyOn(frames, 'read_frame');
    const fromBytes = await until<undefined>(p, (resolve) => {
      done = () => resolve(undefined);
      const unsettled = p.client.open_sender({ target: { address: 'q' } });
      unsettled.once('sendable', () => {
        unsettled.send({ message_id: 'small', body: 'x' }, Buffer.from('t0'));
        unsettled.send(big, Buffer.from('t1'));
        const presettled = p.client.open_sender({ target: { address: 'q' }, snd_settle_mode: 1 });
        presettled.once('sendable', () => presettled.send({ message_id: 'settled', body: 'y' }, Buffer.from('t2')));
      });
    })
      .then(() => reads.mock.results.filter((r) => (r.value as { performative?: unknown } | null)?.performative instanceof TransferPerformative).length)
      .finally(() => reads.mockRestore());
    seam(fromBytes === 3, `${fromBytes} of the 3 transfer frames were read from their bytes`);
    expect(got).toEqual([
      { id: 0, tag: 't0', settled: false, messageId: 'small' },
      { id: 1, tag: 't1', settled: false, messageId: 'big' },
      { id: 2, tag: 't2', settled: true, messageId: 'settled' },
    ]);
  });
});

type Outcome = 'accepted' | 'rejected' | 'released';

/**
 * Two messages; the server settles #0 with `first` and #1 with `second` in one tick. Returns the
 * outcomes the sending client saw, by delivery.
 */
async function settleTwo(first: Outcome, second: Outcome): Promise<Outcome[]> {
  const apply = (d: rhea.Delivery, o: Outcome): void => {
    if (o === 'accepted') d.accept();
    else if (o === 'rejected') d.reject({ condition: 'amqp:internal-error', description: 'seam' });
    else d.release();
  };
  const deliveries: rhea.Delivery[] = [];
  open = await pair((server) => {
    server.on('receiver_open', (ctx: rhea.EventContext) => ctx.receiver?.set_credit_window(10));
    server.on('message', (ctx: rhea.EventContext) => {
      if (ctx.delivery === undefined) return;
      deliveries.push(ctx.delivery);
      if (deliveries.length < 2) return;
      const [d0, d1] = deliveries as [rhea.Delivery, rhea.Delivery];
      apply(d0, first);
      apply(d1, second);
    });
    // the server's links settle only what the test settles
  }, { autoaccept: false });
  const p = open;
  return until<Outcome[]>(p, (resolve) => {
    // indexed by delivery tag, so a slot stays empty until its outcome arrives
    const outcomes: (Outcome | undefined)[] = [];
    const sender = p.client.open_sender({ target: { address: 'q' }, autosettle: true });
    const seen = (o: Outcome) => (ctx: rhea.EventContext): void => {
      const tag = ctx.delivery?.tag;
      outcomes[tag === undefined ? outcomes.length : Number(tag.toString())] = o;
      const arrived = outcomes.filter((x) => x !== undefined);
      if (arrived.length === 2) resolve(arrived);
    };
    sender.on('accepted', seen('accepted'));
    sender.on('rejected', seen('rejected'));
    sender.on('released', seen('released'));
    sender.once('sendable', () => {
      sender.send({ body: 'zero' }, Buffer.from('0'));
      sender.send({ body: 'one' }, Buffer.from('1'));
    });
  });
}

describe('rhea seam: dispositions written by Ferry (installDispositionWriter)', () => {
  it("rhea's own Incoming.process still merges the second outcome of a pass into the first (else the writer is not needed for outcomes)", () => {
    const message = createRequire(import.meta.url)('rhea/lib/message.js') as { accepted(): { described(): unknown }; rejected(f: unknown): { described(): unknown } };
    const out: { first?: unknown; last?: unknown; state?: { descriptor?: { value?: unknown } } }[] = [];
    const session = { output: (p: typeof out[number]) => out.push(p), _write_flow: () => undefined };
    const link = { is_receiver: () => true, session };
    const incoming = {
      updated: [
        { id: 0, settled: true, link, state: message.accepted().described() },
        { id: 1, settled: true, link, state: message.rejected({ error: { condition: 'amqp:not-allowed' } }).described() },
      ],
      deliveries: { pop_if: () => 0 },
      window: 2048,
      max_transfer_id: 2048,
      next_transfer_id: 0,
    };
    rheaIncomingProcess().call(incoming, session);
    const written = out.map((p) => `${String(p.first)}..${String(p.last)}:${String(p.state?.descriptor?.value)}`);
    seam(
      written.join() === '0..1:36',
      `accept #0 then reject #1 in one pass were written by rhea as [${written.join()}], not merged into one accepted 0..1: rhea's write_dispositions changed; if each delivery now keeps its own outcome, the writer is there for speed alone`,
    );
  });

  it('through the writer each delivery keeps its own outcome, between two rhea containers', async () => {
    installCapture();
    installDispositionWriter();
    const outcomes: Outcome[][] = [];
    for (const [first, second] of [['accepted', 'rejected'], ['rejected', 'released'], ['released', 'released']] as const) {
      outcomes.push(await settleTwo(first, second));
      await open?.close();
      open = undefined;
    }
    const [a = [], b = [], c = []] = outcomes;
    seam(a.join(',') === 'accepted,rejected', `accept #0, reject #1 in one tick reached the sender as [${a.join(',')}]`);
    seam(b.join(',') === 'rejected,released', `reject #0, release #1 in one tick reached the sender as [${b.join(',')}]`);
    seam(c.join(',') === 'released,released', `release #0, release #1 in one tick reached the sender as [${c.join(',')}]`);
  });
});

/** How long the link test waits for an attach that may never come (a loaded machine takes well under 1 s). */
const ATTACH_BOUND_MS = 10_000;

describe('rhea seam: links keyed by name and role (installLinkKeys)', () => {
  it('one session attaches a sending and a receiving link of the same name (AMQP 1.0 §2.6.1) on both sides', async () => {
    installLinkKeys();
    let count = 0;
    let done: (() => void) | undefined;
    const opened = (): void => {
      count++;
      if (count === 4) done?.();
    };
    open = await pair((server) => {
      server.on('sender_open', opened);
      server.on('receiver_open', opened);
    });
    const p = open;
    // without the seam rhea loses a link silently (it never attaches), so a bound ends the wait
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no further attach within ${ATTACH_BOUND_MS} ms`)), ATTACH_BOUND_MS);
    });
    await until<undefined>({ ...p, serverFailed: Promise.race([p.serverFailed, deadline]) }, (resolve) => {
      done = () => resolve(undefined);
      p.client.on('sender_open', opened);
      p.client.on('receiver_open', opened);
      p.client.on('connection_error', (ctx: rhea.EventContext) => seam(false, `connection error: ${describeError(ctx.connection.error)}`));
      p.client.open_sender({ name: 'same', target: { address: 'a' } });
      p.client.open_receiver({ name: 'same', source: { address: 'a' } });
    })
      .catch((e: unknown) => seam(false, `${count} of 4 link attaches, then ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => clearTimeout(timer));
    seam(count === 4, `${count} of 4 link attaches were seen`);
  }, 3 * ATTACH_BOUND_MS);
});

describe('rhea seam: the snd-settle-mode a sending link answers with (answerSndSettleMode)', () => {
  for (const presettled of [true, false]) {
    it(`a receiver that asks for ${presettled ? 'settled' : 'unsettled'} transfers gets that mode in the attach and on the transfer`, async () => {
      open = await pair((server) => {
        server.on('sender_open', (ctx: rhea.EventContext) => {
          const s = ctx.sender as rhea.Sender;
          answerSndSettleMode(s, s.snd_settle_mode === 1);
          s.once('sendable', () => s.send({ body: 'm' }));
        });
      });
      const p = open;
      const got = await until<{ mode: unknown; settled: boolean }>(p, (resolve) => {
        const r = p.client.open_receiver({ source: { address: 'q' }, snd_settle_mode: presettled ? 1 : 0, autoaccept: true });
        r.once('message', (ctx: rhea.EventContext) => {
          resolve({ mode: (r as unknown as { remote: { attach?: { snd_settle_mode?: number } } }).remote.attach?.snd_settle_mode, settled: ctx.delivery?.remote_settled === true });
        });
      });
      seam(got.mode === (presettled ? 1 : 0), `the sender answered snd-settle-mode ${String(got.mode)}`);
      seam(got.settled === presettled, `the transfer came ${got.settled ? 'settled' : 'unsettled'}`);
    });
  }
});

describe("rhea seam: a connection's timers (disarmConnection)", () => {
  it('rhea keeps its idle watchdog and its heartbeat in heartbeat_in and heartbeat_out, and disarmConnection clears them', async () => {
    const server = rhea.create_container({ id: 'seam-timers-server' });
    server.on('disconnected', () => undefined);
    const listener = server.listen({ port: 0, host: '127.0.0.1', idle_time_out: 60_000 });
    await once(listener, 'listening');
    const port = (listener.address() as AddressInfo).port;
    const conn = rhea.create_container({ id: 'seam-timers-client' }).connect({ port, host: '127.0.0.1', reconnect: false, idle_time_out: 60_000 });
    conn.on('disconnected', () => undefined);
    try {
      await once(conn, 'connection_open');
      // both sides announced an idle time-out (§2.4.5): rhea watches the peer and owes it frames
      const armed = armedTimers(conn);
      seam(armed.includes('heartbeat_in') && armed.includes('heartbeat_out'), `armed after the open: [${armed.join(', ')}], expected heartbeat_in and heartbeat_out`);
      const timers = conn as unknown as Record<string, { _destroyed?: boolean } | undefined>;
      const before = [timers['heartbeat_in'], timers['heartbeat_out']];
      disarmConnection(conn);
      seam(armedTimers(conn).length === 0, `still armed: [${armedTimers(conn).join(', ')}]`);
      // cleared, not just forgotten: a forgotten timer would still hold the connection
      seam(before.every((t) => t?._destroyed === true), 'the timers were not cleared');
    } finally {
      const closed = once(conn, 'connection_close');
      conn.close();
      await closed;
      await new Promise<void>((r) => listener.close(() => r()));
    }
  });
});

describe('rhea seam: a transfer without link credit (installCreditGuard, overranCredit)', () => {
  it("rhea's Session.on_transfer hands the frame and the link of its handle to the session's Incoming, which the guard calls itself", () => {
    installCreditGuard();
    const link = { name: 'l' };
    const calls: unknown[][] = [];
    // a session with what on_transfer reads, on rhea's Session prototype (its _get_link)
    const proto = (createRequire(import.meta.url)('rhea/lib/session.js') as { prototype: object }).prototype;
    const session = Object.assign(Object.create(proto) as object, { remote: { handles: { 3: link } }, incoming: { on_transfer: (...args: unknown[]) => void calls.push(args) } });
    const frame = { performative: { handle: 3 } };
    rheaSessionOnTransfer().call(session as never, frame);
    seam(calls.length === 1 && calls[0]?.[0] === frame && calls[0][1] === link, `rhea's Session.on_transfer called its Incoming with ${JSON.stringify(calls)}`);
  });

  it('rhea delivers transfers a sender sent past its credit; with the guard each is marked and rhea prints nothing', async () => {
    installCreditGuard();
    const printed = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const marks: boolean[] = [];
      const credit: number[] = [];
      open = await pair((server) => {
        server.on('receiver_open', (ctx: rhea.EventContext) => {
          const r = ctx.receiver as rhea.Receiver;
          r.add_credit(2);
          r.on('message', () => {
            marks.push(overranCredit(r));
            credit.push((r as unknown as { credit: number }).credit);
          });
        });
      }, { receiver_options: { credit_window: 0, autoaccept: true } });
      const p = open;
      await until<undefined>(p, (resolve) => {
        const s = p.client.open_sender({ target: { address: 'q' } });
        // a client that ignores credit: this rhea sender is told it has five where two are granted
        s.once('sendable', () => {
          (s as unknown as { credit: number }).credit = 5;
          for (let i = 0; i < 5; i++) s.send({ body: `m${i}` });
        });
        const poll = setInterval(() => {
          if (marks.length === 5) {
            clearInterval(poll);
            resolve(undefined);
          }
        }, 5);
      });
      seam(JSON.stringify(marks) === JSON.stringify([false, false, true, true, true]), `marks ${JSON.stringify(marks)}`);
      seam(JSON.stringify(credit) === JSON.stringify([1, 0, 0, 0, 0]), `credit after each ${JSON.stringify(credit)}`);
      seam(printed.mock.calls.length === 0, `rhea printed ${JSON.stringify(printed.mock.calls)}`);
    } finally {
      printed.mockRestore();
    }
  });
});

describe("rhea seam: rhea's debug log, off (installQuietLog)", () => {
  it('rhea calls its log through the object lib/log.js exports, for every frame it reads and writes', async () => {
    const log = rheaLog();
    const own = { ...log };
    const calls: string[] = [];
    for (const name of ['frames', 'raw', 'io', 'events']) {
      seam(typeof log[name] === 'function', `rhea's lib/log.js exports ${name}`);
      log[name] = () => void calls.push(name);
    }
    try {
      const p = await pair(() => undefined);
      await p.close();
    } finally {
      Object.assign(log, own);
    }
    for (const name of ['frames', 'io', 'events']) seam(calls.includes(name), `rhea calls log.${name} through lib/log.js's object`);
  });

  it('replaces each namespace that is off and keeps one that is enabled', () => {
    // the debug module rhea loads (its own dependency, not Ferry's)
    const fromRhea = createRequire(createRequire(import.meta.url).resolve('rhea'));
    const debug = fromRhea('debug') as { enable(ns: string): void; disable(): string };
    const log = rheaLog();
    const own = { ...log };
    const before = debug.disable();
    debug.enable('rhea:io');
    try {
      installQuietLog();
      expect(log.io).toBe(own.io);
      for (const name of Object.keys(own).filter((n) => n !== 'io')) expect(isQuiet(log[name])).toBe(true);
    } finally {
      Object.assign(log, own);
      debug.disable();
      if (before !== '') debug.enable(before);
    }
  });
});
