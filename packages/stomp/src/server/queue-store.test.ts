import { MemoryListenerStore } from '@ferry/testkit';
import { StompBroker, type SubscriberSession, type Subscription } from './broker.js';
import type { BrokerMessage } from './broker-message.js';
import { StompQueueStore } from './queue-store.js';

const msg = (destination: string, body: string): BrokerMessage => ({ destination, headers: [['k', 'v']], body: Buffer.from(body), redelivered: false });

function session(got: string[]): SubscriberSession {
  return { id: 's', writable: true, sendMessage: (_sub: Subscription, m: BrokerMessage, id: string) => got.push(`${m.body.toString()}@${id}`) };
}

const broker = (store: MemoryListenerStore): StompBroker => new StompBroker({ queueBufferMessages: 100, store: new StompQueueStore(store) });

describe('stomp-listener /queue messages in the listener store', () => {
  it('a queued message is stored before publish confirms it, and back in a new broker on the same store', async () => {
    const store = new MemoryListenerStore();
    const release = store.hold();
    const b = broker(store);
    const r = b.publish(msg('/queue/jobs', 'one'));
    b.publish(msg('/queue/jobs', 'two'));
    b.publish(msg('/topic/news', 'not kept'));
    let confirmed = false;
    const done = r.stored?.then(() => (confirmed = true));
    await new Promise((res) => setImmediate(res));
    expect(confirmed).toBe(false);
    release();
    await done;
    expect([...store.records.keys()]).toHaveLength(2);

    const again = broker(store);
    expect(await again.restore()).toEqual({ messages: 2, corrupt: [] });
    const got: string[] = [];
    const sub = again.subscribe(session(got), '1', '/queue/jobs', 'client-individual');
    again.resume([sub]);
    expect(got.map((g) => g.split('@')[0])).toEqual(['one', 'two']);
    // an acknowledged message leaves the store; a nacked one stays, marked redelivered
    again.ack(sub, (got[0] as string).split('@')[1] as string, false);
    again.unsubscribe(sub);
    await again.written();
    const third = broker(store);
    await third.restore();
    const after: string[] = [];
    const sub2 = third.subscribe(session(after), '1', '/queue/jobs', 'auto');
    third.resume([sub2]);
    expect(after.map((g) => g.split('@')[0])).toEqual(['two']);
    // auto ack: sent is done
    await third.written();
    expect(store.records.size).toBe(0);
  });

  it('an unreadable record is reported by key and skipped', async () => {
    const store = new MemoryListenerStore();
    const b = broker(store);
    await b.publish(msg('/queue/a', 'ok')).stored;
    store.records.set('q\x00/queue/a\x0000000000ffff', Buffer.from('garbage'));
    const again = broker(store);
    const r = await again.restore();
    expect(r.messages).toBe(1);
    expect(r.corrupt).toHaveLength(1);
    expect(r.corrupt[0]?.code).toBe('STORE_CORRUPT');
    expect(r.corrupt[0]?.message).toContain('/queue/a');
  });
});
