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
