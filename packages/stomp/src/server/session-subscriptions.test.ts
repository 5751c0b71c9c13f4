import { headerValue, type StompFrame } from '../frame/frame.js';
import { MemorySocket } from './memory-socket.test-util.js';
import { ackId, bodyOf, last, messages, rig, type Rig, sends, sent, settle, subscribedThenSent } from './session-rig.test-util.js';


describe('StompSession: subscriptions', () => {
  it('topics copy to every subscriber; queues give each message to one, round robin', async () => {
    const r = rig();
    const a = await r.connect();
    const b = await r.connect();
    for (const c of [a, b]) c.send('SUBSCRIBE\nid:t\ndestination:/topic/x\n\n\0SUBSCRIBE\nid:q\ndestination:/queue/x\n\n\0');
    await settle();
    const p = await r.connect();
    await sent(p, 'SEND\ndestination:/topic/x\n\nT\0' + [1, 2, 3, 4].map((i) => `SEND\ndestination:/queue/x\n\nQ${i}\0`).join(''));
    const bodies = (c: MemorySocket): string[] => c.frames.filter((f) => f.command === 'MESSAGE').map((f) => f.body.toString());
    expect(bodies(a)).toEqual(['T', 'Q1', 'Q3']);
    expect(bodies(b)).toEqual(['T', 'Q2', 'Q4']);
  });

  it('a queue holds messages while nobody subscribes, then delivers them in order', async () => {
    const r = rig();
    const p = await r.connect();
    await sent(p, 'SEND\ndestination:/queue/h\n\n1\0SEND\ndestination:/queue/h\n\n2\0');
    expect(r.broker.queueDepth('/queue/h')).toBe(2);
    const c = await r.connect();
    await sent(c, 'SUBSCRIBE\nid:0\ndestination:/queue/h\nreceipt:sub\n\n\0');
    expect(c.frames.map((f) => f.command + ':' + f.body.toString())).toEqual(['CONNECTED:', 'RECEIPT:', 'MESSAGE:1', 'MESSAGE:2']);
  });

  it('client mode acks cumulatively; unacked messages are redelivered to another subscriber when a session dies', async () => {
    const r = rig();
    const { a } = await subscribedThenSent(r, 'SUBSCRIBE\nid:0\ndestination:/queue/c\nack:client\n\n\0', '/queue/c', 4);
    const msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs).toHaveLength(4);
    // ACK the second: the first two are done (STOMP 1.2 §SUBSCRIBE ack Header, client mode)
    await sent(a, `ACK\nid:${headerValue(msgs[1] as StompFrame, 'ack') ?? ''}\n\n\0`);
    expect(r.broker.queueUnacked('/queue/c')).toBe(2);
    a.hangUp();
    await settle();
    expect(r.broker.queueDepth('/queue/c')).toBe(2);
    const b = await r.connect();
    await sent(b, 'SUBSCRIBE\nid:0\ndestination:/queue/c\n\n\0');
    const again = b.frames.filter((f) => f.command === 'MESSAGE');
    expect(again.map((f) => [f.body.toString(), headerValue(f, 'redelivered')])).toEqual([
      ['m3', 'true'],
      ['m4', 'true'],
    ]);
  });

  it('maxUnackedPerSubscription pauses a client-mode subscription until it acks', async () => {
    const r = rig({}, { maxUnacked: 2 });
    const a = await r.connect();
    await sent(a, 'SUBSCRIBE\nid:0\ndestination:/queue/f\nack:client-individual\n\n\0');
    await sent(a, sends('/queue/f', 3));
    let msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs).toHaveLength(2);
    expect(r.broker.queueDepth('/queue/f')).toBe(1);
    await sent(a, `ACK\nid:${headerValue(msgs[0] as StompFrame, 'ack') ?? ''}\n\n\0`);
    msgs = a.frames.filter((f) => f.command === 'MESSAGE');
    expect(msgs.map((f) => f.body.toString())).toEqual(['m1', 'm2', 'm3']);
  });

  it('1.1 ACK needs message-id and subscription; a missing one is an ERROR', async () => {
    const r = rig();
    const a = await r.connect('1.1');
    await sent(a, 'SUBSCRIBE\nid:s\ndestination:/queue/v\nack:client\n\n\0SEND\ndestination:/queue/v\n\nx\0');
    const m = a.frames.find((f) => f.command === 'MESSAGE') as StompFrame;
    expect(headerValue(m, 'ack')).toBeUndefined();
    await sent(a, `ACK\nmessage-id:${headerValue(m, 'message-id') ?? ''}\nsubscription:s\nreceipt:a\n\n\0`);
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/v')).toBe(0);
    await sent(a, 'ACK\nmessage-id:zzz\nreceipt:b\n\n\0');
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('subscription');
  });

  it('application headers cannot override protocol headers of a MESSAGE', async () => {
    const r = rig();
    const a = await r.connect();
    await sent(a, 'SUBSCRIBE\nid:real\ndestination:/topic/o\n\n\0');
    await sent(a, 'SEND\ndestination:/topic/o\nsubscription:fake\nmessage-id:fake\nack:fake\nx:1\n\nb\0');
    const m = last(a);
    expect(m.command).toBe('MESSAGE');
    expect(m.headers.filter(([n]) => n === 'subscription')).toEqual([['subscription', 'real']]);
    expect(m.headers.filter(([n]) => n === 'message-id' || n === 'ack').map(([, v]) => v)).not.toContain('fake');
    expect(headerValue(m, 'x')).toBe('1');
  });
});

