import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { ConnectorCounters, TypedNumber, createMessage, noopMetrics, silentLogger, type GatewayMessage, type HeaderValue, type MessageInit } from '@ferry/core';
import type { ConfirmChannel } from 'amqplib';
import { confirmedPublish, frameWriter, publishFrame, type FramedOptions } from './amqplib-publish.js';
import { toPublish } from './mapping.js';
import { amqp091To, type Amqp091To } from './options.js';
import { NONE, PUBLISH_ROOM, PublishFrames, type FramesContext } from './publish-frames.js';
import { Publisher } from './publisher.js';

// amqplib's own connection writes the reference bytes: PublishFrames must write exactly what its
// `sendMessage` writes into a channel's stream for the options toPublish makes of the same
// message. amqplib is pinned for this reliance: read docs/architecture.md, "Library seams",
// before touching the pin.
const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
const defs = require(join(lib, 'defs.js')) as { BasicPublish: number; BasicProperties: number };
interface AmqplibConnection {
  channels: ({ buffer: PassThrough } | undefined)[];
  sentSinceLastCheck: boolean;
  frameMax: number;
  sendMessage(ch: number, method: number, fields: unknown, props: number, properties: unknown, content: Buffer): boolean;
}
const { Connection } = require(join(lib, 'connection.js')) as { Connection: new (s: Duplex) => AmqplibConnection };
const { ConfirmChannel: Confirm } = require(join(lib, 'channel_model.js')) as { ConfirmChannel: new (c: unknown) => ConfirmChannel };

function connection(): AmqplibConnection {
  const socket = new Duplex({ read: () => undefined, write: (_c, _e, cb) => cb() });
  const c = new Connection(socket);
  c.channels[3] = { buffer: new PassThrough() };
  return c;
}

function readAll(s: PassThrough): Buffer[] {
  const out: Buffer[] = [];
  for (let b = s.read() as Buffer | null; b !== null; b = s.read() as Buffer | null) out.push(b);
  return out;
}

/** what amqplib's connection (frame-max 4,096, the least a broker may give) writes into channel 3's stream for this publish */
function amqplibBytes(exchange: string, routingKey: string, o: FramedOptions, content: Buffer): Buffer {
  const c = connection();
  c.frameMax = 4096;
  const f = publishFrame(exchange, routingKey, o);
  c.sendMessage(3, defs.BasicPublish, f, defs.BasicProperties, f, content);
  return Buffer.concat(readAll(c.channels[3]!.buffer));
}

const NOW = 1_764_000_000_000;
const ID = { name: 'x-ferry-publish-id', prefix: 'p1a2b.7.' };
const CTX: FramesContext = { username: 'guest', replyToTopicHeader: true, id: ID };

/**
 * amqplib's bytes for what toPublish makes of `m` (at NOW, with CTX), with the publish id of
 * `serial` set as the publisher sets it on amqplib's path
 */
function reference(m: GatewayMessage, to: Amqp091To, serial: number): Buffer {
  const plan = toPublish(m, { now: NOW, username: CTX.username, persistent: to.persistent, mandatory: to.mandatory, replyToTopicHeader: CTX.replyToTopicHeader });
  if (plan.kind !== 'publish') throw new Error('expired');
  const options = { ...plan.options, headers: { ...plan.options.headers } };
  if (serial !== NONE) options.headers[ID.name] = `${ID.prefix}${serial}`;
  return amqplibBytes(to.exchange, to.routingKey, options, m.body);
}

/** the expiration PublishFrames is given for `m` at NOW, as the publisher computes it */
/**
 * The frames `frames` encodes for `m` into a buffer holding other bytes before and after them
 * (a publish is encoded after those of its turn), or undefined when it refuses.
 */
function encoded(frames: PublishFrames, m: GatewayMessage, to: Amqp091To, expiration: number, serial: number): Buffer | undefined {
  const at = 37;
  const buf = Buffer.alloc(at + PUBLISH_ROOM, 0xaa);
  const end = frames.encode(m, to, expiration, serial, buf, at);
  return end < 0 ? undefined : buf.subarray(at, end);
}

