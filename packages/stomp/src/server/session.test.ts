import { FerryError, silentLogger } from '@ferry/core';
import { headerValue, type StompFrame } from '../frame/frame.js';
import { StompBroker } from './broker.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { StompServer } from './server.js';
import { DEFAULT_SESSION_OPTIONS, type InboundSend, type SessionHooks } from './session.js';
import { negotiateHeartBeat } from './heartbeat.js';
import { FERRY_STOMP_VERSION } from './version.js';
import { readFileSync } from 'node:fs';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
async function settle(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

interface Rig {
  server: StompServer;
  broker: StompBroker;
  sends: { send: InboundSend; resolve: () => void; reject: (e: FerryError) => void }[];
  connect(version?: string, extra?: string): Promise<MemorySocket>;
}

function rig(hooks: Partial<SessionHooks> = {}, opts: { queueBufferMessages?: number; maxUnacked?: number; hold?: boolean } = {}): Rig {
  const broker = new StompBroker({ queueBufferMessages: opts.queueBufferMessages ?? 100, maxUnackedPerSubscription: opts.maxUnacked });
  const sends: Rig['sends'] = [];
  const server = new StompServer(
    { ...DEFAULT_SESSION_OPTIONS, heartBeat: { sendMs: 0, receiveMs: 0 }, host: '127.0.0.1', port: 0, serverName: 'Ferry/test' },
    broker,
    {
      authenticate: () => true,
      acceptingSends: () => true,
      onSend: (send) =>
        opts.hold === true
          ? new Promise<void>((resolve, reject) => {
              sends.push({ send, resolve, reject });
            })
          : undefined,
      ...hooks,
    },
    silentLogger,
  );
  return {
    server,
    broker,
    sends,
    async connect(version = '1.2', extra = '') {
      const s = new MemorySocket();
      server.attach(s.server);
      s.send(`CONNECT\naccept-version:${version}\nhost:x\n${extra}\n\0`);
      await settle();
      return s;
    },
  };
}

const last = (s: MemorySocket): StompFrame => s.frames[s.frames.length - 1] as StompFrame;

describe('StompSession: connecting', () => {
  it('answers CONNECT with CONNECTED: highest common version, heart-beat, server, session', async () => {
    const r = rig();
    const s = await r.connect('1.0,1.1,1.2');
    const c = s.frames[0] as StompFrame;
    expect(c.command).toBe('CONNECTED');
    expect(headerValue(c, 'version')).toBe('1.2');
    expect(headerValue(c, 'heart-beat')).toBe('0,0');
    expect(headerValue(c, 'server')).toBe('Ferry/test');
    expect(headerValue(c, 'session')).toMatch(/^ferry-/);
  });

  it('no accept-version means STOMP 1.0; CONNECTED then has no version header', async () => {
    const r = rig();
    const s = new MemorySocket();
    r.server.attach(s.server);
    s.send('CONNECT\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED']);
    expect(headerValue(s.frames[0] as StompFrame, 'version')).toBeUndefined();
  });

  it('refuses unsupported versions with an ERROR listing its own (STOMP 1.2 §Protocol Negotiation)', async () => {
    const s = await rig().connect('2.0');
    expect(s.commands()).toEqual(['ERROR']);
    expect(headerValue(s.frames[0] as StompFrame, 'version')).toBe('1.0,1.1,1.2');
    await settle();
    expect(s.ended).toBe(true);
  });

  it('a frame before CONNECT gets ERROR and the connection closes', async () => {
    const r = rig();
    const s = new MemorySocket();
    r.server.attach(s.server);
    s.send('SEND\ndestination:/queue/a\nreceipt:1\n\nx\0');
    await settle();
    expect(s.commands()).toEqual(['ERROR']);
    expect(headerValue(s.frames[0] as StompFrame, 'receipt-id')).toBe('1');
    expect(s.ended).toBe(true);
    await settle();
    expect(r.server.sessionCount).toBe(0);
  });

  it('bad login gets ERROR "authentication failed"', async () => {
    const s = await rig({ authenticate: (l, p) => l === 'u' && p === 'p' }).connect('1.2', 'login:u\npasscode:wrong\n');
    expect(s.commands()).toEqual(['ERROR']);
    expect(headerValue(s.frames[0] as StompFrame, 'message')).toBe('authentication failed');
  });

  it('negotiates heart-beats per STOMP 1.2 §Heart-beating', () => {
    expect(negotiateHeartBeat([0, 0], { sendMs: 100, receiveMs: 100 })).toEqual({ clientSendsMs: 0, serverSendsMs: 0 });
    expect(negotiateHeartBeat([500, 200], { sendMs: 100, receiveMs: 1000 })).toEqual({ clientSendsMs: 1000, serverSendsMs: 200 });
    expect(negotiateHeartBeat([500, 200], { sendMs: 0, receiveMs: 0 })).toEqual({ clientSendsMs: 0, serverSendsMs: 0 });
  });

  it('the server header carries the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(FERRY_STOMP_VERSION).toBe(pkg.version);
  });
});

