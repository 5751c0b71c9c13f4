import { FerryError, type AddressSyntax } from '@ferry/core';
import { compilePattern } from './patterns.js';

function m(syntax: AddressSyntax, pattern: string, address: string): string[][] | undefined {
  return compilePattern(syntax, pattern).match(address);
}

function expectInvalid(syntax: AddressSyntax, pattern: string, fragment: string | RegExp): void {
  let caught: unknown;
  try {
    compilePattern(syntax, pattern);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FerryError);
  const e = caught as FerryError;
  expect(e.code).toBe('PATTERN_INVALID');
  expect(e.permanent).toBe(true);
  expect(e.message).toMatch(fragment);
}

/** A pattern without wildcards matches its own address with no captures, and none of `others`. */
function expectExact(syntax: AddressSyntax, address: string, others: readonly string[]): void {
  const p = compilePattern(syntax, address);
  expect(p.wildcards).toBe(0);
  expect(p.match(address)).toEqual([]);
  for (const other of others) expect({ other, match: p.match(other) }).toEqual({ other, match: undefined });
}

describe('mqtt patterns', () => {
  it('matches exact topics by string compare, with no captures', () => {
    expectExact('mqtt', 'a/b/c', ['a/b', 'a/b/c/d', 'A/b/c']);
  });

  it('+ matches exactly one level, including an empty one', () => {
    const p = compilePattern('mqtt', 'factory/+/+/temp');
    expect(p.wildcards).toBe(2);
    expect(p.match('factory/lisbon/line1/temp')).toEqual([['lisbon'], ['line1']]);
    expect(p.match('factory/lisbon/temp')).toBeUndefined();
    expect(p.match('factory/lisbon/line1/x/temp')).toBeUndefined();
    expect(p.match('factory//line1/temp')).toEqual([[''], ['line1']]);
    expect(m('mqtt', '+', 'a')).toEqual([['a']]);
    expect(m('mqtt', '+', 'a/b')).toBeUndefined();
    expect(m('mqtt', '+/+', '/finance')).toEqual([[''], ['finance']]);
  });

  it('# matches zero or more trailing levels and captures them all', () => {
    const p = compilePattern('mqtt', 'sport/#');
    expect(p.wildcards).toBe(1);
    expect(p.match('sport/tennis/player1')).toEqual([['tennis', 'player1']]);
    expect(p.match('sport/tennis')).toEqual([['tennis']]);
    expect(p.match('sport/')).toEqual([['']]);
    expect(p.match('sports/tennis')).toBeUndefined();
  });

  it('a/# also matches the parent a (MQTT 5 §4.7.1.2), capturing nothing', () => {
    expect(m('mqtt', 'sport/#', 'sport')).toEqual([[]]);
    expect(m('mqtt', 'a/b/#', 'a')).toBeUndefined();
    expect(m('mqtt', 'a/+/#', 'a/x')).toEqual([['x'], []]);
  });

  it('# alone matches every topic', () => {
    expect(m('mqtt', '#', 'a')).toEqual([['a']]);
    expect(m('mqtt', '#', 'a/b/c')).toEqual([['a', 'b', 'c']]);
    expect(m('mqtt', '#', '/a')).toEqual([['', 'a']]);
  });

  it('a leading wildcard does not match topics starting with $ (MQTT 5 §4.7.2)', () => {
    expect(m('mqtt', '#', '$SYS/broker/uptime')).toBeUndefined();
    expect(m('mqtt', '+/monitor/Clients', '$SYS/monitor/Clients')).toBeUndefined();
    expect(m('mqtt', '$SYS/#', '$SYS/broker/uptime')).toEqual([['broker', 'uptime']]);
    expect(m('mqtt', '$SYS/monitor/+', '$SYS/monitor/Clients')).toEqual([['Clients']]);
    // '$' elsewhere than the first character is ordinary
    expect(m('mqtt', '+/x', 'a$/x')).toEqual([['a$']]);
  });

  it('levels are case-sensitive and literal (no regex meaning)', () => {
    expect(m('mqtt', 'a.b/+', 'a.b/c')).toEqual([['c']]);
    expect(m('mqtt', 'a.b/+', 'axb/c')).toBeUndefined();
    expect(m('mqtt', 'a*/+', 'a*/c')).toEqual([['c']]);
  });

  it('shared subscriptions match on their filter part (MQTT 5 §4.8.2)', () => {
    const p = compilePattern('mqtt', '$share/g1/factory/+/temp');
    expect(p.wildcards).toBe(1);
    expect(p.match('factory/x/temp')).toEqual([['x']]);
    expect(compilePattern('mqtt', '$share/g1/a/b').match('a/b')).toEqual([]);
    expectInvalid('mqtt', '$share//a', /ShareName/);
    expectInvalid('mqtt', '$share/g+/a', /ShareName/);
    expectInvalid('mqtt', '$share/g1', /topic filter after/);
    expectInvalid('mqtt', '$share/g1/', /topic filter after/);
  });

  it('rejects # that is not the whole last level, and + inside a level', () => {
    expectInvalid('mqtt', 'a/#/b', /"#" must be the last level.*§4\.7\.1\.2/);
    expectInvalid('mqtt', 'a/b#', /"#" must occupy a whole level, found in "b#"/);
    expectInvalid('mqtt', 'a+/b', /"\+" must occupy a whole level, found in "a\+".*§4\.7\.1\.3/);
    expectInvalid('mqtt', 'a/+b/c', /"\+" must occupy a whole level/);
    expectInvalid('mqtt', '', /at least one character/);
    expectInvalid('mqtt', 'a/\u0000', /NUL/);
    expectInvalid('mqtt', 'x'.repeat(65536), /65535 bytes/);
  });

  it('names the pattern in the error', () => {
    expectInvalid('mqtt', 'a/b#', 'invalid MQTT topic filter "a/b#"');
  });
});