function expirationOf(m: GatewayMessage): number {
  return m.expiresAt === undefined ? NONE : Math.ceil(m.expiresAt - NOW);
}

const mqtt = { connector: 'devices', protocol: 'mqtt', address: 'devices/d1/telemetry' } as const;
const amqp = { connector: 'rabbit', protocol: 'amqp091', address: 'k' } as const;
const message = (init: Partial<MessageInit>): GatewayMessage => createMessage({ body: Buffer.alloc(256, 7), source: mqtt, ...init });
const topic = amqp091To.parse({ exchange: 'amq.topic', routingKey: 'devices.d1.telemetry' });

const every = message({
  headers: new Map<string, HeaderValue>([
    ['x-ferry-hops', 1],
    ['grüße', 'schön'],
    ['', ''],
  ]),
  contentType: 'application/json',
  contentEncoding: 'gzip',
  messageId: 'm-1',
  correlationId: 'c-1',
  replyTo: 'devices/d1/reply',
  timestamp: 1_700_000_000_999,
  expiresAt: NOW + 1500,
  priority: 7.4,
  userId: 'guest',
  meta: { amqp091: { type: 't', appId: 'ferry', deliveryMode: 1 } },
});

// every field-table value type a header can hold, as toPublish gives it to amqplib
const values: [string, HeaderValue][] = [
  ['a string', 'text'],
  ['an empty string', ''],
  ['a non-ASCII string', 'grüße €'],
  ['a signed byte', -128],
  ['a short', 200],
  ['a short at its low end', -32768],
  ['an int', 70000],
  ['an int at its low end', -2147483648],
  ['a long past 32 bits', 2 ** 40 + 3],
  ['a negative long', -(2 ** 40) - 3],
  ['the largest safe integer', Number.MAX_SAFE_INTEGER],
  ['negative zero', -0],
  ['a double', 1.5],
  ['a negative double', -0.25],
  ['true', true],
  ['false', false],
  ['null (void)', null],
  ['a byte array', Buffer.from([0, 1, 255])],
  ['an empty byte array', Buffer.alloc(0)],
  ['a Uint8Array', new Uint8Array([9, 8])],
];

// what the encoder leaves to toPublish and amqplib: typed values, arrays, tables, and numbers amqplib writes as a long that does not hold them
const leftToAmqplib: [string, HeaderValue][] = [
  ['a bigint', 5n],
  ['a Date (timestamp)', new Date(1_700_000_000_000)],
  ['a TypedNumber', new TypedNumber('ubyte', 200)],
  ['a decimal', new TypedNumber('decimal', 1.25)],
  ['an array', ['a', 1]],
  ['a table', { a: 1, b: 'x' }],
  ['an integer past 2^53', 2 ** 60],
  ['a fraction past 2^50', 2 ** 51 + 0.5],
  ['NaN', NaN],
  ['Infinity', Infinity],
];