describe('StompSession: UNSUBSCRIBE', () => {
  it('a topic subscription gets no more MESSAGEs once UNSUBSCRIBE is receipted; other subscriptions still do', async () => {
    const r = rig();
    const a = await r.connect();
    await sent(a, 'SUBSCRIBE\nid:t1\ndestination:/topic/u\n\n\0SUBSCRIBE\nid:t2\ndestination:/topic/u\n\n\0');
    const p = await r.connect();
    await sent(p, 'SEND\ndestination:/topic/u\n\nbefore\0');
    expect(messages(a).map((f) => [headerValue(f, 'subscription'), bodyOf(f)])).toEqual([
      ['t1', 'before'],
      ['t2', 'before'],
    ]);
    await sent(a, 'UNSUBSCRIBE\nid:t1\nreceipt:u1\n\n\0');
    expect(last(a).command).toBe('RECEIPT');
    expect(headerValue(last(a), 'receipt-id')).toBe('u1');
    await sent(p, 'SEND\ndestination:/topic/u\n\nafter\0');
    expect(messages(a).map((f) => [headerValue(f, 'subscription'), bodyOf(f)])).toEqual([
      ['t1', 'before'],
      ['t2', 'before'],
      ['t2', 'after'],
    ]);
    expect(r.server.sessions.size).toBe(2);
  });

  it('a queue subscription: no more MESSAGEs after UNSUBSCRIBE; its unacked messages go back to the front of the queue, redelivered, in order', async () => {
    const r = rig();
    const { a, p } = await subscribedThenSent(r, 'SUBSCRIBE\nid:q\ndestination:/queue/u\nack:client-individual\n\n\0', '/queue/u', 3);
    const got = messages(a);
    expect(got.map(bodyOf)).toEqual(['m1', 'm2', 'm3']);
    // m2 is acknowledged; m1 and m3 are still outstanding when the client unsubscribes
    await sent(a, `ACK\nid:${ackId(got[1] as StompFrame)}\n\n\0UNSUBSCRIBE\nid:q\nreceipt:u\n\n\0`);
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/u')).toBe(0);
    expect(r.broker.queueDepth('/queue/u')).toBe(2);
    await sent(p, 'SEND\ndestination:/queue/u\n\nm4\0');
    expect(messages(a)).toHaveLength(3);
    expect(r.broker.queueDepth('/queue/u')).toBe(3);
    // an ACK for a delivery of the ended subscription is a no-op: the message stays in the queue
    await sent(a, `ACK\nid:${ackId(got[0] as StompFrame)}\nreceipt:late\n\n\0`);
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueDepth('/queue/u')).toBe(3);
    const b = await r.connect();
    await sent(b, 'SUBSCRIBE\nid:q\ndestination:/queue/u\n\n\0');
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
    await sent(a, 'SUBSCRIBE\nid:x\ndestination:/topic/r\n\n\0UNSUBSCRIBE\nid:x\n\n\0SUBSCRIBE\nid:x\ndestination:/topic/r2\nreceipt:s\n\n\0');
    expect(a.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    await sent(a, 'UNSUBSCRIBE\nid:nope\nreceipt:n\n\n\0');
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'receipt-id')).toBe('n');
    expect(a.ended).toBe(true);
  });
});

