import { createMessage, TypedNumber } from '@ferry/core';
import { detectFlavor, destinationProblem } from './flavor.js';
import { fromMessageFrame, toSendHeaders } from './mapping.js';
import { parseStompUrl, stompOptions } from './options.js';

const source = { connector: 't', protocol: 'mqtt' as const, address: 'a/b' };

describe('toSendHeaders', () => {
  test('names are escaped for STOMP 1.2, values kept raw (stompjs escapes them), NUL removed', () => {
    const msg = createMessage({ body: Buffer.alloc(0), source, headers: new Map([['a:b\nc\\d', 'x\u0000y']]) });
    const { headers } = toSendHeaders(msg, { flavor: 'rabbitmq', now: 0 });
    expect(headers['a\\cb\\nc\\\\d']).toBe('xy');
  });

  test('reserved and broker-interpreted names are dropped, never sent', () => {
    const msg = createMessage({
      body: Buffer.alloc(0),
      source,
      headers: new Map([
        ['destination', '/queue/evil'],
        ['receipt', 'r'],
        ['content-length', '1'],
        ['x-max-length', '1'],
        ['priority', 'high'],
        ['ok', 'yes'],
      ]),
    });
    const { headers, dropped } = toSendHeaders(msg, { flavor: 'rabbitmq', now: 0 });
    expect(Object.keys(headers).sort()).toEqual(['ok', 'persistent']);
    expect([...dropped].sort()).toEqual(['content-length', 'destination', 'priority', 'receipt', 'x-max-length']);
    const amq = toSendHeaders(createMessage({ body: Buffer.alloc(0), source, headers: new Map([['activemq.retroactive', 'true']]) }), { flavor: 'activemq', now: 0 });
    expect(amq.dropped).toEqual(['activemq.retroactive']);
  });

  test('canonical fields per dialect: RabbitMQ amqp-message-id/expiration/timestamp(s), ActiveMQ expires', () => {
    const msg = createMessage({ body: Buffer.alloc(0), source, messageId: 'm', expiresAt: 61_000, timestamp: 5_500, priority: 12, guarantee: 'at-most-once' });
    expect(toSendHeaders(msg, { flavor: 'rabbitmq', now: 1_000 }).headers).toEqual({ 'amqp-message-id': 'm', expiration: '60000', timestamp: '5', priority: '9', persistent: 'false' });
    expect(toSendHeaders(msg, { flavor: 'activemq', now: 1_000, persistent: true }).headers).toEqual({ expires: '61000', priority: '9', persistent: 'true' });
  });

  test('typed values become strings', () => {
    const msg = createMessage({ body: Buffer.alloc(0), source, headers: new Map<string, import('@ferry/core').HeaderValue>([['n', new TypedNumber('int', 7)], ['b', new Uint8Array([255])]]) });
    const { headers } = toSendHeaders(msg, { flavor: 'generic', now: 0 });
    expect(headers.n).toBe('7');
    expect(headers.b).toBe('/w==');
  });
});

describe('correlation ids through STOMP', () => {
  test('a binary id or text with NUL goes as base64 with ferry-correlation-encoding, and comes back as it was', () => {
    const ids: (string | Buffer)[] = ['c-1', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]), Buffer.from('abc'), 'a\u0000b'];
    for (const id of ids) {
      for (const flavor of ['rabbitmq', 'activemq', 'generic'] as const) {
        const { headers } = toSendHeaders(createMessage({ body: Buffer.alloc(0), source, correlationId: id }), { flavor, now: 0 });
        expect(headers['correlation-id']).not.toContain('\u0000');
        const frame = Object.entries(headers).map(([n, v]) => [n, v] as [string, string]);
        const m = fromMessageFrame(frame, Buffer.alloc(0), { connector: 'c', flavor, subscribedTo: '/queue/q', ack: 'auto', now: 0 });
        expect(m.correlationId).toEqual(id);
        expect(m.headers.has('ferry-correlation-encoding')).toBe(false);
      }
    }
    const bin = toSendHeaders(createMessage({ body: Buffer.alloc(0), source, correlationId: Buffer.from([0xff]) }), { flavor: 'rabbitmq', now: 0 }).headers;
    expect(bin).toMatchObject({ 'correlation-id': '/w==', 'ferry-correlation-encoding': 'base64' });
    expect(toSendHeaders(createMessage({ body: Buffer.alloc(0), source, correlationId: 'plain' }), { flavor: 'rabbitmq', now: 0 }).headers['ferry-correlation-encoding']).toBeUndefined();
  });
});

