import { parseStompDestination, renderAddress, separatorOf, splitAddress, translateAddress, translateLevel } from './addresses.js';

describe('address model', () => {
  it('separators: mqtt "/", others "."', () => {
    expect(separatorOf('mqtt')).toBe('/');
    expect(separatorOf('amqp')).toBe('.');
    expect(separatorOf('amqp10')).toBe('.');
    expect(separatorOf('stomp')).toBe('.');
  });

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
    expect(renderAddress('mqtt', ['a', 'b'])).toBe('a/b');
    expect(renderAddress('amqp', ['a', 'b'])).toBe('a.b');
    expect(renderAddress('amqp10', ['a', 'b'])).toBe('a.b');
    expect(renderAddress('stomp', ['a', 'b'])).toBe('/topic/a.b');
  });

  it('translates between every pair of syntaxes', () => {
    expect(translateAddress('mqtt', 'a/b/c', 'amqp')).toBe('a.b.c');
    expect(translateAddress('mqtt', 'a/b/c', 'amqp10')).toBe('a.b.c');
    expect(translateAddress('mqtt', 'a/b/c', 'stomp')).toBe('/topic/a.b.c');
    expect(translateAddress('mqtt', 'a/b/c', 'mqtt')).toBe('a/b/c');
    expect(translateAddress('amqp', 'a.b.c', 'mqtt')).toBe('a/b/c');
    expect(translateAddress('amqp', 'a.b.c', 'stomp')).toBe('/topic/a.b.c');
    expect(translateAddress('amqp', 'a.b.c', 'amqp10')).toBe('a.b.c');
    expect(translateAddress('amqp10', 'a.b', 'mqtt')).toBe('a/b');
    expect(translateAddress('amqp10', 'a.b', 'amqp')).toBe('a.b');
    expect(translateAddress('stomp', '/topic/a.b.c', 'mqtt')).toBe('a/b/c');
    expect(translateAddress('stomp', '/topic/a.b.c', 'amqp')).toBe('a.b.c');
    expect(translateAddress('stomp', '/exchange/x/a.b', 'mqtt')).toBe('a/b');
    expect(translateAddress('stomp', '/queue/q', 'mqtt')).toBe('q');
    expect(translateAddress('stomp', '/amq/queue/q', 'amqp10')).toBe('q');
    // within STOMP a destination is kept as it is
    expect(translateAddress('stomp', '/queue/q', 'stomp')).toBe('/queue/q');
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