describe('amqp patterns (RabbitMQ topic exchange)', () => {
  it('exact keys compare as strings', () => {
    expectExact('amqp', 'a.b.c', ['a.b']);
  });

  it('* matches exactly one word, anywhere', () => {
    expect(m('amqp', '*.b.*', 'a.b.c')).toEqual([['a'], ['c']]);
    expect(m('amqp', '*.b.*', 'a.b')).toBeUndefined();
    expect(m('amqp', '*.b.*', 'a.b.c.d')).toBeUndefined();
    expect(m('amqp', 'a.*', 'a.')).toEqual([['']]);
    expect(m('amqp', '*', '')).toBeUndefined();
  });

  it('# matches zero or more words at the end, start and middle', () => {
    expect(m('amqp', 'a.#', 'a')).toEqual([[]]);
    expect(m('amqp', 'a.#', 'a.b.c')).toEqual([['b', 'c']]);
    expect(m('amqp', '#.z', 'z')).toEqual([[]]);
    expect(m('amqp', '#.z', 'x.y.z')).toEqual([['x', 'y']]);
    expect(m('amqp', 'a.#.z', 'a.z')).toEqual([[]]);
    expect(m('amqp', 'a.#.z', 'a.b.c.z')).toEqual([['b', 'c']]);
    expect(m('amqp', 'a.#.z', 'a.b.c')).toBeUndefined();
    expect(m('amqp', '#', '')).toEqual([[]]);
    expect(m('amqp', '#', 'a.b')).toEqual([['a', 'b']]);
  });

  it('handles several # and mixes with *; each # is greedy left to right', () => {
    expect(m('amqp', '#.x.#', 'a.x.b.x.c')).toEqual([['a', 'x', 'b'], ['c']]);
    expect(m('amqp', '#.#', 'a.b')).toEqual([['a', 'b'], []]);
    expect(m('amqp', '*.#.*', 'a.b')).toEqual([['a'], [], ['b']]);
    expect(m('amqp', '*.#.*', 'a')).toBeUndefined();
    expect(m('amqp', 'a.#.*.#.z', 'a.b.c.d.z')).toEqual([['b', 'c'], ['d'], []]);
    expect(m('amqp', '#.a.#.b.#', 'b.a')).toBeUndefined();
    expect(m('amqp', '#.a.#.b.#', 'x.a.b')).toEqual([['x'], [], []]);
  });

  it('stays linear-ish with many # (no exponential backtracking)', () => {
    const p = compilePattern('amqp', '#.#.#.#.#.#.#.#.#.#.#.#.nomatch');
    const key = Array.from({ length: 200 }, (_, i) => `w${i}`).join('.');
    expect(p.match(key)).toBeUndefined();
    expect(p.wildcards).toBe(12);
  });

  it('rejects wildcards inside a word and over-long keys', () => {
    expectInvalid('amqp', 'a.b*', /must be whole words.*"b\*"/);
    expectInvalid('amqp', 'a#.b', /must be whole words/);
    expectInvalid('amqp', 'k'.repeat(256), /255 bytes/);
    expect(compilePattern('amqp', 'k'.repeat(255)).wildcards).toBe(0);
  });

  it('the empty binding key matches only the empty routing key', () => {
    expect(m('amqp', '', '')).toEqual([]);
    expect(m('amqp', '', 'a')).toBeUndefined();
  });
});