describe('StompSession: SEND and RECEIPT', () => {
  it('holds the RECEIPT until the settlement is accepted', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    s.send('SEND\ndestination:/queue/a\nreceipt:r1\n\nhello\0');
    await settle();
    expect(r.sends).toHaveLength(1);
    expect(r.sends[0]?.send.confirmed).toBe(true);
    expect(s.commands()).toEqual(['CONNECTED']);
    r.sends[0]?.resolve();
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    expect(headerValue(last(s), 'receipt-id')).toBe('r1');
  });

  it('a refused settlement becomes ERROR with receipt-id and the reason, then close', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    s.send('SEND\ndestination:/queue/a\nreceipt:r2\n\nhello\0');
    await settle();
    r.sends[0]?.reject(new FerryError('SINK_REJECTED', 'exchange not found', { permanent: true }));
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('r2');
    expect(headerValue(last(s), 'message')).toContain('exchange not found');
    expect(s.ended).toBe(true);
  });

  it('DISCONNECT waits for pending settlements: their RECEIPTs first, then its own', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    s.send('SEND\ndestination:/queue/a\nreceipt:s1\n\nx\0DISCONNECT\nreceipt:d1\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED']);
    r.sends[0]?.resolve();
    await settle(10);
    expect(s.frames.map((f) => [f.command, headerValue(f, 'receipt-id')])).toEqual([
      ['CONNECTED', undefined],
      ['RECEIPT', 's1'],
      ['RECEIPT', 'd1'],
    ]);
    expect(s.ended).toBe(true);
  });

  it('a full queue refuses the SEND with ERROR; nothing is held beyond the bound', async () => {
    const r = rig({}, { queueBufferMessages: 2 });
    const s = await r.connect();
    s.send('SEND\ndestination:/queue/full\n\n1\0SEND\ndestination:/queue/full\n\n2\0SEND\ndestination:/queue/full\nreceipt:3\n\n3\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('3');
    expect(headerValue(last(s), 'message')).toMatch(/full/);
    expect(r.broker.queueDepth('/queue/full')).toBe(2);
  });

  it('shutting down: new SENDs get ERROR "shutting down"', async () => {
    const s = await rig({ acceptingSends: () => false }).connect();
    s.send('SEND\ndestination:/topic/a\nreceipt:x\n\nhi\0');
    await settle();
    expect(headerValue(last(s), 'message')).toBe('shutting down');
  });
});

