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
}

/**
 * A confirm channel that records each publish (amqplib's public `publish`) and confirms when told,
 * as amqplib's reader does: basic.ack and basic.nack are its 'ack' and 'nack' events, each with a
 * delivery tag (the publishes counted from 1) and `multiple`. `throwNext` makes the next publish
 * throw before anything is sent, as amqplib does for a publish it cannot encode.
 */
class FakeChannel extends EventEmitter {
  readonly published: Published[] = [];
  throwNext = false;
  publish(exchange: string, routingKey: string, _body: Buffer, options: { headers?: Record<string, unknown> }): boolean {
    if (this.throwNext) {
      this.throwNext = false;
      throw new Error('cannot encode');
    }
    this.published.push({ exchange, routingKey, headers: options.headers });
    return true;
  }
  ack(deliveryTag: number, multiple = false): void {
    this.emit('ack', { deliveryTag, multiple });
  }
  nack(deliveryTag: number, multiple = false): void {
    this.emit('nack', { deliveryTag, multiple });
  }
  returned(headers: Record<string, unknown> | undefined): void {
    this.emit('return', { fields: { exchange: 'amq.topic', routingKey: 'a.b', replyCode: 312, replyText: 'NO_ROUTE' }, properties: { headers } });
  }
}

/** each write's outcome once it has one: 'ok' or the FerryError's code */
function outcomes(writes: Promise<void>[]): { readonly now: (string | undefined)[] } {
  const seen: (string | undefined)[] = writes.map(() => undefined);
  writes.forEach((w, i) => {
    w.then(
      () => (seen[i] = 'ok'),
      (err: unknown) => (seen[i] = (err as { code?: string }).code ?? 'error'),
    );
  });
  return { now: seen };
}

