import { EventEmitter } from 'node:events';
import { ConnectorCounters, createMessage, noopMetrics, silentLogger } from '@ferry/core';
import type { ConfirmChannel } from 'amqplib';
import { PUBLISH_ID_HEADER } from './mapping.js';
import { amqp091To } from './options.js';
import { Publisher } from './publisher.js';

interface Published {
  exchange: string;
  routingKey: string;
  headers: Record<string, unknown> | undefined;
  cb: (err: unknown) => void;
}

/** A confirm channel that records each publish and confirms when told (amqplib's public `publish`). */
class FakeChannel extends EventEmitter {
  readonly published: Published[] = [];
  publish(exchange: string, routingKey: string, _body: Buffer, options: { headers?: Record<string, unknown> }, cb: (err: unknown) => void): boolean {
    this.published.push({ exchange, routingKey, headers: options.headers, cb });
    return true;
  }
}

function publisher(): { ch: FakeChannel; pub: Publisher; checks: string[] } {
  const ch = new FakeChannel();
  const checks: string[] = [];
  const pub = new Publisher(ch as unknown as ConfirmChannel, {
    connector: 'rabbit',
    idPrefix: 'p',
    username: 'guest',
    replyToTopicHeader: false,
    logger: silentLogger,
    counters: new ConnectorCounters(noopMetrics, 'rabbit'),
    checkExchange: (name) => {
      checks.push(name);
      return Promise.resolve();
    },
    onLost: () => undefined,
  });
  return { ch, pub, checks };
}

/** the two promise hops of the first write's exchange check */
async function checked(): Promise<void> {
  await Promise.resolve();
  await Promise.resolve();
}

const message = createMessage({ body: Buffer.from('x'), source: { connector: 'devices', protocol: 'mqtt', address: 'a/b' } });
const to = (o: Record<string, unknown>) => amqp091To.parse({ exchange: 'amq.topic', routingKey: 'a.b', ...o });

describe('Publisher', () => {
  it('checks an exchange once, then publishes within write() itself, with no wait in between', async () => {
    const { ch, pub, checks } = publisher();
    const first = pub.write(message, to({}));
    // the first write waits for the exchange check
    expect(ch.published).toHaveLength(0);
    await checked();
    expect(ch.published).toHaveLength(1);
    ch.published[0]?.cb(null);
    await first;
    const second = pub.write(message, to({}));
    expect(ch.published).toHaveLength(2);
    ch.published[1]?.cb(null);
    await second;
    expect(checks).toEqual(['amq.topic']);
  });

  it('marks only a mandatory publish with a publish id, and fails it when it comes back', async () => {
    const { ch, pub } = publisher();
    const plain = pub.write(message, to({ mandatory: false }));
    await checked();
    ch.published[0]?.cb(null);
    await plain;
    expect(ch.published[0]?.headers?.[PUBLISH_ID_HEADER]).toBeUndefined();
    const returned = pub.write(message, to({ mandatory: true }));
    const p = ch.published[1];
    const id = p?.headers?.[PUBLISH_ID_HEADER];
    expect(typeof id).toBe('string');
    ch.emit('return', { fields: { exchange: 'amq.topic', routingKey: 'a.b', replyCode: 312, replyText: 'NO_ROUTE' }, properties: { headers: { [PUBLISH_ID_HEADER]: id } } });
    p?.cb(null);
    await expect(returned).rejects.toMatchObject({ code: 'SINK_UNROUTABLE' });
  });
});