describe('StompSession: subscriptions', () => {
  it('topics copy to every subscriber; queues give each message to one, round robin', async () => {
    const r = rig();
    const a = await r.connect();
    const b = await r.connect();
    for (const c of [a, b]) c.send('SUBSCRIBE\nid:t\ndestination:/topic/x\n\n\0SUBSCRIBE\nid:q\ndestination:/queue/x\n\n\0');
    await settle();
    const p = await r.connect();
    p.send('SEND\ndestination:/topic/x\n\nT\0' + [1, 2, 3, 4].map((i) => `SEND\ndestination:/queue/x\n\nQ${i}\0`).join(''));
    await settle();
    const bodies = (c: MemorySocket): string[] => c.frames.filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString());
    expect(bodies(a)).toEqual(['T', 'Q1', 'Q3']);
    expect(bodies(b)).toEqual(['T', 'Q2', 'Q4']);
  });

  it('a queue holds messages while nobody subscribes, then delivers them in order', async () => {
    const r = rig();
    const p = await r.connect();
    p.send('SEND\ndestination:/queue/h\n\n1\0SEND\ndestination:/queue/h\n\n2\0');
    await settle();
    expect(r.broker.queueDepth('/queue/h')).toBe(2);
    const c = await r.connect();
    c.send('SUBSCRIBE\nid:0\ndestination:/queue/h\nreceipt:sub\n\n\0');
    await settle();
    expect(c.frames.map((f) => f.command + ':' + f.body.toString())).toEqual(['CONNECTED:', 'RECEIPT:', 'MESSAGE:1', 'MESSAGE:2']);
  });

  it('client mode acks cumulatively; unacked messages are redelivered to another subscriber when a session dies', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:0\ndestination:/queue/c\nack:client\n\n\0');
    await settle();
    const p = await r.connect();
    p.send([1, 2, 3, 4].map((i) => `SEND\ndestination:/queue/c\n\nm${i}\0`).join(''));
    await settle();
    const msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs).toHaveLength(4);
    // ACK the second: the first two are done (STOMP 1.2 §SUBSCRIBE ack Header, client mode)
    a.send(`ACK\nid:${headerValue(msgs[1] as StompFrame, 'ack') ?? ''}\n\n\0`);
    await settle();
    expect(r.broker.queueUnacked('/queue/c')).toBe(2);
    a.hangUp();
    await settle();
    expect(r.broker.queueDepth('/queue/c')).toBe(2);
    const b = await r.connect();
    b.send('SUBSCRIBE\nid:0\ndestination:/queue/c\n\n\0');
    await settle();
    const again = b.frames.filter((f) => f.command === 'MESSAGE');
    expect(again.map((f) => [f.body.toString(), headerValue(f, 'redelivered')])).toEqual([
      ['m3', 'true'],
      ['m4', 'true'],
    ]);
  });

  it('maxUnackedPerSubscription pauses a client-mode subscription until it acks', async () => {
    const r = rig({}, { maxUnacked: 2 });
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:0\ndestination:/queue/f\nack:client-individual\n\n\0');
    await settle();
    a.send([1, 2, 3].map((i) => `SEND\ndestination:/queue/f\n\nm${i}\0`).join(''));
    await settle();
    let msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs).toHaveLength(2);
    expect(r.broker.queueDepth('/queue/f')).toBe(1);
    a.send(`ACK\nid:${headerValue(msgs[0] as StompFrame, 'ack') ?? ''}\n\n\0`);
    await settle();
    msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs.map((f) => f.body.toString())).toEqual(['m1', 'm2', 'm3']);
  });

  it('1.1 ACK needs message-id and subscription; a missing one is an ERROR', async () => {
    const r = rig();
    const a = await r.connect('1.1');
    a.send('SUBSCRIBE\nid:s\ndestination:/queue/v\nack:client\n\n\0SEND\ndestination:/queue/v\n\nx\0');
    await settle();
    const m = a.frames.find((f) => f.command === 'MESSAGE') as StompFrame;
    expect(headerValue(m, 'ack')).toBeUndefined();
    a.send(`ACK\nmessage-id:${headerValue(m, 'message-id') ?? ''}\nsubscription:s\nreceipt:a\n\n\0`);
    await settle();
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/v')).toBe(0);
    a.send('ACK\nmessage-id:zzz\nreceipt:b\n\n\0');
    await settle();
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('subscription');
  });

  it('application headers cannot override protocol headers of a MESSAGE', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:real\ndestination:/topic/o\n\n\0');
    await settle();
    a.send('SEND\ndestination:/topic/o\nsubscription:fake\nmessage-id:fake\nack:fake\nx:1\n\nb\0');
    await settle();
    const m = last(a);
    expect(m.command).toBe('MESSAGE');
    expect(m.headers.filter(([n]) => n === 'subscription')).toEqual([['subscription', 'real']]);
    expect(m.headers.filter(([n]) => n === 'message-id' || n === 'ack').map(([, v]) => v)).not.toContain('fake');
    expect(headerValue(m, 'x')).toBe('1');
  });
});

