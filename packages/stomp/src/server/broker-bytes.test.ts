import { thrown } from '@ferry/testkit';
import { messageBytes, type BrokerMessage } from './broker-message.js';
import { StompBroker, type SubscriberSession, type Subscription } from './broker.js';

/** A subscriber session whose socket can be made to block, recording what it was sent. */
class FakeSession implements SubscriberSession {
  readonly id: string;
  writable = true;
  readonly got: { sub: Subscription; messageId: string }[] = [];
  constructor(id: string) {
    this.id = id;
  }
  sendMessage(sub: Subscription, _msg: BrokerMessage, messageId: string): void {
    this.got.push({ sub, messageId });
  }
}

const msg = (destination: string, size: number): BrokerMessage => ({ destination, headers: [['k', 'v']], body: Buffer.alloc(size), redelivered: false });

describe('StompBroker byte accounting', () => {
  it('held bytes go back to 0 through every path a message takes: queue, topic backlog, unacked, cumulative ack, nack, unsubscribe', () => {
    const b = new StompBroker({ queueBufferMessages: 100, queueBufferBytes: 10_000, maxBufferedBytes: 50_000, maxUnackedBytesPerSubscription: 2_500 });
    const m = msg('/queue/a', 1000);
    const size = messageBytes(m);
    for (let i = 0; i < 5; i++) b.publish(msg('/queue/a', 1000));
    expect(b.heldBytes).toBe(5 * size);
    const s1 = new FakeSession('s1');
    const sub = b.subscribe(s1, '1', '/queue/a', 'client');
    b.resume([sub]);
    // unacked bytes stop it at 3 deliveries (2,500-byte bound: 2 × ~1,011 < 2,500, the third goes over)
    expect(s1.got).toHaveLength(3);
    expect(b.heldBytes).toBe(5 * size);
    b.ack(sub, (s1.got[1] as { messageId: string }).messageId, true); // cumulative: two
    expect(s1.got).toHaveLength(5);
    b.nack(sub, (s1.got[2] as { messageId: string }).messageId, false);
    b.unsubscribe(sub);
    expect(b.queueDepth('/queue/a')).toBe(3);
    expect(b.heldBytes).toBe(3 * size);
    // a slow topic subscriber's backlog
    const s2 = new FakeSession('s2');
    const t = b.subscribe(s2, 't', '/topic/x', 'auto');
    s2.writable = false;
    for (let i = 0; i < 4; i++) b.publish(msg('/topic/x', 1000));
    expect(b.heldBytes).toBe(3 * size + 4 * messageBytes(msg('/topic/x', 1000)));
    s2.writable = true;
    b.resume([t]);
    expect(s2.got).toHaveLength(4);
    // drain the queue with an auto subscriber
    const s3 = new FakeSession('s3');
    b.resume([b.subscribe(s3, 'q', '/queue/a', 'auto')]);
    expect(s3.got).toHaveLength(3);
    expect(b.heldBytes).toBe(0);
  });

  it('refuses a publish over queueBufferBytes and over maxBufferedBytes with LIMIT_EXCEEDED naming the limit; nothing is held for it', () => {
    const b = new StompBroker({ queueBufferMessages: 100, queueBufferBytes: 3_000, maxBufferedBytes: 5_000 });
    b.publish(msg('/queue/a', 1000));
    b.publish(msg('/queue/a', 1000));
    expect(thrown(() => b.publish(msg('/queue/a', 1000)))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'queueBufferBytes' } });
    b.publish(msg('/queue/b', 1000));
    b.publish(msg('/queue/b', 1000));
    expect(thrown(() => b.publish(msg('/queue/c', 1000)))).toMatchObject({ code: 'LIMIT_EXCEEDED', details: { limit: 'maxBufferedBytes' } });
    expect(b.heldBytes).toBe(4 * messageBytes(msg('/queue/a', 1000)));
  });
});