/** the promise hops of a settled write's reactions */
async function settled(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

function publisher(): { ch: FakeChannel; pub: Publisher; checks: string[]; lost: string[] } {
  const ch = new FakeChannel();
  const checks: string[] = [];
  const lost: string[] = [];
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
    onLost: (reason) => lost.push(reason),
  });
  return { ch, pub, checks, lost };
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
    ch.ack(1);
    await first;
    const second = pub.write(message, to({}));
    expect(ch.published).toHaveLength(2);
    ch.ack(2);
    await second;
    expect(checks).toEqual(['amq.topic']);
  });

  it('marks only a mandatory publish with a publish id, and fails it when it comes back', async () => {
    const { ch, pub } = publisher();
    const plain = pub.write(message, to({ mandatory: false }));
    await checked();
    ch.ack(1);
    await plain;
    expect(ch.published[0]?.headers?.[PUBLISH_ID_HEADER]).toBeUndefined();
    const returned = pub.write(message, to({ mandatory: true }));
    const id = ch.published[1]?.headers?.[PUBLISH_ID_HEADER];
    expect(typeof id).toBe('string');
    ch.returned({ [PUBLISH_ID_HEADER]: id });
    ch.ack(2);
    await expect(returned).rejects.toMatchObject({ code: 'SINK_UNROUTABLE' });
  });

  it('gives a mandatory publish its own id in place of a message header of that name, after the other headers otherwise', async () => {
    const { ch, pub } = publisher();
    const own = createMessage({ ...message, headers: new Map<string, string | number>([['a', 1], [PUBLISH_ID_HEADER, 'theirs'], ['z', 'x']]) });
    const first = pub.write(own, to({ mandatory: true }));
    await checked();
    const second = pub.write(createMessage({ ...message, headers: new Map([['a', 1]]) }), to({ mandatory: true }));
    expect(ch.published.map((p) => p.headers)).toEqual([
      { a: 1, [PUBLISH_ID_HEADER]: 'p.1', z: 'x' },
      { a: 1, [PUBLISH_ID_HEADER]: 'p.2' },
    ]);
    expect(Object.keys(ch.published[0]?.headers ?? {})).toEqual(['a', PUBLISH_ID_HEADER, 'z']);
    expect(Object.keys(ch.published[1]?.headers ?? {})).toEqual(['a', PUBLISH_ID_HEADER]);
    ch.returned(ch.published[0]?.headers);
    ch.ack(2, true);
    await expect(first).rejects.toMatchObject({ code: 'SINK_UNROUTABLE' });
    await expect(second).resolves.toBeUndefined();
  });

  it('settles each write by its own delivery tag: acks out of order, one ack for many, a nack', async () => {
    const { ch, pub } = publisher();
    const writes = [pub.write(message, to({}))];
    await checked();
    for (let i = 0; i < 5; i++) writes.push(pub.write(message, to({})));
    const seen = outcomes(writes);
    ch.ack(3);
    ch.nack(5);
    await settled();
    expect(seen.now).toEqual([undefined, undefined, 'ok', undefined, 'SINK_REJECTED', undefined]);
    ch.ack(4, true);
    await settled();
    expect(seen.now).toEqual(['ok', 'ok', 'ok', 'ok', 'SINK_REJECTED', undefined]);
    ch.nack(6, true);
    await settled();
    expect(seen.now).toEqual(['ok', 'ok', 'ok', 'ok', 'SINK_REJECTED', 'SINK_REJECTED']);
    // a confirm of a tag already settled, or never published, settles nothing more
    ch.ack(6, true);
    ch.ack(9);
    const next = pub.write(message, to({}));
    ch.ack(7);
    await expect(next).resolves.toBeUndefined();
  });

  it('fails exactly the returned write, whatever the order of the acks around it', async () => {
    const { ch, pub } = publisher();
    const writes = [pub.write(message, to({ mandatory: true }))];
    await checked();
    writes.push(pub.write(message, to({ mandatory: true })), pub.write(message, to({ mandatory: true })));
    const seen = outcomes(writes);
    // the second publish comes back; the first one's ack is still to come (a durable queue's)
    ch.returned(ch.published[1]?.headers);
    ch.ack(2);
    ch.ack(3);
    await settled();
    expect(seen.now).toEqual([undefined, 'SINK_UNROUTABLE', 'ok']);
    ch.ack(1);
    await settled();
    expect(seen.now).toEqual(['ok', 'SINK_UNROUTABLE', 'ok']);
    // the same id again, after its write is settled, or another channel's id: nothing is failed
    const later = pub.write(message, to({ mandatory: true }));
    ch.returned(ch.published[1]?.headers);
    ch.returned({ [PUBLISH_ID_HEADER]: 'q.4' });
    ch.returned(undefined);
    ch.ack(4);
    await expect(later).resolves.toBeUndefined();
  });

  it('fails every unconfirmed write with SINK_CLOSED when the channel closes, and no later confirm settles them again', async () => {
    const { ch, pub, lost } = publisher();
    const writes = [pub.write(message, to({}))];
    await checked();
    writes.push(pub.write(message, to({})), pub.write(message, to({})));
    const seen = outcomes(writes);
    ch.ack(2);
    ch.emit('close');
    await settled();
    expect(seen.now).toEqual(['SINK_CLOSED', 'ok', 'SINK_CLOSED']);
    expect(lost).toEqual(['publish channel closed by the broker']);
    ch.ack(3, true);
    await settled();
    expect(seen.now).toEqual(['SINK_CLOSED', 'ok', 'SINK_CLOSED']);
    await expect(pub.write(message, to({}))).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
  });

  it('uses no delivery tag for a publish that threw: the next publish is confirmed by the next tag', async () => {
    const { ch, pub } = publisher();
    const first = pub.write(message, to({}));
    await checked();
    ch.ack(1);
    await first;
    ch.throwNext = true;
    await expect(pub.write(message, to({}))).rejects.toMatchObject({ code: 'SINK_REJECTED', permanent: true });
    const next = pub.write(message, to({ mandatory: true }));
    expect(ch.published[1]?.headers?.[PUBLISH_ID_HEADER]).toBe('p.2');
    ch.ack(2);
    await expect(next).resolves.toBeUndefined();
  });

  it('holds more unconfirmed writes than its first window, confirmed in any order', async () => {
    const { ch, pub } = publisher();
    const writes = [pub.write(message, to({ mandatory: true }))];
    await checked();
    const n = 1000;
    for (let i = 1; i < n; i++) writes.push(pub.write(message, to({ mandatory: true })));
    const seen = outcomes(writes);
    ch.returned(ch.published[700]?.headers);
    // every odd tag first, one by one, then the even ones in one multiple ack
    for (let t = 1; t <= n; t += 2) ch.ack(t);
    ch.ack(n, true);
    await settled();
    expect(seen.now.filter((o) => o === 'ok')).toHaveLength(n - 1);
    expect(seen.now[700]).toBe('SINK_UNROUTABLE');
    // the window still follows the tags after it grew
    const next = pub.write(message, to({}));
    ch.ack(n + 1);
    await expect(next).resolves.toBeUndefined();
  });

  it('settles the rest of a multiple ack when one write’s done throws', () => {
    const { ch, pub } = publisher();
    pub.send(message, to({ exchange: '' }), () => {
      throw new Error('boom');
    });
    const seen: (string | undefined)[] = [];
    pub.send(message, to({ exchange: '' }), (e) => seen.push(e?.code ?? 'ok'));
    expect(() => ch.ack(2, true)).toThrow('boom');
    expect(seen).toEqual(['ok']);
  });
});
