import { FerryError } from '@ferry/core';
import { headerValue, type StompFrame } from '../frame/frame.js';
import type { MemorySocket } from './memory-socket.test-util.js';
import { accepted, ackId, bodyOf, last, messages, rig, type Rig, sent, settle } from './session-rig.test-util.js';


describe('StompSession: transactions', () => {
  it('SENDs take effect on COMMIT, are discarded on ABORT and on disconnect', async () => {
    const r = rig();
    const a = await r.connect();
    await sent(a, 'BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/queue/tx\ntransaction:t1\n\n1\0');
    expect(r.broker.queueDepth('/queue/tx')).toBe(0);
    await sent(a, 'COMMIT\ntransaction:t1\nreceipt:c\n\n\0');
    expect(r.broker.queueDepth('/queue/tx')).toBe(1);
    expect(last(a).command).toBe('RECEIPT');
    a.send('BEGIN\ntransaction:t2\n\n\0SEND\ndestination:/queue/tx\ntransaction:t2\n\n2\0ABORT\ntransaction:t2\n\n\0');
    await sent(a, 'BEGIN\ntransaction:t3\n\n\0SEND\ndestination:/queue/tx\ntransaction:t3\n\n3\0');
    a.hangUp();
    await settle();
    expect(r.broker.queueDepth('/queue/tx')).toBe(1);
  });
});

describe('StompSession: ACK and NACK in transactions', () => {
  async function twoUnacked(r: Rig): Promise<{ a: MemorySocket; m1: StompFrame; m2: StompFrame }> {
    const a = await r.connect();
    await sent(a, 'SUBSCRIBE\nid:s\ndestination:/queue/txa\nack:client-individual\n\n\0');
    await sent(a, 'SEND\ndestination:/queue/txa\n\nm1\0SEND\ndestination:/queue/txa\n\nm2\0');
    const [m1, m2] = messages(a) as [StompFrame, StompFrame];
    return { a, m1, m2 };
  }

  it('ACK and NACK with a transaction take effect only on COMMIT', async () => {
    const r = rig();
    const { a, m1, m2 } = await twoUnacked(r);
    await sent(a, `BEGIN\ntransaction:t\n\n\0ACK\nid:${ackId(m1)}\ntransaction:t\n\n\0NACK\nid:${ackId(m2)}\ntransaction:t\nreceipt:n\n\n\0`);
    // receipted (the frame was taken) but not applied: both still outstanding, nothing redelivered
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/txa')).toBe(2);
    expect(messages(a)).toHaveLength(2);
    await sent(a, 'COMMIT\ntransaction:t\nreceipt:c\n\n\0');
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
    await sent(a, `BEGIN\ntransaction:t\n\n\0ACK\nid:${ackId(m1)}\ntransaction:t\n\n\0NACK\nid:${ackId(m2)}\ntransaction:t\n\n\0ABORT\ntransaction:t\nreceipt:ab\n\n\0`);
    expect(last(a).command).toBe('RECEIPT');
    expect(r.broker.queueUnacked('/queue/txa')).toBe(2);
    expect(messages(a)).toHaveLength(2);
    // the transaction is gone: COMMIT of it is an error, and plain ACKs still work
    await sent(a, `ACK\nid:${ackId(m1)}\n\n\0ACK\nid:${ackId(m2)}\nreceipt:ok\n\n\0`);
    expect(r.broker.queueUnacked('/queue/txa')).toBe(0);
    expect(r.broker.queueDepth('/queue/txa')).toBe(0);
    await sent(a, 'COMMIT\ntransaction:t\n\n\0');
    expect(last(a).command).toBe('ERROR');
    expect(headerValue(last(a), 'message')).toContain('unknown transaction');
  });

  it("a COMMIT's RECEIPT waits until every SEND of the transaction was settled", async () => {
    const r = rig({}, { hold: true });
    const a = await r.connect();
    await sent(a, 'BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/c\ntransaction:t\n\none\0SEND\ndestination:/topic/c\ntransaction:t\n\ntwo\0');
    expect(r.sends).toHaveLength(0);
    await sent(a, 'COMMIT\ntransaction:t\nreceipt:commit-1\n\n\0');
    expect(r.sends.map((s) => [s.send.body.toString(), s.send.confirmed])).toEqual([
      ['one', true],
      ['two', true],
    ]);
    expect(a.commands()).toEqual(['CONNECTED']);
    await accepted(r, 1);
    expect(a.commands()).toEqual(['CONNECTED']);
    await accepted(r, 0);
    expect(a.commands()).toEqual(['CONNECTED', 'RECEIPT']);
    expect(headerValue(last(a), 'receipt-id')).toBe('commit-1');
  });

  it('a COMMIT whose SEND is refused gets ERROR with the receipt-id, not RECEIPT', async () => {
    const r = rig({}, { hold: true });
    const a = await r.connect();
    await sent(a, 'BEGIN\ntransaction:t\n\n\0SEND\ndestination:/queue/c\ntransaction:t\n\none\0SEND\ndestination:/queue/c\ntransaction:t\n\ntwo\0COMMIT\ntransaction:t\nreceipt:c2\n\n\0');
    r.sends[0]?.resolve();
    r.sends[1]?.reject(new FerryError('SINK_REJECTED', 'no route for two', { permanent: true }));
    await settle();
    expect(a.commands()).toEqual(['CONNECTED', 'ERROR']);
    expect(headerValue(last(a), 'receipt-id')).toBe('c2');
    expect(headerValue(last(a), 'message')).toContain('no route for two');
    expect(a.ended).toBe(true);
  });
});
