import type { AddressSyntax } from '@ferry/core';
import { parseStompDestination, renderAddress, separatorOf, splitAddress, translateAddress, translateLevel } from './addresses.js';

describe('address model', () => {
  it.each<[AddressSyntax, '/' | '.']>([
    ['mqtt', '/'],
    ['amqp', '.'],
    ['amqp10', '.'],
    ['stomp', '.'],
  ])('separators: %s separates levels with "%s"', (syntax, separator) => expect(separatorOf(syntax)).toBe(separator));

  it('splits addresses into levels per syntax', () => {
    expect(splitAddress('mqtt', 'a/b/c')).toEqual(['a', 'b', 'c']);
    expect(splitAddress('mqtt', '/a//b')).toEqual(['', 'a', '', 'b']);
    expect(splitAddress('amqp', 'a.b.c')).toEqual(['a', 'b', 'c']);
    expect(splitAddress('amqp', '')).toEqual([]);
    expect(splitAddress('amqp10', 'a.b')).toEqual(['a', 'b']);
    expect(splitAddress('stomp', '/topic/a.b.c')).toEqual(['a', 'b', 'c']);
    expect(splitAddress('stomp', '/queue/q')).toEqual(['q']);
    expect(splitAddress('stomp', '/queue/orders.eu')).toEqual(['orders.eu']);
    expect(splitAddress('stomp', '/amq/queue/q')).toEqual(['q']);
    expect(splitAddress('stomp', '/exchange/x/a.b')).toEqual(['a', 'b']);
    expect(splitAddress('stomp', '/exchange/x')).toEqual([]);
    expect(splitAddress('stomp', '/temp-queue/t')).toEqual(['temp-queue/t']);
  });

  it('renders levels per syntax', () => {
    const rendered = { mqtt: 'a/b', amqp: 'a.b', amqp10: 'a.b', stomp: '/topic/a.b' };
    for (const [syntax, address] of Object.entries(rendered)) expect(renderAddress(syntax as AddressSyntax, ['a', 'b'])).toBe(address);
  });

  // an address in one syntax, and what it becomes in each other syntax listed beside it
  it.each<[AddressSyntax, string, Partial<Record<AddressSyntax, string>>]>([
    ['mqtt', 'a/b/c', { amqp: 'a.b.c', amqp10: 'a.b.c', stomp: '/topic/a.b.c', mqtt: 'a/b/c' }],
    ['amqp', 'a.b.c', { mqtt: 'a/b/c', stomp: '/topic/a.b.c', amqp10: 'a.b.c' }],
    ['amqp10', 'a.b', { mqtt: 'a/b', amqp: 'a.b' }],
    ['stomp', '/topic/a.b.c', { mqtt: 'a/b/c', amqp: 'a.b.c' }],
    ['stomp', '/exchange/x/a.b', { mqtt: 'a/b' }],
    // within STOMP a destination is kept as it is
    ['stomp', '/queue/q', { mqtt: 'q', stomp: '/queue/q' }],
    ['stomp', '/amq/queue/q', { amqp10: 'q' }],
  ])('translates between every pair of syntaxes: %s %s', (from, address, into) => {
    for (const [to, want] of Object.entries(into)) expect(translateAddress(from, address, to as AddressSyntax)).toBe(want);
  });

  it('a level holding the other separator stays one level: "/" and "." swap (RabbitMQ MQTT plugin rule)', () => {
    expect(translateAddress('mqtt', 'sensors/v1.2/temp', 'amqp')).toBe('sensors.v1/2.temp');
    expect(translateAddress('amqp', 'sensors.v1/2.temp', 'mqtt')).toBe('sensors/v1.2/temp');
    expect(translateAddress('amqp', 'a/b.c', 'mqtt')).toBe('a.b/c');
    expect(translateAddress('mqtt', 'a.b/c', 'stomp')).toBe('/topic/a/b.c');
    expect(translateAddress('stomp', '/topic/a/b.c', 'mqtt')).toBe('a.b/c');
    expect(translateAddress('mqtt', 'x/1.0', 'amqp10')).toBe('x.1/0');
    // between dot-separated syntaxes nothing changes
    expect(translateAddress('amqp', 'a/b.c', 'stomp')).toBe('/topic/a/b.c');
    expect(translateLevel('v1.2', 'mqtt', 'amqp')).toBe('v1/2');
    expect(translateLevel('v1/2', 'amqp', 'mqtt')).toBe('v1.2');
    expect(translateLevel('v1.2', 'mqtt', 'mqtt')).toBe('v1.2');
  });

  it('every MQTT topic comes back from every other syntax exactly', () => {
    for (const topic of ['sensors/v1.2/temp', '/a//b.', '.', 'a/./b', 'x.y.z', 'über/1.5', '']) {
      for (const via of ['amqp', 'amqp10', 'stomp'] as const) {
        if (topic === '' && via === 'stomp') continue; // no levels: /topic/ renders back as one empty level
        expect(translateAddress(via, translateAddress('mqtt', topic, via), 'mqtt')).toBe(topic);
      }
    }
    for (const key of ['a.b/c.d', 'amq.rabbitmq.reply-to.x/y', 'a..b']) {
      expect(translateAddress('mqtt', translateAddress('amqp', key, 'mqtt'), 'amqp')).toBe(key);
    }
  });

  it('parses STOMP destinations', () => {
    expect(parseStompDestination('/topic/a')).toEqual({ kind: 'topic', rest: 'a' });
    expect(parseStompDestination('/exchange/x/a/b')).toEqual({ kind: 'exchange', exchange: 'x', rest: 'a/b' });
    expect(parseStompDestination('/exchange/x')).toEqual({ kind: 'exchange', exchange: 'x', rest: '' });
    expect(parseStompDestination('/amq/queue/q')).toEqual({ kind: 'amq-queue', rest: 'q' });
    expect(parseStompDestination('/queue/q')).toEqual({ kind: 'queue', rest: 'q' });
    expect(parseStompDestination('/other/q')).toBeUndefined();
    expect(parseStompDestination('/topic')).toBeUndefined();
  });
});
