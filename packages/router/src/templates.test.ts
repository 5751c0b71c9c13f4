import { FerryError, TypedNumber, createMessage, type AddressSyntax, type Headers, type Protocol } from '@ferry/core';
import { Template, checkRenderedAddress, levelSeparatorOf, parseTemplate, type RenderContext } from './templates.js';

function ctx(
  address: string,
  sourceSyntax: AddressSyntax,
  targetSyntax: AddressSyntax,
  captures: string[][] = [],
  headers: Headers = new Map(),
): RenderContext {
  const protocol: Protocol = sourceSyntax === 'amqp' ? 'amqp091' : sourceSyntax;
  return {
    message: createMessage({ body: Buffer.from('x'), headers, source: { connector: 'c', protocol, address } }),
    captures,
    sourceSyntax,
    targetSyntax,
  };
}

function thrown(fn: () => unknown): FerryError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    return err as FerryError;
  }
  throw new Error('expected a throw');
}

describe('template parsing', () => {
  it('splits literal text and placeholders', () => {
    const t = parseTemplate('factory.{1}.{2}.temp');
    expect(t.parts).toEqual([
      { kind: 'text', text: 'factory.' },
      { kind: 'capture', index: 1 },
      { kind: 'text', text: '.' },
      { kind: 'capture', index: 2 },
      { kind: 'text', text: '.temp' },
    ]);
    expect(t.captureIndexes).toEqual([1, 2]);
    expect(t.maxCapture).toBe(2);
    expect(t.isLiteral).toBe(false);
  });

  it('knows {address} and {header.NAME}, header names may hold dots and dashes', () => {
    expect(parseTemplate('{address}').parts).toEqual([{ kind: 'address' }]);
    expect(parseTemplate('{header.x-device.id}/cmd').parts).toEqual([
      { kind: 'header', name: 'x-device.id' },
      { kind: 'text', text: '/cmd' },
    ]);
  });

  it('{{ and }} are literal braces', () => {
    const t = parseTemplate('a{{b}}c');
    expect(t.isLiteral).toBe(true);
    expect(t.literal).toBe('a{b}c');
    const u = parseTemplate('{{{1}}}');
    expect(u.parts).toEqual([
      { kind: 'text', text: '{' },
      { kind: 'capture', index: 1 },
      { kind: 'text', text: '}' },
    ]);
    expect(parseTemplate('').literal).toBe('');
    expect(parseTemplate('plain').literal).toBe('plain');
  });

  it.each([
    ['a.{foo}', /unknown placeholder \{foo\} at column 3 of template "a\.\{foo\}"/],
    ['{0}', /placeholder \{0\} at column 1 of template "\{0\}"; wildcard captures are numbered from \{1\}/],
    ['{}', /empty placeholder \{\}/],
    ['a{1', /unclosed "\{" at column 2/],
    ['a{', /unclosed "\{" at column 2/],
    ['{a{1}', /unclosed "\{" at column 1/],
    ['a}b', /unmatched "\}" at column 2/],
    ['{header.}', /names no header/],
    ['{Address}', /unknown placeholder \{Address\}/],
    ['{01}', /unknown placeholder \{01\}/],
    ['{-1}', /unknown placeholder \{-1\}/],
    ['{ 1}', /unknown placeholder \{ 1\}/],
  ])('rejects %s', (text, message) => {
    const e = thrown(() => parseTemplate(text));
    expect(e.code).toBe('TEMPLATE_INVALID');
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(message);
  });
});