describe('amqp10 patterns', () => {
  it('matches dot-separated words like amqp, without a length limit', () => {
    expect(m('amqp10', 'orders.*.#', 'orders.eu.new.x')).toEqual([['eu'], ['new', 'x']]);
    expect(m('amqp10', 'queue/a', 'queue/a')).toEqual([]);
    expect(compilePattern('amqp10', 'k'.repeat(300)).wildcards).toBe(0);
    expectInvalid('amqp10', 'a.b*', /AMQP 1\.0 address pattern/);
  });
});

describe('stomp patterns', () => {
  it('/topic/ matches its routing key as amqp', () => {
    const p = compilePattern('stomp', '/topic/temp.*.#');
    expect(p.wildcards).toBe(2);
    expect(p.match('/topic/temp.lisbon.a.b')).toEqual([['lisbon'], ['a', 'b']]);
    expect(p.match('/topic/temp.lisbon')).toEqual([['lisbon'], []]);
    expect(p.match('/queue/temp.lisbon')).toBeUndefined();
    expect(p.match('/exchange/amq.topic/temp.lisbon')).toBeUndefined();
    expect(p.match('temp.lisbon')).toBeUndefined();
  });

  it('/exchange/<x>/ must match the exchange exactly', () => {
    const p = compilePattern('stomp', '/exchange/events/order.*');
    expect(p.match('/exchange/events/order.created')).toEqual([['created']]);
    expect(p.match('/exchange/other/order.created')).toBeUndefined();
    expect(p.match('/exchange/events2/order.created')).toBeUndefined();
    expect(p.match('/topic/order.created')).toBeUndefined();
    expect(compilePattern('stomp', '/exchange/events/#').match('/exchange/events')).toEqual([[]]);
  });

  it('queues and exact destinations compare as strings', () => {
    expect(m('stomp', '/queue/orders', '/queue/orders')).toEqual([]);
    expect(m('stomp', '/queue/orders', '/amq/queue/orders')).toBeUndefined();
    expect(m('stomp', '/amq/queue/orders', '/amq/queue/orders')).toEqual([]);
    expect(m('stomp', '/topic/a.b', '/topic/a.b')).toEqual([]);
    expect(compilePattern('stomp', '/queue/orders').wildcards).toBe(0);
  });

  it('rejects unknown prefixes, wildcards in queue names, empty names', () => {
    expectInvalid('stomp', '/foo/bar', /expected \/topic\/<key>/);
    expectInvalid('stomp', 'topic/a', /expected/);
    expectInvalid('stomp', '/queue/a.*', /wildcards are only allowed in \/topic\/ and \/exchange\//);
    expectInvalid('stomp', '/amq/queue/#', /wildcards are only allowed/);
    expectInvalid('stomp', '/queue/', /queue name is empty/);
    expectInvalid('stomp', '/exchange//a.*', /exchange name is empty/);
    expectInvalid('stomp', '/topic/a*.b', /invalid STOMP destination "\/topic\/a\*\.b".*whole words/);
    expectInvalid('stomp', '/topic/' + 'k'.repeat(256), /255 bytes/);
  });
});
