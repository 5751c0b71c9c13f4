import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ConfirmChannel } from 'amqplib';
import { confirmedPublish, publishFrame, type FramedOptions } from './amqplib-publish.js';

// amqplib's own classes and codec: the test checks the installed version still publishes the way
// confirmedPublish relies on, and that the frames it encodes are amqplib's own. amqplib is pinned
// for this reliance: read docs/architecture.md, "Library seams", before touching the pin.
const SEE = 'the amqplib seam (packages/amqp091/src/amqplib-publish.ts) no longer holds; see docs/architecture.md, "Library seams"';
function holds(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what}: ${SEE}`);
}
const require = createRequire(import.meta.url);
const lib = join(dirname(require.resolve('amqplib')), 'lib');
type Fields = Record<string, unknown>;
const defs = require(join(lib, 'defs.js')) as {
  BasicPublish: number;
  BasicAck: number;
  BasicNack: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: Fields): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: Fields): Buffer;
  decode(id: number, buf: Buffer): Fields;
};
const { ConfirmChannel: Confirm } = require(join(lib, 'channel_model.js')) as { ConfirmChannel: new (c: unknown) => ConfirmChannel };

interface Sent {
  fields: Fields;
  properties: Fields;
  content: Buffer;
}

/** A confirm channel on a connection that records what it is asked to send. */
function recordingChannel(): { ch: ConfirmChannel; sent: Sent[] } {
  const sent: Sent[] = [];
  const connection = {
    // confirmedPublish hands the frame to sendMessage (publish-frames.test.ts covers the frames written past it)
    channels: [],
    sentSinceLastCheck: false,
    sendMessage(_ch: number, method: number, fields: Fields, props: number, properties: Fields, content: Buffer): boolean {
      holds(method === defs.BasicPublish && props === defs.BasicProperties, 'sendMessage is not given basic.publish and basic properties');
      sent.push({ fields, properties, content });
      return true;
    },
  };
  const ch = new Confirm(connection);
  (ch as unknown as { ch: number }).ch = 1;
  return { ch, sent };
}

/** method frame + content header, as amqplib writes them */
function encoded(s: Sent): Buffer {
  return Buffer.concat([defs.encodeMethod(defs.BasicPublish, 1, s.fields), defs.encodeProperties(defs.BasicProperties, 1, s.content.length, s.properties)]);
}

/** the content header's properties as a receiver decodes them (after the 7-byte frame header, 12 bytes of class, weight and size) */
function decodedProperties(s: Sent): Fields {
  const frame = defs.encodeProperties(defs.BasicProperties, 1, s.content.length, s.properties);
  return defs.decode(defs.BasicProperties, frame.subarray(19, frame.length - 1));
}

const every: FramedOptions = {
  mandatory: true,
  persistent: true,
  contentType: 'application/json',
  contentEncoding: 'gzip',
  headers: { 'x-ferry-publish-id': 'p.1', n: 5, b: Buffer.from([0, 255]) },
  priority: 7,
  correlationId: 'c-1',
  replyTo: 'r.k',
  expiration: 1500,
  messageId: 'm-1',
  timestamp: 1_700_000_000,
  type: 't',
  userId: 'guest',
  appId: 'ferry',
};

function both(options: FramedOptions): { ours: Sent; amqplibs: Sent } {
  const a = recordingChannel();
  confirmedPublish(a.ch)('amq.topic', 'devices.d1.telemetry', Buffer.from('body'), options);
  const b = recordingChannel();
  b.ch.publish('amq.topic', 'devices.d1.telemetry', Buffer.from('body'), options, () => undefined);
  holds(a.sent.length === 1, 'confirmedPublish did not send through the connection');
  return { ours: a.sent[0] as Sent, amqplibs: b.sent[0] as Sent };
}

describe('confirmedPublish (amqplib confirm channel)', () => {
  it('encodes the same bytes as amqplib for a publish with headers and every property', () => {
    const { ours, amqplibs } = both(every);
    expect(encoded(ours).equals(encoded(amqplibs))).toBe(true);
  });

  it('encodes the same bytes as amqplib without properties, but for the empty header table', () => {
    const { ours, amqplibs } = both({ mandatory: false, persistent: false, headers: {} });
    expect(encoded(ours).equals(encoded(amqplibs))).toBe(false);
    // amqplib always sends a header table; this sends none when it would be empty
    expect(decodedProperties(amqplibs)['headers']).toEqual({});
    expect(decodedProperties(ours)['headers']).toBeUndefined();
    expect({ ...decodedProperties(ours), headers: {} }).toEqual(decodedProperties(amqplibs));
    expect(defs.encodeMethod(defs.BasicPublish, 1, ours.fields).equals(defs.encodeMethod(defs.BasicPublish, 1, amqplibs.fields))).toBe(true);
  });

  it('keeps amqplib’s delivery mode: 2 persistent, 1 not, absent when not given', () => {
    expect(publishFrame('x', 'k', { persistent: true }).deliveryMode).toBe(2);
    expect(publishFrame('x', 'k', { persistent: false }).deliveryMode).toBe(1);
    expect(publishFrame('x', 'k', {}).deliveryMode).toBeUndefined();
  });

  it('leaves the confirms to the channel’s events: basic.ack and basic.nack reach the "ack" and "nack" listeners, in order', () => {
    const { ch, sent } = recordingChannel();
    const publish = confirmedPublish(ch);
    const events: unknown[] = [];
    ch.on('ack', (f: unknown) => events.push(['ack', f]));
    ch.on('nack', (f: unknown) => events.push(['nack', f]));
    publish('x', 'k', Buffer.from('1'), every);
    publish('x', 'k', Buffer.from('2'), every);
    publish('x', 'k', Buffer.from('3'), every);
    expect(sent).toHaveLength(3);
    const accept = (ch as unknown as { accept(f: { id: number; fields: Fields }): void }).accept.bind(ch);
    // as amqplib's reader gives a frame to its channel; delivery tags count publishes from 1 on a confirm channel
    accept({ id: defs.BasicAck, fields: { deliveryTag: 2, multiple: false } });
    accept({ id: defs.BasicNack, fields: { deliveryTag: 3, multiple: true, requeue: false } });
    holds(events.length === 2, 'basic.ack and basic.nack did not reach the channel’s "ack" and "nack" events');
    expect(events).toEqual([
      ['ack', { deliveryTag: 2, multiple: false }],
      ['nack', { deliveryTag: 3, multiple: true, requeue: false }],
    ]);
    // amqplib keeps no callback for these publishes: its window is empty after the confirms
    expect((ch as unknown as { unconfirmed: unknown[] }).unconfirmed).toEqual([]);
  });

  it('falls back to amqplib’s publish on a channel of another shape', () => {
    const calls: unknown[][] = [];
    const ch = { publish: (...args: unknown[]) => calls.push(args) > 0 } as unknown as ConfirmChannel;
    confirmedPublish(ch)('x', 'k', Buffer.from('b'), { persistent: true });
    expect(calls).toHaveLength(1);
  });
});