describe('StompSession: transactions', () => {
  it('SENDs take effect on COMMIT, are discarded on ABORT and on disconnect', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/queue/tx\ntransaction:t1\n\n1\0');
    await settle();
    expect(r.broker.queueDepth('/queue/tx')).toBe(0);
    a.send('COMMIT\ntransaction:t1\nreceipt:c\n\n\0');
    await settle();
    expect(r.broker.queueDepth('/queue/tx')).toBe(1);
    expect(last(a).command).toBe('RECEIPT');
    a.send('BEGIN\ntransaction:t2\n\n\0SEND\ndestination:/queue/tx\ntransaction:t2\n\n2\0ABORT\ntransaction:t2\n\n\0');
    a.send('BEGIN\ntransaction:t3\n\n\0SEND\ndestination:/queue/tx\ntransaction:t3\n\n3\0');
    await settle();
    a.hangUp();
    await settle();
    expect(r.broker.queueDepth('/queue/tx')).toBe(1);
  });
});

const messages = (s: MemorySocket): StompFrame[] => s.frames.filter((f) => f.command === 'MESSAGE');
const bodyOf = (f: StompFrame): string => f.body.toString();
const ackId = (f: StompFrame): string => headerValue(f, 'ack') ?? '';

describe('StompSession: the STOMP command (STOMP 1.2 §Connecting)', () => {
  it('STOMP instead of CONNECT is answered with CONNECTED, and the session works', async () => {
    const r = rig();
    const s = new MemorySocket();
    r.server.attach(s.server);
    s.send('STOMP\naccept-version:1.1,1.2\nhost:x\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/st\n\n\0SEND\ndestination:/topic/st\nreceipt:r\n\nvia STOMP\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'MESSAGE', 'RECEIPT']);
    const c = s.frames[0] as StompFrame;
    expect(headerValue(c, 'version')).toBe('1.2');
    expect(headerValue(c, 'session')).toMatch(/^ferry-/);
    expect(bodyOf(s.frames[1] as StompFrame)).toBe('via STOMP');
    expect(s.ended).toBe(false);
  });

  it('STOMP for a 1.1 client negotiates 1.1', async () => {
    const s = new MemorySocket();
    rig().server.attach(s.server);
    s.send('STOMP\naccept-version:1.1\nhost:x\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED']);
    expect(headerValue(s.frames[0] as StompFrame, 'version')).toBe('1.1');
  });

  it('STOMP without accept-version (a 1.0 client: 1.0 has no STOMP frame) gets ERROR and close', async () => {
    const s = new MemorySocket();
    rig().server.attach(s.server);
    s.send('STOMP\nhost:x\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['ERROR']);
    expect(headerValue(s.frames[0] as StompFrame, 'message')).toContain('STOMP 1.1');
    expect(s.ended).toBe(true);
  });

  it('a second STOMP or CONNECT on a connected session is an ERROR', async () => {
    const r = rig();
    const s = await r.connect();
    s.send('STOMP\naccept-version:1.2\nhost:x\nreceipt:again\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'message')).toBe('already connected');
    expect(s.ended).toBe(true);
  });
});

describe('StompSession: UNSUBSCRIBE', () => {
  it('a topic subscription gets no more MESSAGEs once UNSUBSCRIBE is receipted; other subscriptions still do', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:t1\ndestination:/topic/u\n\n\0SUBSCRIBE\nid:t2\ndestination:/topic/u\n\n\0');
    await settle();
    const p = await r.connect();
    p.send('SEND\ndestination:/topic/u\n\nbefore\0');
    await settle();
    expect(messages(a).map((f) => [headerValue(f, 'subscription'), bodyOf(f)])).toEqual([
      ['t1', 'before'],
      ['t2', 'before'],
    ]);
    a.send('UNSUBSCRIBE\nid:t1\nreceipt:u1\n\n\0');
    await settle();
    expect(last(a).command).toBe('RECEIPT');
    expect(headerValue(last(a), 'receipt-id')).toBe('u1');
    p.send('SEND\ndestination:/topic/u\n\nafter\0');
    await settle();
    expect(messages(a).map((f) => [headerValue(f, 'subscription'), bodyOf(f)])).toEqual([
      ['t1', 'before'],
      ['t2', 'before'],
      ['t2', 'after'],
    ]);
    expect(r.server.sessions.size).toBe(2);
  });

  it('a queue subscription: no more MESSAGEs after UNSUBSCRIBE; its unacked messages go back to the front of the queue, redelivered, in order', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:q\ndestination:/queue/u\nack:client-individual\n\n\0');
    await settle();
    const p = await r.connect();
    p.send([1, 2, 3].map((i) => `SEND\ndestination:/queue/u\n\nm${i}\0`).join(''));
    await settle();
    const got = messages(a);
    expect(got.map(bodyOf)).toEqual(['m1', 'm2', 'm3']);
    // m2 is acknowledged; m1 and m3 are still outstanding when the client unsubscribes
    a.send(`ACK\nid:${ackId(got[1] as StompFrame)}\n\n\0UNSUBSCRIBE\nid:q\nreceipt:u\n\n\0`);
    await settle();
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/u')).toBe(0);
    expect(r.broker.queueDepth('/queue/u')).toBe(2);
    p.send('SEND\ndestination:/queue/u\n\nm4\0');
    await settle();
    expect(messages(a)).toHaveLength(3);
    expect(r.broker.queueDepth('/queue/u')).toBe(3);
    // an ACK for a delivery of the ended subscription is a no-op: the message stays in the queue
    a.send(`ACK\nid:${ackId(got[0] as StompFrame)}\nreceipt:late\n\n\0`);
    await settle();
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueDepth('/queue/u')).toBe(3);
    const b = await r.connect();
    b.send('SUBSCRIBE\nid:q\ndestination:/queue/u\n\n\0');
    await settle();
    expect(messages(b).map((f) => [bodyOf(f), headerValue(f, 'redelivered')])).toEqual([
      ['m1', 'true'],
      ['m3', 'true'],
      ['m4', undefined],
    ]);
    expect(r.broker.queueDepth('/queue/u')).toBe(0);
  });

  it('re-using the id after UNSUBSCRIBE is allowed; UNSUBSCRIBE of an unknown id is an ERROR', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:x\ndestination:/topic/r\n\n\0UNSUBSCRIBE\nid:x\n\n\0SUBSCRIBE\nid:x\ndestination:/topic/r2\nreceipt:s\n\n\0');
    await settle();
    expect(a.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    a.send('UNSUBSCRIBE\nid:nope\nreceipt:n\n\n\0');
    await settle();
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'receipt-id')).toBe('n');
    expect(a.ended).toBe(true);
  });
});