describe('template rendering', () => {
  it('fills captures joined with the TARGET separator (# captures several levels)', () => {
    const t = Template.parse('out.{1}.{2}');
    // MQTT source factory/# matched lisbon/line1/temp; amqp sink joins with '.'
    expect(t.render(ctx('factory/x/lisbon/line1', 'mqtt', 'amqp', [['x'], ['lisbon', 'line1']]))).toBe('out.x.lisbon.line1');
    // amqp source, mqtt sink joins with '/'
    const u = Template.parse('out/{1}/{2}');
    expect(u.render(ctx('a.b.c.d', 'amqp', 'mqtt', [['a'], ['b', 'c', 'd']]))).toBe('out/a/b/c/d');
    // a # that matched nothing renders empty
    expect(Template.parse('x.{1}').render(ctx('a', 'amqp', 'amqp', [[]]))).toBe('x.');
    // stomp sink uses '.'
    expect(Template.parse('/topic/{1}').render(ctx('a/b/c', 'mqtt', 'stomp', [['b', 'c']]))).toBe('/topic/b.c');
  });

  // a source address in its syntax, and what {address} renders for each target syntax beside it
  it.each<[AddressSyntax, string, Partial<Record<AddressSyntax, string>>]>([
    ['mqtt', 'a/b/c', { amqp: 'a.b.c', stomp: '/topic/a.b.c', amqp10: 'a.b.c', mqtt: 'a/b/c' }],
    ['amqp', 'a.b.c', { mqtt: 'a/b/c', stomp: '/topic/a.b.c' }],
    ['amqp10', 'a.b.c', { mqtt: 'a/b/c' }],
    ['stomp', '/topic/a.b.c', { mqtt: 'a/b/c', amqp: 'a.b.c' }],
    ['stomp', '/queue/q', { amqp: 'q', stomp: '/queue/q' }],
    ['stomp', '/exchange/x/a.b', { mqtt: 'a/b' }],
  ])('{address} is the source address translated into the target syntax: %s %s', (from, address, into) => {
    const t = Template.parse('{address}');
    for (const [to, want] of Object.entries(into)) expect(t.render(ctx(address, from, to as AddressSyntax))).toBe(want);
  });

  it('{address} renders inside a longer template', () => {
    expect(Template.parse('mirror/{address}').render(ctx('a.b', 'amqp', 'mqtt'))).toBe('mirror/a/b');
  });

  it('{n} and {address}: a level holding the other separator stays one level ("/" and "." swap)', () => {
    // MQTT source sensors/+/temp matched v1.2: one level, one routing-key word
    expect(Template.parse('sensors.{1}.temp').render(ctx('sensors/v1.2/temp', 'mqtt', 'amqp', [['v1.2']]))).toBe('sensors.v1/2.temp');
    expect(Template.parse('s/{1}').render(ctx('a.v1/2', 'amqp', 'mqtt', [['a', 'v1/2']]))).toBe('s/a/v1.2');
    expect(Template.parse('{address}').render(ctx('sensors/v1.2/temp', 'mqtt', 'amqp'))).toBe('sensors.v1/2.temp');
    expect(Template.parse('{address}').render(ctx('sensors.v1/2.temp', 'amqp', 'mqtt'))).toBe('sensors/v1.2/temp');
    // same separator: nothing changes
    expect(Template.parse('{1}').render(ctx('a.b/c', 'amqp', 'stomp', [['b/c']]))).toBe('b/c');
  });

  it('a header value that would add levels to an address fails (TEMPLATE_INVALID, permanent)', () => {
    const headers: Headers = new Map([['id', 'a/b'], ['v', 'x.y']]);
    const topic = { ...ctx('x', 'amqp', 'mqtt', [], headers), levelSeparator: '/' as const };
    const e = thrown(() => Template.parse('devices/{header.id}/cmd').render(topic));
    expect(e.code).toBe('TEMPLATE_INVALID');
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/\{header\.id\} holds "\/", which would add levels/);
    // a dot is no MQTT separator
    expect(Template.parse('devices/{header.v}').render(topic)).toBe('devices/x.y');
    const key = { ...ctx('x', 'mqtt', 'amqp', [], headers), levelSeparator: '.' as const };
    expect(thrown(() => Template.parse('d.{header.v}').render(key)).code).toBe('TEMPLATE_INVALID');
    expect(Template.parse('d.{header.id}').render(key)).toBe('d.a/b');
    // without a level separator (a header rule's value, a name field) any value is taken
    expect(Template.parse('devices/{header.id}').render(ctx('x', 'amqp', 'mqtt', [], headers))).toBe('devices/a/b');
  });

  it('levelSeparatorOf: topics and keys have one, a STOMP queue destination none', () => {
    expect(levelSeparatorOf('mqtt', Template.parse('a/{1}'))).toBe('/');
    expect(levelSeparatorOf('amqp', Template.parse('a.{1}'))).toBe('.');
    expect(levelSeparatorOf('amqp10', Template.parse('{1}'))).toBe('.');
    expect(levelSeparatorOf('stomp', Template.parse('/topic/{1}'))).toBe('.');
    expect(levelSeparatorOf('stomp', Template.parse('/queue/{header.q}'))).toBeUndefined();
    expect(levelSeparatorOf('stomp', Template.parse('/amq/queue/{header.q}'))).toBeUndefined();
  });

  it('{header.NAME} uses headerToString', () => {
    const headers: Headers = new Map<string, import('@ferry/core').HeaderValue>([
      ['device', 'd-17'],
      ['n', new TypedNumber('int', 42)],
      ['flag', true],
      ['empty', null],
    ]);
    const c = ctx('x', 'amqp', 'mqtt', [], headers);
    expect(Template.parse('{header.device}/cmd/{header.n}/{header.flag}').render(c)).toBe('d-17/cmd/42/true');
    expect(Template.parse('a{header.empty}b').render(c)).toBe('ab');
  });

  it('a missing header fails with TEMPLATE_MISSING_VALUE, permanent', () => {
    const e = thrown(() => Template.parse('{header.device}/cmd').render(ctx('x', 'amqp', 'mqtt')));
    expect(e.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/no value for \{header\.device\}: the message has no header "device"/);
  });

  it('a capture beyond what matched fails with TEMPLATE_MISSING_VALUE', () => {
    const e = thrown(() => Template.parse('{1}.{2}').render(ctx('a', 'amqp', 'amqp', [['a']])));
    expect(e.code).toBe('TEMPLATE_MISSING_VALUE');
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/no value for \{2\}: the source pattern matched 1 wildcard$/);
    const f = thrown(() => Template.parse('{1}').render(ctx('a', 'amqp', 'amqp', [])));
    expect(f.message).toMatch(/matched 0 wildcards/);
  });
});