describe('fromMessageFrame', () => {
  const ctx = { connector: 'c', subscribedTo: '/queue/q', ack: 'client-individual' as const, now: 1_000 };

  test('first of repeated headers wins; frame headers are not application headers', () => {
    const m = fromMessageFrame(
      [
        ['destination', '/queue/q'],
        ['subscription', 's'],
        ['message-id', 'T_s@@1'],
        ['ack', 'T_s@@1'],
        ['redelivered', 'true'],
        ['x', 'first'],
        ['x', 'second'],
        ['amqp-message-id', 'app-id'],
        ['expiration', '500'],
        ['reply-to', '/reply-queue/r'],
      ],
      Buffer.from('b'),
      { ...ctx, flavor: 'rabbitmq' },
    );
    expect([...m.headers]).toEqual([['x', 'first']]);
    expect(m.messageId).toBe('app-id');
    expect(m.expiresAt).toBe(1_500);
    expect(m.replyTo).toBe('r');
    expect(m.meta.stomp).toMatchObject({ subscription: 's', ack: 'T_s@@1', messageId: 'T_s@@1', redelivered: true });
  });

  test('ActiveMQ: message-id is the JMSMessageID, expires 0 means never, timestamp in ms', () => {
    const m = fromMessageFrame([['message-id', 'ID:x:1'], ['expires', '0'], ['timestamp', '1700000000000'], ['priority', '4']], Buffer.alloc(0), { ...ctx, flavor: 'activemq' });
    expect(m.messageId).toBe('ID:x:1');
    expect(m.expiresAt).toBeUndefined();
    expect(m.timestamp).toBe(1_700_000_000_000);
    expect(m.priority).toBe(4);
    expect(m.source.address).toBe('/queue/q');
    expect(m.headers.size).toBe(0);
  });
});

describe('options and dialects', () => {
  test('urls', () => {
    expect(parseStompUrl('stomp://127.0.0.1:27613')).toEqual({ scheme: 'stomp', host: '127.0.0.1', port: 27613, path: '/' });
    expect(parseStompUrl('stomp://broker')).toEqual({ scheme: 'stomp', host: 'broker', port: 61613, path: '/' });
    expect(parseStompUrl('stomp+ssl://broker')).toEqual({ scheme: 'stomp+ssl', host: 'broker', port: 61614, path: '/' });
    expect(parseStompUrl('ws://broker:15674/ws')).toEqual({ scheme: 'ws', host: 'broker', port: 15674, path: '/ws' });
    expect(parseStompUrl('wss://broker/stomp?x=1')).toEqual({ scheme: 'wss', host: 'broker', port: 443, path: '/stomp?x=1' });
    expect(parseStompUrl('stomp+ssl://broker/path')).toBeUndefined();
    expect(parseStompUrl('http://broker')).toBeUndefined();
    expect(parseStompUrl('stomp://u:p@broker')).toBeUndefined();
  });

  test('CONNECT headers cannot carry line breaks (CONNECT is never escaped)', () => {
    expect(stompOptions.safeParse({ url: 'stomp://h', login: 'a\npasscode:x' }).success).toBe(false);
    expect(stompOptions.safeParse({ url: 'stomp://h', nope: 1 }).success).toBe(false);
    const o = stompOptions.parse({ url: 'stomp://h' });
    expect(o).toMatchObject({ heartBeat: { outgoingMs: 10_000, incomingMs: 10_000 }, receiptTimeoutMs: 30_000, prefetch: 1000, broker: 'auto' });
  });

  test('flavor detection and destinations', () => {
    expect(detectFlavor('RabbitMQ/3.10.8')).toBe('rabbitmq');
    expect(detectFlavor('ActiveMQ/5.17.2')).toBe('activemq');
    expect(detectFlavor('ActiveMQ-Artemis/2.30')).toBe('generic');
    expect(destinationProblem('/bogus/x', 'rabbitmq')).toBeDefined();
    expect(destinationProblem('/queue/', 'rabbitmq')).toBeDefined();
    expect(destinationProblem('/exchange/amq.topic/a.b', 'rabbitmq')).toBeUndefined();
    expect(destinationProblem('/bogus/x', 'activemq')).toBeUndefined();
    expect(destinationProblem('/queue/a\nb', 'generic')).toBeDefined();
  });
});