describe('StompSession: ACK and NACK in transactions', () => {
  async function twoUnacked(r: Rig): Promise<{ a: MemorySocket; m1: StompFrame; m2: StompFrame }> {
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:s\ndestination:/queue/txa\nack:client-individual\n\n\0');
    await settle();
    a.send('SEND\ndestination:/queue/txa\n\nm1\0SEND\ndestination:/queue/txa\n\nm2\0');
    await settle();
    const [m1, m2] = messages(a) as [StompFrame, StompFrame];
    return { a, m1, m2 };
  }

  it('ACK and NACK with a transaction take effect only on COMMIT', async () => {
    const r = rig();
    const { a, m1, m2 } = await twoUnacked(r);
    a.send(`BEGIN\ntransaction:t\n\n\0ACK\nid:${ackId(m1)}\ntransaction:t\n\n\0NACK\nid:${ackId(m2)}\ntransaction:t\nreceipt:n\n\n\0`);
    await settle();
    // receipted (the frame was taken) but not applied: both still outstanding, nothing redelivered
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/txa')).toBe(2);
    expect(messages(a)).toHaveLength(2);
    a.send('COMMIT\ntransaction:t\nreceipt:c\n\n\0');
    await settle();
    // m1 acknowledged; m2 refused: back in the queue and redelivered to the only subscriber
    const after = messages(a);
    expect(after.map((f) => [bodyOf(f), headerValue(f, 'redelivered')])).toEqual([
      ['m1', undefined],
      ['m2', undefined],
      ['m2', 'true'],
    ]);
    expect(r.broker.queueUnacked('/queue/txa')).toBe(1);
    expect(a.frames.filter((f) => f.command === 'RECEIPT').map((f) => headerValue(f, 'receipt-id'))).toEqual(['n', 'c']);
  });

  it('ACK and NACK with a transaction are discarded on ABORT: the messages stay outstanding and can be acked again', async () => {
    const r = rig();
    const { a, m1, m2 } = await twoUnacked(r);
    a.send(`BEGIN\ntransaction:t\n\n\0ACK\nid:${ackId(m1)}\ntransaction:t\n\n\0NACK\nid:${ackId(m2)}\ntransaction:t\n\n\0ABORT\ntransaction:t\nreceipt:ab\n\n\0`);
    await settle();
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/txa')).toBe(2);
    expect(messages(a)).toHaveLength(2);
    // the transaction is gone: COMMIT of it is an error, and plain ACKs still work
    a.send(`ACK\nid:${ackId(m1)}\n\n\0ACK\nid:${ackId(m2)}\nreceipt:ok\n\n\0`);
    await settle();
    expect(r.broker.queueUnacked('/queue/txa')).toBe(0);
    expect(r.broker.queueDepth('/queue/txa')).toBe(0);
    a.send('COMMIT\ntransaction:t\n\n\0');
    await settle();
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('unknown transaction');
  });

  it("a COMMIT's RECEIPT waits until every SEND of the transaction was settled", async () => {
    const r = rig({}, { hold: true });
    const a = await r.connect();
    a.send('BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/c\ntransaction:t\n\none\0SEND\ndestination:/topic/c\ntransaction:t\n\ntwo\0');
    await settle();
    expect(r.sends).toHaveLength(0);
    a.send('COMMIT\ntransaction:t\nreceipt:commit-1\n\n\0');
    await settle();
    expect(r.sends.map((s) => [s.send.body.toString(), s.send.confirmed])).toEqual([
      ['one', true],
      ['two', true],
    ]);
    expect(a.commands()).toEqual(['CONNECTED']);
    r.sends[1]?.resolve();
    await settle();
    expect(a.commands()).toEqual(['CONNECTED']);
    r.sends[0]?.resolve();
    await settle();
    expect(a.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    expect(headerValue(last(a), 'receipt-id')).toBe('commit-1');
  });

  it('a COMMIT whose SEND is refused gets ERROR with the receipt-id, not RECEIPT', async () => {
    const r = rig({}, { hold: true });
    const a = await r.connect();
    a.send('BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/c\ntransaction:t\n\none\0SEND\ndestination:/queue/c\ntransaction:t\n\ntwo\0COMMIT\ntransaction:t\nreceipt:c2\n\n\0');
    await settle();
    r.sends[0]?.resolve();
    r.sends[1]?.reject(new FerryError('SINK_REJECTED', 'no route for two', { permanent: true }));
    await settle();
    expect(a.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(a), 'receipt-id')).toBe('c2');
    expect(headerValue(last(a), 'message')).toContain('no route for two');
    expect(a.ended).toBe(true);
  });
});

