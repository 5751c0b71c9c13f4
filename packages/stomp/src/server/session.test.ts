import { FerryError, type ListenerStore } from '@ferry/core';
import { MemoryListenerStore } from '@ferry/testkit';
import { headerValue, type StompFrame } from '../frame/frame.js';
import { negotiateHeartBeat } from './heartbeat.js';
import { FERRY_STOMP_VERSION } from './version.js';
import { readFileSync } from 'node:fs';
import { accepted, bodyOf, last, rig, sent, settle } from './session-rig.test-util.js';


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
    const s = r.attach();
    await sent(s, 'CONNECT\n\n\0');
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
    const s = r.attach();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:1\n\nx\0');
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

describe('StompSession: the STOMP command (STOMP 1.2 §Connecting)', () => {
  it('STOMP instead of CONNECT is answered with CONNECTED, and the session works', async () => {
    const r = rig();
    const s = r.attach();
    await sent(s, 'STOMP\naccept-version:1.1,1.2\nhost:x\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/st\n\n\0SEND\ndestination:/topic/st\nreceipt:r\n\nvia STOMP\0');
    expect(s.commands()).toEqual(['CONNECTED', 'MESSAGE', 'RECEIPT']);
    const c = s.frames[0] as StompFrame;
    expect(headerValue(c, 'version')).toBe('1.2');
    expect(headerValue(c, 'session')).toMatch(/^ferry-/);
    expect(bodyOf(s.frames[1] as StompFrame)).toBe('via STOMP');
    expect(s.ended).toBe(false);
  });

  it('STOMP for a 1.1 client negotiates 1.1', async () => {
    const s = rig().attach();
    await sent(s, 'STOMP\naccept-version:1.1\nhost:x\n\n\0');
    expect(s.commands()).toEqual(['CONNECTED']);
    expect(headerValue(s.frames[0] as StompFrame, 'version')).toBe('1.1');
  });

  it('STOMP without accept-version (a 1.0 client: 1.0 has no STOMP frame) gets ERROR and close', async () => {
    const s = rig().attach();
    await sent(s, 'STOMP\nhost:x\n\n\0');
    expect(s.commands()).toEqual(['ERROR']);
    expect(headerValue(s.frames[0] as StompFrame, 'message')).toContain('STOMP 1.1');
    expect(s.ended).toBe(true);
  });

  it('a second STOMP or CONNECT on a connected session is an ERROR', async () => {
    const r = rig();
    const s = await r.connect();
    await sent(s, 'STOMP\naccept-version:1.2\nhost:x\nreceipt:again\n\n\0');
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'message')).toBe('already connected');
    expect(s.ended).toBe(true);
  });
});

describe('StompSession: SEND and RECEIPT', () => {
  it('holds the RECEIPT until the settlement is accepted', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:r1\n\nhello\0');
    expect(r.sends).toHaveLength(1);
    expect(r.sends[0]?.send.confirmed).toBe(true);
    expect(s.commands()).toEqual(['CONNECTED']);
    await accepted(r, 0);
    expect(s.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    expect(headerValue(last(s), 'receipt-id')).toBe('r1');
  });

  it('a refused settlement becomes ERROR with receipt-id and the reason, then close', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:r2\n\nhello\0');
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
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:s1\n\nx\0DISCONNECT\nreceipt:d1\n\n\0');
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
    await sent(s, 'SEND\ndestination:/queue/full\n\n1\0SEND\ndestination:/queue/full\n\n2\0SEND\ndestination:/queue/full\nreceipt:3\n\n3\0');
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('3');
    expect(headerValue(last(s), 'message')).toMatch(/full/);
    expect(r.broker.queueDepth('/queue/full')).toBe(2);
  });

  it('settled by the owner before onSend returns: RECEIPT, and nothing is left pending', async () => {
    const r = rig({
      onSend: (_send, settlement) => {
        settlement.accept();
        return true;
      },
    });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:a1\n\nx\0');
    expect(s.frames.map((f) => [f.command, headerValue(f, 'receipt-id')])).toEqual([
      ['CONNECTED', undefined],
      ['RECEIPT', 'a1'],
    ]);
    // DISCONNECT waits for pending SENDs: none is
    await sent(s, 'DISCONNECT\nreceipt:d1\n\n\0');
    await settle(10);
    expect(headerValue(last(s), 'receipt-id')).toBe('d1');
    expect(s.ended).toBe(true);
  });

  it('refused by the owner before onSend returns: ERROR with receipt-id, then close', async () => {
    const r = rig({
      onSend: (_send, settlement) => {
        settlement.reject(new FerryError('SINK_REJECTED', 'no route here', { permanent: true }));
        return true;
      },
    });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:n1\n\nx\0SEND\ndestination:/queue/a\nreceipt:n2\n\ny\0');
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('n1');
    expect(headerValue(last(s), 'message')).toContain('no route here');
    expect(s.ended).toBe(true);
  });

  it('the first answer of the owner counts: a refusal after the acceptance changes nothing', async () => {
    const r = rig({}, { hold: true });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:t1\n\nx\0');
    r.sends[0]?.resolve();
    r.sends[0]?.reject(new FerryError('SINK_REJECTED', 'too late', { permanent: true }));
    r.sends[0]?.resolve();
    await settle();
    expect(s.frames.map((f) => [f.command, headerValue(f, 'receipt-id')])).toEqual([
      ['CONNECTED', undefined],
      ['RECEIPT', 't1'],
    ]);
    expect(s.ended).toBe(false);
  });

  it('a /queue SEND in the listener store: RECEIPT once the owner accepted and the store wrote it', async () => {
    const store = new MemoryListenerStore();
    const release = store.hold();
    const r = rig({}, { hold: true, store });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/kept\nreceipt:k1\n\nx\0');
    r.sends[0]?.resolve();
    await settle();
    expect(s.commands()).toEqual(['CONNECTED']);
    release();
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    expect(store.records.size).toBe(1);
    // the store first, then the owner
    const release2 = store.hold();
    await sent(s, 'SEND\ndestination:/queue/kept\nreceipt:k2\n\ny\0');
    release2();
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    r.sends[1]?.resolve();
    await settle();
    expect(s.frames.map((f) => headerValue(f, 'receipt-id'))).toEqual([undefined, 'k1', 'k2']);
  });

  it('a /queue SEND the listener store could not write: ERROR with receipt-id, whatever the owner says after', async () => {
    const failing: ListenerStore = {
      location: 'test',
      scan: () => Promise.resolve([]),
      put: () => undefined,
      del: () => undefined,
      written: () => Promise.reject(new FerryError('SPOOL_IO', 'disk full')),
    };
    const r = rig({}, { hold: true, store: failing });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/kept\nreceipt:f1\n\nx\0');
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('f1');
    expect(headerValue(last(s), 'message')).toContain('disk full');
    r.sends[0]?.resolve();
    await settle();
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
  });

  it('an owner that throws refuses the SEND: ERROR with receipt-id', async () => {
    const r = rig({
      onSend: () => {
        throw new Error('owner broke');
      },
    });
    const s = await r.connect();
    await sent(s, 'SEND\ndestination:/queue/a\nreceipt:e1\n\nx\0');
    expect(s.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(s), 'receipt-id')).toBe('e1');
    expect(headerValue(last(s), 'message')).toContain('owner broke');
  });

  it('shutting down: new SENDs get ERROR "shutting down"', async () => {
    const s = await rig({ acceptingSends: () => false }).connect();
    await sent(s, 'SEND\ndestination:/topic/a\nreceipt:x\n\nhi\0');
    expect(headerValue(last(s), 'message')).toBe('shutting down');
  });
});