describe('checkRenderedAddress', () => {
  it('mqtt topics: non-empty, no wildcard, no NUL', () => {
    expect(() => checkRenderedAddress('mqtt', 'a/b')).not.toThrow();
    for (const bad of ['', 'a/+', 'a/#', 'a+b', 'a\u0000b']) {
      const e = thrown(() => checkRenderedAddress('mqtt', bad, '{header.x}'));
      expect(e.code).toBe('TEMPLATE_INVALID');
      expect(e.permanent).toBe(true);
      expect(e.message).toContain('(from template "{header.x}")');
    }
  });

  it('amqp routing keys at most 255 bytes (counting UTF-8 bytes)', () => {
    expect(() => checkRenderedAddress('amqp', 'k'.repeat(255))).not.toThrow();
    expect(() => checkRenderedAddress('amqp', '')).not.toThrow();
    expect(thrown(() => checkRenderedAddress('amqp', 'k'.repeat(256))).message).toMatch(/255 bytes/);
    expect(() => checkRenderedAddress('amqp', 'é'.repeat(128))).toThrow(FerryError);
  });

  it('stomp destinations non-empty; amqp10 anything', () => {
    expect(() => checkRenderedAddress('stomp', '')).toThrow(/empty/);
    expect(() => checkRenderedAddress('stomp', '/topic/a')).not.toThrow();
    expect(() => checkRenderedAddress('amqp10', '')).not.toThrow();
  });
});