describe('StompSession: NACK in client ack mode', () => {
  it('is cumulative like ACK: the named message and every earlier outstanding one go back, in order, marked redelivered', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:0\ndestination:/queue/nc\nack:client\n\n\0');
    await settle();
    const p = await r.connect();
    p.send([1, 2, 3].map((i) => `SEND\ndestination:/queue/nc\n\nm${i}\0`).join(''));
    await settle();
    const first = messages(a);
    expect(first.map(bodyOf)).toEqual(['m1', 'm2', 'm3']);
    a.send(`NACK\nid:${ackId(first[1] as StompFrame)}\nreceipt:n\n\n\0`);
    await settle();
    // m1 and m2 were refused (m3, later, is still outstanding) and come back to the only subscriber
    expect(messages(a).slice(3).map((f) => [bodyOf(f), headerValue(f, 'redelivered')])).toEqual([
      ['m1', 'true'],
      ['m2', 'true'],
    ]);
    expect(r.broker.queueUnacked('/queue/nc')).toBe(3);
    // the refused ids are no longer outstanding: NACK or ACK of them is a no-op
    a.send(`ACK\nid:${ackId(first[0] as StompFrame)}\nreceipt:noop\n\n\0`);
    await settle();
    expect(headerValue(last(a), 'receipt-id')).toBe('noop');
    expect(r.broker.queueUnacked('/queue/nc')).toBe(3);
  });

  it('in client-individual mode NACK refuses just the named message', async () => {
    const r = rig();
    const a = await r.connect();
    a.send('SUBSCRIBE\nid:0\ndestination:/queue/ni\nack:client-individual\n\n\0');
    await settle();
    a.send([1, 2, 3].map((i) => `SEND\ndestination:/queue/ni\n\nm${i}\0`).join(''));
    await settle();
    const first = messages(a);
    a.send(`NACK\nid:${ackId(first[1] as StompFrame)}\n\n\0`);
    await settle();
    expect(messages(a).slice(3).map(bodyOf)).toEqual(['m2']);
    expect(r.broker.queueUnacked('/queue/ni')).toBe(3);
  });
});