const cases: [string, GatewayMessage, Amqp091To, number][] = [
  ['every property and a header of each kind, mandatory, with the id', every, topic, 1234],
  ['the same, not mandatory, no id', every, amqp091To.parse({ exchange: 'amq.topic', routingKey: 'devices.d1.telemetry', mandatory: false }), NONE],
  ['path A: the hop count and the id', message({ headers: new Map([['x-ferry-hops', 1]]) }), topic, 1],
  ['no property, no header, no id (no table)', message({ guarantee: 'at-most-once' }), amqp091To.parse({ exchange: 'x', routingKey: 'k', mandatory: false }), NONE],
  ['no header but the id, the largest safe serial', message({}), topic, Number.MAX_SAFE_INTEGER],
  ['an empty body (no body frame)', message({ body: Buffer.alloc(0), messageId: 'm' }), amqp091To.parse({ exchange: '', routingKey: 'queue', persistent: false }), 9],
  ['the default exchange and a non-ASCII routing key', message({ contentType: 'text/plain; charset=utf-8' }), amqp091To.parse({ exchange: '', routingKey: 'gerät.ü.€' }), 2],
  ['a timestamp past 32 bits of seconds', message({ timestamp: 2 ** 45 }), topic, 3],
  ['a timestamp before 1970 (none)', message({ timestamp: -5 }), topic, 3],
  ['a priority out of range, clamped', message({ priority: 300 }), topic, 4],
  ['a priority not finite (none)', message({ priority: NaN }), topic, 4],
  ['a user id not ours (none)', message({ userId: 'someone' }), topic, 5],
  ['a route persistent over the source’s delivery mode', message({ meta: { amqp091: { deliveryMode: 1 } } }), amqp091To.parse({ exchange: 'x', routingKey: 'k', persistent: true }), 6],
  ['the source’s delivery mode', message({ meta: { amqp091: { deliveryMode: 1 } } }), amqp091To.parse({ exchange: 'x', routingKey: 'k' }), 6],
  ['a correlation id past 255 bytes (a header)', message({ correlationId: 'c'.repeat(300) }), topic, 7],
  ['a correlation id of bytes (a header)', message({ correlationId: Buffer.from([0xff, 0]) }), topic, 7],
  ['a correlation id of 255 two-byte characters’ half', message({ correlationId: 'ü'.repeat(127) }), topic, 7],
  ['an MQTT reply-to (the x-reply-to-topic header)', message({ replyTo: 'devices/d1/reply', headers: new Map([['a', 'b']]) }), topic, 8],
  ['an AMQP 0-9-1 reply-to (no header)', message({ replyTo: 'amq.rabbitmq.reply-to', source: amqp }), topic, 8],
  ['an expiration of many digits', message({ expiresAt: NOW + 1e12 + 0.5 }), topic, 10],
  ['the largest publish amqplib writes in one buffer (frames of 19 + 23 + 8 + 1,997 = 2,047 bytes)', message({ body: Buffer.alloc(1997), guarantee: 'at-most-once' }), amqp091To.parse({ exchange: 'x', routingKey: 'k', mandatory: false }), NONE],
  ...values.map(([name, v]): [string, GatewayMessage, Amqp091To, number] => [`a header of ${name}`, message({ headers: new Map([['h', v]]) }), topic, 11]),
];

describe('PublishFrames (the bytes of amqplib’s Connection.sendMessage for toPublish’s options)', () => {
  it.each(cases)('%s', (_name, m, to, serial) => {
    const ours = encoded(new PublishFrames(3, CTX), m, to, expirationOf(m), serial);
    expect(ours).toBeDefined();
    expect(ours!.toString('hex')).toBe(reference(m, to, serial).toString('hex'));
  });

  it('keeps the last destination’s method frame and writes each publish’s own bits', () => {
    const frames = new PublishFrames(3, CTX);
    const other = amqp091To.parse({ exchange: 'amq.direct', routingKey: 'q', mandatory: false });
    for (const [m, to, serial] of [
      [every, topic, 1],
      [message({}), topic, 2],
      [message({}), other, NONE],
      [message({ body: Buffer.alloc(4000) }), topic, 3],
      [message({}), amqp091To.parse({ exchange: 'x'.repeat(256), routingKey: 'k' }), 3],
      [message({}), other, NONE],
      [every, topic, 4],
    ] as const) {
      const ours = encoded(frames, m, to, expirationOf(m), serial);
      if (m.body.length > 2000 || to.exchange.length > 255) expect(ours).toBeUndefined();
      else expect(ours!.toString('hex')).toBe(reference(m, to, serial).toString('hex'));
    }
  });

  it.each<[string, GatewayMessage, Amqp091To, number]>([
    ...leftToAmqplib.map(([name, v]): [string, GatewayMessage, Amqp091To, number] => [`a header of ${name}`, message({ headers: new Map([['h', v]]) }), topic, 1]),
    ['a header whose name is an array index (first in toPublish’s table)', message({ headers: new Map([['b', 1], ['7', 2]]) }), topic, NONE],
    ['a header named __proto__', message({ headers: new Map([['__proto__', 'x']]) }), topic, NONE],
    ['a header of the publish id’s name, with an id', message({ headers: new Map([[ID.name, 'mine']]) }), topic, 1],
    ['a header x-correlation-id beside a correlation id that goes there', message({ correlationId: Buffer.from([1]), headers: new Map([['x-correlation-id', 'x']]) }), topic, NONE],
    ['a header x-reply-to-topic beside an MQTT reply-to', message({ replyTo: 'r', headers: new Map([['x-reply-to-topic', 'x']]) }), topic, NONE],
    ['a header name past 255 bytes', message({ headers: new Map([['h'.repeat(256), 1]]) }), topic, NONE],
    ['a message id past 255 bytes', message({ messageId: 'm'.repeat(256) }), topic, NONE],
    ['a type that is not a string', message({ meta: { amqp091: { type: 5 as unknown as string } } }), topic, NONE],
    ['a publish of amqplib’s one-buffer limit', message({ body: Buffer.alloc(1998), guarantee: 'at-most-once' }), amqp091To.parse({ exchange: 'x', routingKey: 'k', mandatory: false }), NONE],
    ['a header table that reaches the limit', message({ headers: new Map([['h', 'v'.repeat(2040)]]) }), topic, NONE],
  ])('leaves %s to toPublish and amqplib', (_name, m, to, serial) => {
    expect(encoded(new PublishFrames(3, CTX), m, to, NONE, serial)).toBeUndefined();
  });

  it('the header of the publish id’s name is written when the publish has no id', () => {
    const m = message({ headers: new Map([[ID.name, 'mine']]) });
    const to = amqp091To.parse({ exchange: 'x', routingKey: 'k', mandatory: false });
    expect(encoded(new PublishFrames(3, CTX), m, to, NONE, NONE)!.equals(reference(m, to, NONE))).toBe(true);
  });
});

