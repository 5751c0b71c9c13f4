import { FerryError, silentLogger, noopMetrics } from '@ferry/core';
import { MemoryListenerStore } from '@ferry/testkit';
import { Outbox } from './outbox.js';
import { Amqp10QueueStore } from './queue-store.js';

const outbox = (store: MemoryListenerStore): Outbox =>
  new Outbox({
    connector: 'apps',
    queueBufferMessages: 100,
    queueBufferBytes: 1 << 20,
    maxBufferedBytes: 1 << 20,
    maxUnsettledBytesPerReceiver: 1 << 20,
    metrics: noopMetrics,
    logger: silentLogger,
    isTopic: (a) => a.startsWith('topic.'),
    store: new Amqp10QueueStore(store),
  });

const out = (text: string) => ({ bytes: Buffer.from(text), format: 0, passThrough: true });

describe('amqp10-listener queues in the listener store', () => {
  it('a write the queue takes is confirmed once stored; after a stop the messages are back in a new outbox', async () => {
    const store = new MemoryListenerStore();
    const release = store.hold();
    const o = outbox(store);
    let confirmed = false;
    const w = o.write('jobs', out('one'), 'id-1').then(() => (confirmed = true));
    await o.write('topic.x', out('dropped'), undefined);
    await new Promise((res) => setImmediate(res));
    expect(confirmed).toBe(false);
    release();
    await w;
    await o.write('jobs', out('two'), undefined);
    o.close(new FerryError('SHUTTING_DOWN', 'stop'));
    await store.written();
    expect(store.records.size).toBe(2);

    const again = outbox(store);
    expect(await again.restore()).toEqual({ messages: 2, corrupt: [] });
    expect(again.queued('jobs')).toBe(2);
    // the write order goes on after the restored ones
    await again.write('jobs', out('three'), undefined);
    expect([...store.records.keys()].sort()).toEqual([0, 1, 2].map((n) => `q\x00jobs\x00${String(n).padStart(12, '0')}`));
  });
});
