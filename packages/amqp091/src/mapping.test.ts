import { createMessage, NO_HEADERS, TypedNumber, type GatewayMessage } from '@ferry/core';
import type { ConsumeMessage } from 'amqplib';
import { fromDelivery, toPublish, type Amqp091Meta } from './mapping.js';
import { amqp091From, amqp091Options, amqp091To } from './options.js';
import { amqp091Definition } from './definitions.js';

function delivery(properties: Partial<ConsumeMessage['properties']>, routingKey = 'a.b'): ConsumeMessage {
  return {
    content: Buffer.from([0, 1, 2, 255]),
    fields: { deliveryTag: 7, redelivered: true, exchange: 'x', routingKey, consumerTag: 'c1' },
    properties: {
      contentType: undefined,
      contentEncoding: undefined,
      headers: undefined,
      deliveryMode: undefined,
      priority: undefined,
      correlationId: undefined,
      replyTo: undefined,
      expiration: undefined,
      messageId: undefined,
      timestamp: undefined,
      type: undefined,
      userId: undefined,
      appId: undefined,
      clusterId: undefined,
      ...properties,
    },
  };
}

describe('basic properties → canonical message', () => {
  it('maps every property', () => {
    const m = fromDelivery(
      delivery({
        contentType: 'application/octet-stream',
        contentEncoding: 'gzip',
        headers: { h: 1, t: { '!': 'timestamp', value: 1_700_000_000 } },
        deliveryMode: 2,
        priority: 5,
        correlationId: 'corr',
        replyTo: 'rq',
        expiration: '60000',
        messageId: 'mid',
        timestamp: 1_700_000_000,
        type: 'order.created',
        userId: 'guest',
        appId: 'shop',
      }),
      { connector: 'rabbit', queue: 'q', now: 1_000 },
    );
    expect(m.body).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(m).toMatchObject({ contentType: 'application/octet-stream', contentEncoding: 'gzip', correlationId: 'corr', replyTo: 'rq', messageId: 'mid', timestamp: 1_700_000_000_000, expiresAt: 61_000, priority: 5, userId: 'guest', guarantee: 'at-least-once' });
    expect(m.source).toEqual({ connector: 'rabbit', protocol: 'amqp091', address: 'a.b' });
    expect(m.headers.get('h')).toBe(1);
    expect(m.headers.get('t')).toEqual(new Date(1_700_000_000_000));
    expect(m.meta.amqp091).toMatchObject({
      exchange: 'x',
      routingKey: 'a.b',
      redelivered: true,
      deliveryTag: 7,
      queue: 'q',
      deliveryMode: 2,
      type: 'order.created',
      appId: 'shop',
      expiration: '60000',
    });
  });

  it('reads the clock for an expiration when the context gives no time, and keeps header order', () => {
    const before = Date.now();
    const m = fromDelivery(delivery({ expiration: '60000', headers: { z: 1, a: 'x', 'x-ferry-publish-id': 'p.1', m: true } }), { connector: 'rabbit', queue: 'q' });
    const after = Date.now();
    expect(m.expiresAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(m.expiresAt).toBeLessThanOrEqual(after + 60_000);
    expect([...m.headers]).toEqual([
      ['z', 1],
      ['a', 'x'],
      ['m', true],
    ]);
    expect(fromDelivery(delivery({}), { connector: 'rabbit', queue: 'q' }).expiresAt).toBeUndefined();
  });

  it('a delivery without headers (or only those taken out) has the one shared empty map', () => {
    expect(fromDelivery(delivery({}), { connector: 'rabbit', queue: 'q' }).headers).toBe(NO_HEADERS);
    expect(fromDelivery(delivery({ headers: {} }), { connector: 'rabbit', queue: 'q' }).headers).toBe(NO_HEADERS);
    const taken = fromDelivery(delivery({ headers: { 'x-ferry-publish-id': 'p.1', 'x-correlation-id': 'c' } }), { connector: 'rabbit', queue: 'q' });
    expect(taken.headers).toBe(NO_HEADERS);
    expect(taken.correlationId).toBe('c');
  });
});

describe('canonical message → basic.publish options', () => {
  const base: GatewayMessage = createMessage({
    body: Buffer.from('x'),
    source: { connector: 'm', protocol: 'mqtt', address: 'a/b' },
  });
  const ctx = { now: 10_000, username: 'guest', persistent: undefined, mandatory: true };

  it('maps every field, time in seconds, expiry as the remaining ms', () => {
    const m = {
      ...base,
      contentType: 'text/plain',
      contentEncoding: 'utf-8',
      messageId: 'm1',
      correlationId: 'corr',
      replyTo: 'r',
      timestamp: 1_700_000_000_999,
      expiresAt: 12_500,
      priority: 12.6,
      userId: 'guest',
      headers: new Map([['n', new TypedNumber('int', 3)]]),
      meta: { amqp091: { type: 't', appId: 'a' } satisfies Amqp091Meta },
    };
    const plan = toPublish(m, ctx);
    if (plan.kind !== 'publish') throw new Error('expected a publish');
    expect(plan.options).toMatchObject({
      contentType: 'text/plain',
      contentEncoding: 'utf-8',
      messageId: 'm1',
      correlationId: 'corr',
      replyTo: 'r',
      timestamp: 1_700_000_000,
      expiration: '2500',
      priority: 13,
      userId: 'guest',
      type: 't',
      appId: 'a',
      persistent: true,
      mandatory: true,
      headers: { n: { '!': 'int', value: 3 } },
    });
  });

  it("replyToTopicHeader: the reply-to of an MQTT message is also the x-reply-to-topic header, where RabbitMQ's MQTT plugin puts a Response Topic", () => {
    const on = { ...ctx, replyToTopicHeader: true };
    const fromMqtt = toPublish({ ...base, replyTo: 'devices.d1.resp' }, on);
    const fromStomp = toPublish({ ...base, replyTo: '/queue/r', source: { connector: 's', protocol: 'stomp', address: '/queue/x' } }, on);
    const off = toPublish({ ...base, replyTo: 'devices.d1.resp' }, ctx);
    if (fromMqtt.kind !== 'publish' || fromStomp.kind !== 'publish' || off.kind !== 'publish') throw new Error('expected a publish');
    expect([fromMqtt.options.replyTo, fromMqtt.options.headers['x-reply-to-topic']]).toEqual(['devices.d1.resp', 'devices.d1.resp']);
    expect([fromStomp.options.replyTo, fromStomp.options.headers['x-reply-to-topic']]).toEqual(['/queue/r', undefined]);
    // off by default: no header a round trip through MQTT would bring back to an AMQP peer
    expect([off.options.replyTo, off.options.headers['x-reply-to-topic']]).toEqual(['devices.d1.resp', undefined]);
  });

  it('replyToTopicHeader: x-reply-to-topic reads back as the reply-to (the property wins when both are there); the header itself is not kept', () => {
    const ingress = { connector: 'rabbit', queue: 'q', now: 0, replyToTopicHeader: true };
    const onlyHeader = fromDelivery(delivery({ headers: { 'x-reply-to-topic': 'devices.d1.resp', h: 'v' } }), ingress);
    expect(onlyHeader.replyTo).toBe('devices.d1.resp');
    expect([...onlyHeader.headers.keys()]).toEqual(['h']);
    const both = fromDelivery(delivery({ replyTo: 'rq', headers: { 'x-reply-to-topic': 'devices.d1.resp' } }), ingress);
    expect(both.replyTo).toBe('rq');
    expect(both.headers.has('x-reply-to-topic')).toBe(false);
    // off by default: the header is an ordinary header
    const plain = fromDelivery(delivery({ headers: { 'x-reply-to-topic': 'devices.d1.resp' } }), { connector: 'rabbit', queue: 'q', now: 0 });
    expect([plain.replyTo, plain.headers.get('x-reply-to-topic')]).toEqual([undefined, 'devices.d1.resp']);
  });

  it('correlation: a text id up to 255 bytes is correlation-id; a binary id or a longer one is the x-correlation-id header, and reads back as it was', () => {
    const out = (correlationId: string | Buffer) => {
      const plan = toPublish({ ...base, correlationId }, ctx);
      if (plan.kind !== 'publish') throw new Error('expected a publish');
      return plan.options;
    };
    expect(out('corr').correlationId).toBe('corr');
    expect(out('corr').headers['x-correlation-id']).toBeUndefined();
    const bin = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]);
    expect(out(bin).correlationId).toBeUndefined();
    expect(out(bin).headers['x-correlation-id']).toEqual(bin);
    const long = 'c'.repeat(300);
    expect(out(long).correlationId).toBeUndefined();
    expect(out(long).headers['x-correlation-id']).toBe(long);
    // the way back (headers as amqplib decodes them: a byte array is a Buffer, a long string a string)
    for (const id of ['corr', bin, long, Buffer.from('abc')]) {
      const o = out(id);
      const back = fromDelivery(
        { content: Buffer.alloc(0), fields: { deliveryTag: 1, redelivered: false, exchange: 'x', routingKey: 'k', consumerTag: 'c' }, properties: { ...o, headers: o.headers } } as unknown as ConsumeMessage,
        { connector: 'r', queue: 'q', now: 0 },
      );
      expect(back.correlationId).toEqual(id);
      expect(back.headers.has('x-correlation-id')).toBe(false);
    }
  });

  it('drops an expired message, and a user-id that is not the connection user', () => {
    expect(toPublish({ ...base, expiresAt: 10_000 }, ctx).kind).toBe('expired');
    const plan = toPublish({ ...base, userId: 'someone-else' }, ctx);
    if (plan.kind !== 'publish') throw new Error('expected a publish');
    expect(plan.options.userId).toBeUndefined();
  });

  it('persistence: to.persistent wins, then an AMQP 0-9-1 delivery mode, then the guarantee', () => {
    const opt = (m: GatewayMessage, persistent?: boolean): boolean | undefined => {
      const p = toPublish(m, { ...ctx, persistent });
      return p.kind === 'publish' ? p.options.persistent : undefined;
    };
    expect(opt(base)).toBe(true);
    expect(opt({ ...base, guarantee: 'at-most-once' })).toBe(false);
    expect(opt({ ...base, meta: { amqp091: { deliveryMode: 1 } } })).toBe(false);
    expect(opt({ ...base, meta: { amqp091: { deliveryMode: 1 } } }, true)).toBe(true);
  });

  it('a property longer than a shortstr is a permanent error', () => {
    expect(() => toPublish({ ...base, messageId: 'm'.repeat(256) }, ctx)).toThrow(/255/);
  });
});