describe('StompSession: STOMP 1.0 acknowledgements', () => {
  /** a 1.0 client: CONNECT without accept-version */
  async function connect10(r: Rig): Promise<MemorySocket> {
    const s = new MemorySocket();
    r.server.attach(s.server);
    s.send('CONNECT\nlogin:\npasscode:\n\n\0');
    await settle();
    expect(s.commands()).toEqual(['CONNECTED']);
    return s;
  }

  it('ACK names the MESSAGE by message-id (STOMP 1.0 §ACK); the subscription header is optional', async () => {
    const r = rig();
    const a = await connect10(r);
    // 1.0: SUBSCRIBE without id; the subscription is then known by its destination
    a.send('SUBSCRIBE\ndestination:/queue/v10\nack:client\n\n\0SEND\ndestination:/queue/v10\n\none\0SEND\ndestination:/queue/v10\n\ntwo\0');
    await settle();
    const [m1, m2] = messages(a) as [StompFrame, StompFrame];
    expect(headerValue(m1, 'ack')).toBeUndefined();
    expect(headerValue(m1, 'subscription')).toBe('/queue/v10');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(2);
    a.send(`ACK\nmessage-id:${headerValue(m1, 'message-id') ?? ''}\nreceipt:a1\n\n\0`);
    await settle();
    expect(headerValue(last(a), 'receipt-id')).toBe('a1');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(1);
    a.send(`ACK\nmessage-id:${headerValue(m2, 'message-id') ?? ''}\nsubscription:/queue/v10\nreceipt:a2\n\n\0`);
    await settle();
    expect(headerValue(last(a), 'receipt-id')).toBe('a2');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(0);
    expect(r.broker.queueDepth('/queue/v10')).toBe(0);
  });

  it('a 1.0 ACK with only the 1.2 id header is an ERROR naming message-id', async () => {
    const r = rig();
    const a = await connect10(r);
    a.send('SUBSCRIBE\ndestination:/queue/v10b\nack:client\n\n\0SEND\ndestination:/queue/v10b\n\none\0');
    await settle();
    const m = messages(a)[0] as StompFrame;
    a.send(`ACK\nid:${headerValue(m, 'message-id') ?? ''}\nreceipt:bad\n\n\0`);
    await settle();
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('message-id');
    expect(headerValue(last(a), 'receipt-id')).toBe('bad');
    expect(a.ended).toBe(true);
    await settle();
    // the session ended: the unacknowledged message is back in its queue
    expect(r.broker.queueDepth('/queue/v10b')).toBe(1);
  });
});
