import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import type { ConfirmChannel } from 'amqplib';
import { confirmedPublish, publishFrame, type FramedOptions } from './amqplib-publish.js';
import { encodePublishFrames } from './publish-frames.js';

// amqplib's own connection writes the reference bytes: encodePublishFrames must write exactly
// what its `sendMessage` writes into a channel's stream. amqplib is pinned for this reliance:
// read docs/architecture.md, "Library seams", before touching the pin.
const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
const defs = require(join(lib, 'defs.js')) as { BasicPublish: number; BasicProperties: number };
interface AmqplibConnection {
  channels: ({ buffer: PassThrough } | undefined)[];
  sentSinceLastCheck: boolean;
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

/** what amqplib's connection writes into channel 3's stream for this publish */
function amqplibBytes(exchange: string, routingKey: string, o: FramedOptions, content: Buffer): Buffer {
  const c = connection();
  const f = publishFrame(exchange, routingKey, o);
  c.sendMessage(3, defs.BasicPublish, f, defs.BasicProperties, f, content);
  return Buffer.concat(readAll(c.channels[3]!.buffer));
}

function readAll(s: PassThrough): Buffer[] {
  const out: Buffer[] = [];
  for (let b = s.read() as Buffer | null; b !== null; b = s.read() as Buffer | null) out.push(b);
  return out;
}

// every property, and headers of strings and integers of every size (an undefined one is left out, as amqplib leaves it out)
const headers = { 'x-ferry-publish-id': 'p.1', 'x-reply-to-topic': 'devices/ü/reply', skipped: undefined, '': '', b: -128, s: 200, s2: -32768, i: 70000, i2: -2147483648 };
const strings = { contentType: 'application/json', contentEncoding: 'gzip', correlationId: 'c-1', replyTo: 'r.k', messageId: 'm-1', type: 't', userId: 'guest', appId: 'ferry' };
const every: FramedOptions = { ...strings, mandatory: true, persistent: true, headers, priority: 7, expiration: 1500, timestamp: 1_700_000_000 };

const cases: [string, string, string, FramedOptions, Buffer][] = [
  ['every property, a header table of strings', 'amq.topic', 'devices.d1.telemetry', every, Buffer.alloc(256, 7)],
  ['no property at all', 'amq.topic', 'k', {}, Buffer.from('body')],
  ['the hop count and the publish id, as Ferry sends them on path A', 'amq.topic', 'devices.d1.telemetry', { mandatory: true, persistent: true, headers: { 'x-ferry-hops': 1, 'x-ferry-publish-id': 'abc.1.1234' } }, Buffer.alloc(256)],
  ['a timestamp past 32 bits, a non-ASCII header name, an expiration given as a string', 'amq.topic', 'k', { timestamp: 2 ** 40 + 5, expiration: '60000', headers: { 'grüße': 'schön', 'x-€': -1 } }, Buffer.from('b')],
  ['a header object without a key (no table)', 'x', 'k', { headers: {} }, Buffer.from('b')],
  ['a header object whose only key is undefined (an empty table)', 'x', 'k', { headers: { gone: undefined } }, Buffer.from('b')],
  ['an empty body (no body frame)', '', 'queue', { persistent: false, messageId: 'm' }, Buffer.alloc(0)],
  ['the default exchange and a non-ASCII routing key', '', 'gerät.ü.€', { contentType: 'text/plain; charset=utf-8' }, Buffer.from('ä')],
  // frames of 19 + 22 + 8 + 1,998 = 2,047 bytes
  ['the largest publish amqplib writes in one buffer', 'x', 'k', {}, Buffer.alloc(1998)],
];

describe('encodePublishFrames (the bytes of amqplib\'s Connection.sendMessage)', () => {
  it.each(cases)('%s', (_name, exchange, routingKey, options, content) => {
    const ours = encodePublishFrames(3, exchange, routingKey, options, content);
    expect(ours).toBeDefined();
    expect(ours!.equals(amqplibBytes(exchange, routingKey, options, content))).toBe(true);
  });

  it.each<[string, FramedOptions, number]>([
    ['after the hop count', { mandatory: true, persistent: true, headers: { 'x-ferry-hops': 1 } }, 1234],
    ['without other headers', { mandatory: true, headers: {} }, 0],
    ['with no header object', { mandatory: true }, 9],
    ['after a table whose only key is undefined', { headers: { gone: undefined } }, 10],
    ['after non-ASCII headers, the largest safe serial', { headers: { 'grüße': 'schön' } }, Number.MAX_SAFE_INTEGER],
  ])('writes a trailing id %s as amqplib writes the same header', (_name, options, serial) => {
    const id = { name: 'x-ferry-publish-id', prefix: 'p1a2b.7.' };
    const body = Buffer.alloc(64, 3);
    const ours = encodePublishFrames(3, 'amq.topic', 'a.b', options, body, id, serial);
    expect(ours).toBeDefined();
    const reference = { ...options, headers: { ...options.headers, 'x-ferry-publish-id': `p1a2b.7.${serial}` } };
    expect(ours!.equals(amqplibBytes('amq.topic', 'a.b', reference, body))).toBe(true);
  });

  it('leaves a trailing id with a serial that is not a safe non-negative integer to amqplib', () => {
    const id = { name: 'x-ferry-publish-id', prefix: 'p.' };
    for (const serial of [-1, 1.5, 2 ** 53]) expect(encodePublishFrames(3, 'x', 'k', {}, Buffer.from('b'), id, serial)).toBeUndefined();
  });

  it.each<[string, FramedOptions, Buffer]>([
    ['a header that is not a string or an integer', { headers: { n: 1.5 } }, Buffer.from('b')],
    ['an integer beyond 32 bits', { headers: { n: 2 ** 31 } }, Buffer.from('b')],
    ['a boolean header', { headers: { n: true } }, Buffer.from('b')],
    ['a null header', { headers: { n: null } }, Buffer.from('b')],
    ['a shortstr of 256 bytes', { messageId: 'm'.repeat(256) }, Buffer.from('b')],
    ['a publish of amqplib\'s one-buffer limit', {}, Buffer.alloc(2048)],
  ])('leaves %s to amqplib', (_name, options, content) => {
    expect(encodePublishFrames(3, 'x', 'k', options, content)).toBeUndefined();
  });

  it('confirmedPublish writes these bytes past an empty channel stream, into one that holds frames, and goes through amqplib once the channel is closed', () => {
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
    c.channels[3] = { buffer: new PassThrough({ objectMode: true }) };
    const ch = new Confirm(c);
    (ch as unknown as { ch: number }).ch = 3;
    const publish = confirmedPublish(ch);
    const body = Buffer.alloc(100, 1);
    c.sentSinceLastCheck = false;
    publish('amq.topic', 'a.b', body, every);
    expect(c.sentSinceLastCheck).toBe(true);
    // the channel's stream was empty: the muxer's next write, made at once (channel-write.ts)
    expect(socketWrites).toHaveLength(1);
    expect(socketWrites[0]!.equals(amqplibBytes('amq.topic', 'a.b', every, body))).toBe(true);
    c.channels[3].buffer.write(Buffer.from('a frame before'));
    publish('amq.topic', 'a.b', body, every);
    expect(socketWrites).toHaveLength(1);
    const queued = readAll(c.channels[3].buffer);
    expect(queued).toHaveLength(2);
    expect(queued[1]!.equals(amqplibBytes('amq.topic', 'a.b', every, body))).toBe(true);
    // amqplib's own way of refusing a send on a closed channel (lib/channel.js invalidateSend)
    (ch as unknown as { sendMessage: () => never }).sendMessage = () => {
      throw new Error('Channel closed');
    };
    expect(() => publish('amq.topic', 'a.b', body, every)).toThrow('Channel closed');
    expect(readAll(c.channels[3].buffer)).toEqual([]);
    expect(socketWrites).toHaveLength(1);
  });
});