describe('schemas', () => {
  it('from: either { queue } or { exchange, bindingKey, queue? }', () => {
    expect(amqp091From.safeParse({ queue: 'q' }).success).toBe(true);
    expect(amqp091From.safeParse({ exchange: 'x', bindingKey: 'a.*' }).success).toBe(true);
    expect(amqp091From.safeParse({ exchange: 'x', bindingKey: '#', queue: 'mine' }).success).toBe(true);
    const none = amqp091From.safeParse({});
    expect(none.success).toBe(false);
    expect(none.error?.issues[0]?.message).toMatch(/either \{ queue \} or \{ exchange, bindingKey/);
    expect(amqp091From.safeParse({ exchange: 'x' }).error?.issues[0]?.path).toEqual(['bindingKey']);
    expect(amqp091From.safeParse({ queue: 'q', bindingKey: '#' }).success).toBe(false);
    expect(amqp091From.safeParse({ queue: 'q', topic: 'a' }).success).toBe(false);
  });

  it('to: defaults', () => {
    expect(amqp091To.parse({ exchange: '' })).toEqual({ exchange: '', routingKey: '', mandatory: true });
  });

  it('options: defaults, URL check, bindings need declare', () => {
    const o = amqp091Options.parse({ url: 'amqp://h' });
    expect(o).toMatchObject({ heartbeat: 30, prefetch: 1000, declare: true, reconnect: { initialMs: 500, maxMs: 30000 } });
    expect(amqp091Options.safeParse({ url: 'http://h' }).success).toBe(false);
    const r = amqp091Options.safeParse({
      url: 'amqp://h',
      declare: false,
      topology: { bindings: [{ queue: 'q', source: 'x', bindingKey: 'k' }] },
    });
    expect(r.error?.issues[0]?.path).toEqual(['topology', 'bindings']);
    expect(amqp091Options.safeParse({ url: 'amqp://h', topology: { bindings: [{ source: 'x' }] } }).success).toBe(false);
  });

  it('definition: the source pattern is the binding key, none for a queue', () => {
    expect(amqp091Definition.sourcePattern(amqp091From.parse({ exchange: 'x', bindingKey: 'a.*.#' }))).toBe('a.*.#');
    expect(amqp091Definition.sourcePattern(amqp091From.parse({ queue: 'q' }))).toBeUndefined();
    expect(amqp091Definition.listenPorts(amqp091Options.parse({ url: 'amqp://h' }))).toEqual([]);
  });
});