/** A Publisher on amqplib's own confirm channel and connection, channel 3, the socket's writes recorded. */
function amqplibPublisher(): { pub: Publisher; socketWrites: Buffer[]; c: AmqplibConnection; ch: ConfirmChannel } {
  const socketWrites: Buffer[] = [];
  const c = new Connection(
    new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _e, cb) => {
        socketWrites.push(chunk);
        cb();
      },
    }),
  );
  c.frameMax = 4096;
  c.channels[3] = { buffer: new PassThrough({ objectMode: true }) };
  const ch = new Confirm(c);
  (ch as unknown as { ch: number }).ch = 3;
  const pub = new Publisher(ch, {
    connector: 'rabbit',
    idPrefix: 'p1a2b.7',
    username: 'guest',
    replyToTopicHeader: true,
    logger: silentLogger,
    counters: new ConnectorCounters(noopMetrics, 'rabbit'),
    checkExchange: () => Promise.resolve(),
    onLost: () => undefined,
  });
  return { pub, socketWrites, c, ch };
}

describe('the publisher’s frames on amqplib’s connection', () => {
  const direct = amqp091To.parse({ exchange: '', routingKey: 'q' });

  it('writes a turn’s encoded publishes past the empty channel stream in one write at the end of the turn, with amqplib’s bytes and the delivery tag in each id', async () => {
    const { pub, socketWrites, c } = amqplibPublisher();
    // the publisher reads its own clock for an expiration: none here
    const m = { ...every, expiresAt: undefined };
    c.sentSinceLastCheck = false;
    pub.send(m, direct, () => undefined);
    pub.send(m, direct, () => undefined);
    expect(socketWrites).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    expect(c.sentSinceLastCheck).toBe(true);
    expect(socketWrites).toHaveLength(1);
    expect(socketWrites[0]!.toString('hex')).toBe(Buffer.concat([reference(m, direct, 1), reference(m, direct, 2)]).toString('hex'));
  });

  it('writes more publishes than one buffer holds in order, in as many writes as buffers', async () => {
    const { pub, socketWrites } = amqplibPublisher();
    const m = { ...every, expiresAt: undefined };
    const n = 300;
    for (let i = 0; i < n; i++) pub.send(m, direct, () => undefined);
    await new Promise((r) => setImmediate(r));
    const one = reference(m, direct, 1).length;
    // a publish is encoded into a buffer of 64 KiB while PUBLISH_ROOM bytes are left after those before it
    const perBuffer = Math.floor((64 * 1024 - PUBLISH_ROOM) / one) + 1;
    expect(socketWrites.length).toBe(Math.ceil(n / perBuffer));
    expect(socketWrites.length).toBeGreaterThan(1);
    const expected = Buffer.concat(Array.from({ length: n }, (_, i) => reference(m, direct, i + 1)));
    expect(Buffer.concat(socketWrites).equals(expected)).toBe(true);
  });

  it('writes the turn’s encoded publishes before one amqplib encodes, and before the channel’s close', async () => {
    const { pub, socketWrites, c } = amqplibPublisher();
    const m = message({});
    const typed = message({ headers: new Map<string, HeaderValue>([['when', new Date(1_700_000_000_000)]]) });
    pub.send(m, direct, () => undefined);
    pub.send(typed, direct, () => undefined);
    // the encoded publish went past the empty stream at once, amqplib's into the stream after it
    expect(socketWrites.map((b) => b.toString('hex'))).toEqual([reference(m, direct, 1).toString('hex')]);
    expect(Buffer.concat(readAll(c.channels[3]!.buffer)).toString('hex')).toBe(reference(typed, direct, 2).toString('hex'));
    pub.send(m, direct, () => undefined);
    void pub.close();
    expect(socketWrites.slice(1).map((b) => b.toString('hex'))).toEqual([reference(m, direct, 3).toString('hex')]);
    await new Promise((r) => setImmediate(r));
    expect(socketWrites).toHaveLength(2);
  });

  it('leaves a body past the frame size to amqplib, which splits it into frames of frame-max', () => {
    const { pub, c } = amqplibPublisher();
    const big = message({ body: Buffer.alloc(10_000, 5), headers: new Map([['x-ferry-hops', 1]]) });
    pub.send(big, direct, () => undefined);
    const written = readAll(c.channels[3]!.buffer);
    // method and header in one write, then the body in frames of at most frame-max (lib/connection.js sendContent)
    expect(written.length).toBeGreaterThan(2);
    const bytes = Buffer.concat(written);
    expect(bytes.toString('hex')).toBe(reference(big, direct, 1).toString('hex'));
    const bodyFrames = written.slice(1).filter((b) => b[0] === 3);
    expect(bodyFrames.length).toBe(3);
    for (const f of bodyFrames) expect(f.length).toBeLessThanOrEqual(4096);
  });

  it('leaves a header amqplib types itself to amqplib, in the channel stream, with the id as a string header', () => {
    const { pub, c, socketWrites } = amqplibPublisher();
    const typed = message({ headers: new Map<string, HeaderValue>([['when', new Date(1_700_000_000_000)]]) });
    pub.send(typed, direct, () => undefined);
    expect(socketWrites).toHaveLength(0);
    expect(Buffer.concat(readAll(c.channels[3]!.buffer)).toString('hex')).toBe(reference(typed, direct, 1).toString('hex'));
  });

  it('goes through amqplib once the channel is closed: nothing written, NOT_CONNECTED', () => {
    const { pub, ch, socketWrites, c } = amqplibPublisher();
    // amqplib's own way of refusing a send on a closed channel (lib/channel.js invalidateSend)
    const err = new Error('Channel closed');
    err.name = 'IllegalOperationError';
    (ch as unknown as { sendMessage: () => never }).sendMessage = () => {
      throw err;
    };
    const seen: (string | undefined)[] = [];
    pub.send(message({}), direct, (e) => seen.push(e?.code));
    expect(seen).toEqual(['NOT_CONNECTED']);
    expect(socketWrites).toHaveLength(0);
    expect(readAll(c.channels[3]!.buffer)).toEqual([]);
  });

  it('confirmedPublish and frameWriter fall back on a channel of another shape', () => {
    const calls: unknown[][] = [];
    const ch = { publish: (...args: unknown[]) => calls.push(args) > 0 } as unknown as ConfirmChannel;
    expect(frameWriter(ch, () => undefined)).toBeUndefined();
    confirmedPublish(ch)('x', 'k', Buffer.from('b'), { persistent: true });
    expect(calls).toHaveLength(1);
  });
});