describe('StompSession: NACK in client ack mode', () => {
  it('is cumulative like ACK: the named message and every earlier outstanding one go back, in order, marked redelivered', async () => {
    const r = rig();
    const { a } = await subscribedThenSent(r, 'SUBSCRIBE\nid:0\ndestination:/queue/nc\nack:client\n\n\0', '/queue/nc', 3);
    const first = messages(a);
    expect(first.map(bodyOf)).toEqual(['m1', 'm2', 'm3']);
    await sent(a, `NACK\nid:${ackId(first[1] as StompFrame)}\nreceipt:n\n\n\0`);
    // m1 and m2 were refused (m3, later, is still outstanding) and come back to the only subscriber
    expect(messages(a).slice(3).map((f) => [bodyOf(f), headerValue(f, 'redelivered')])).toEqual([
      ['m1', 'true'],
      ['m2', 'true'],
    ]);
    expect(r.broker.queueUnacked('/queue/nc')).toBe(3);
    // the refused ids are no longer outstanding: NACK or ACK of them is a no-op
    await sent(a, `ACK\nid:${ackId(first[0] as StompFrame)}\nreceipt:noop\n\n\0`);
    expect(headerValue(last(a), 'receipt-id')).toBe('noop');
    expect(r.broker.queueUnacked('/queue/nc')).toBe(3);
  });

  it('in client-individual mode NACK refuses just the named message', async () => {
    const r = rig();
    const a = await r.connect();
    await sent(a, 'SUBSCRIBE\nid:0\ndestination:/queue/ni\nack:client-individual\n\n\0');
    await sent(a, sends('/queue/ni', 3));
    const first = messages(a);
    await sent(a, `NACK\nid:${ackId(first[1] as StompFrame)}\n\n\0`);
    expect(messages(a).slice(3).map(bodyOf)).toEqual(['m2']);
    expect(r.broker.queueUnacked('/queue/ni')).toBe(3);
  });
});

describe('StompSession: STOMP 1.0 acknowledgements', () => {
  /** a 1.0 client: CONNECT without accept-version */
  async function connect10(r: Rig): Promise<MemorySocket> {
    const s = r.attach();
    await sent(s, 'CONNECT\nlogin:\npasscode:\n\n\0');
    expect(s.commands()).toEqual(['CONNECTED']);
    return s;
  }

  it('ACK names the MESSAGE by message-id (STOMP 1.0 §ACK); the subscription header is optional', async () => {
    const r = rig();
    const a = await connect10(r);
    // 1.0: SUBSCRIBE without id; the subscription is then known by its destination
    await sent(a, 'SUBSCRIBE\ndestination:/queue/v10\nack:client\n\n\0SEND\ndestination:/queue/v10\n\none\0SEND\ndestination:/queue/v10\n\ntwo\0');
    const [m1, m2] = messages(a) as [StompFrame, StompFrame];
    expect(headerValue(m1, 'ack')).toBeUndefined();
    expect(headerValue(m1, 'subscription')).toBe('/queue/v10');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(2);
    await sent(a, `ACK\nmessage-id:${headerValue(m1, 'message-id') ?? ''}\nreceipt:a1\n\n\0`);
    expect(headerValue(last(a), 'receipt-id')).toBe('a1');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(1);
    await sent(a, `ACK\nmessage-id:${headerValue(m2, 'message-id') ?? ''}\nsubscription:/queue/v10\nreceipt:a2\n\n\0`);
    expect(headerValue(last(a), 'receipt-id')).toBe('a2');
    expect(r.broker.queueUnacked('/queue/v10')).toBe(0);
    expect(r.broker.queueDepth('/queue/v10')).toBe(0);
  });

  it('a 1.0 ACK with only the 1.2 id header is an ERROR naming message-id', async () => {
    const r = rig();
    const a = await connect10(r);
    await sent(a, 'SUBSCRIBE\ndestination:/queue/v10b\nack:client\n\n\0SEND\ndestination:/queue/v10b\n\none\0');
    const m = messages(a)[0] as StompFrame;
    await sent(a, `ACK\nid:${headerValue(m, 'message-id') ?? ''}\nreceipt:bad\n\n\0`);
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('message-id');
    expect(headerValue(last(a), 'receipt-id')).toBe('bad');
    expect(a.ended).toBe(true);
    await settle();
    // the session ended: the unacknowledged message is back in its queue
    expect(r.broker.queueDepth('/queue/v10b')).toBe(1);
  });
});
