import { FerryError, TypedNumber, createMessage, type GatewayMessage, type HeaderValue, type Headers } from '@ferry/core';
import { CODEC_VERSION, decodeMessage, encodeMessage } from './message-codec.js';

const source = { connector: 'devices', protocol: 'mqtt', address: 'site/a/temp' } as const;

/** every HeaderValue kind, nested in arrays and tables too */
function everyHeaderKind(): Headers {
  const h: Headers = new Map<string, HeaderValue>();
  h.set('s', 'text ✓ \u0000 nul');
  h.set('empty', '');
  h.set('n', 42.5);
  h.set('neg-zero', -0);
  h.set('nan', Number.NaN);
  h.set('inf', Number.NEGATIVE_INFINITY);
  h.set('big', -(2n ** 70n));
  h.set('t', true);
  h.set('f', false);
  h.set('null', null);
  h.set('bin', new Uint8Array([0, 1, 254, 255]));
  h.set('buf', Buffer.from([9, 8, 7]));
  h.set('date', new Date(1_700_000_000_123));
  for (const type of ['byte', 'ubyte', 'short', 'ushort', 'int', 'uint', 'float', 'double', 'decimal'] as const) h.set(`tn-${type}`, new TypedNumber(type, 7));
  h.set('tn-long', new TypedNumber('long', -(2n ** 63n)));
  h.set('tn-ulong', new TypedNumber('ulong', 2n ** 64n - 1n));
  h.set('arr', ['a', 1, 2n, null, [true, new Date(0)], { k: new TypedNumber('short', -3) }]);
  h.set('table', { a: 'x', nested: { bin: new Uint8Array([1]), list: [1, 'two'] }, __proto__x: 1 });
  return h;
}

function fullMessage(): GatewayMessage {
  return createMessage({
    body: Buffer.from([0, 255, 10, 13, 0x7b, 0x22]), // not UTF-8, not JSON
    headers: everyHeaderKind(),
    contentType: 'application/octet-stream',
    contentEncoding: 'gzip',
    messageId: 'm-1',
    correlationId: Buffer.from([1, 2, 3, 0]),
    replyTo: 'reply/here',
    timestamp: 1_700_000_000_000,
    expiresAt: 1_700_000_360_000,
    priority: 7,
    guarantee: 'at-least-once',
    retain: true,
    subject: 'subj',
    userId: 'alice',
    source,
    meta: {
      mqtt: { qos: 1, clientId: 'dev-1', payloadFormatIndicator: false },
      amqp10: { encoded: Buffer.from([0x00, 0x53, 0x70]), format: 0, annotations: { 'x-opt': 5n }, missing: undefined, list: [1, 'a'] },
      stomp: { version: '1.2', persistent: true },
    },
  });
}

describe('message codec', () => {
  it('round-trips every canonical field, the rendered `to` and the route', () => {
    const message = fullMessage();
    const to = { exchange: 'telemetry', routingKey: 'site.a.temp', mandatory: true, nested: { n: 1 } };
    const back = decodeMessage(encodeMessage({ message, to, route: 'telemetry' }));
    expect(back.route).toBe('telemetry');
    expect(back.to).toStrictEqual(to);
    expect(back.message).toStrictEqual(message);
  });

  it('keeps the exact type of every header value', () => {
    const message = fullMessage();
    const h = decodeMessage(encodeMessage({ message })).message.headers;
    // insertion order is part of the headers (a Map)
    expect([...h.keys()]).toEqual([...message.headers.keys()]);
    expect(Object.is(h.get('neg-zero'), -0)).toBe(true);
    expect(Number.isNaN(h.get('nan'))).toBe(true);
    expect(h.get('inf')).toBe(Number.NEGATIVE_INFINITY);
    expect(h.get('big')).toBe(-(2n ** 70n));
    expect(h.get('null')).toBeNull();
    // a plain Uint8Array stays one, a Buffer stays a Buffer
    const bin = h.get('bin');
    expect(bin instanceof Uint8Array && !Buffer.isBuffer(bin)).toBe(true);
    expect(Buffer.isBuffer(h.get('buf'))).toBe(true);
    expect(h.get('date')).toBeInstanceOf(Date);
    expect((h.get('date') as Date).getTime()).toBe(1_700_000_000_123);
    for (const [k, v] of message.headers) {
      if (!(v instanceof TypedNumber)) continue;
      const got = h.get(k);
      expect(got).toBeInstanceOf(TypedNumber);
      expect({ k, type: (got as TypedNumber).type, value: (got as TypedNumber).value }).toEqual({ k, type: v.type, value: v.value });
    }
    const arr = h.get('arr') as readonly HeaderValue[];
    expect(typeof arr[2]).toBe('bigint');
    expect((arr[4] as readonly HeaderValue[])[1]).toBeInstanceOf(Date);
    expect((arr[5] as { k: HeaderValue }).k).toBeInstanceOf(TypedNumber);
  });

  it('writes the body as raw bytes, never wrapped', () => {
    const body = Buffer.from('BODY-MARKER-\u00e9', 'utf8');
    const enc = encodeMessage({ message: createMessage({ body, source }) });
    expect(enc[0]).toBe(CODEC_VERSION);
    expect(enc.indexOf(body)).toBeGreaterThan(0);
    expect(enc.includes(Buffer.from(body.toString('base64')))).toBe(false);
    // the decoded body is a copy, not a view of the stored buffer
    const back = decodeMessage(enc).message.body;
    enc.fill(0);
    expect(back.equals(body)).toBe(true);
  });

  it('round-trips a minimal message: absent optionals stay undefined, defaults kept', () => {
    const message = createMessage({ body: Buffer.alloc(0), source, guarantee: 'at-most-once' });
    const back = decodeMessage(encodeMessage({ message }));
    expect(back.message).toStrictEqual(message);
    expect(back.to).toBeUndefined();
    expect(back.route).toBeUndefined();
    expect(back.message.contentType).toBeUndefined();
  });

  it('keeps a string correlation id a string', () => {
    const message = createMessage({ body: Buffer.from('x'), source, correlationId: 'c-1' });
    expect(decodeMessage(encodeMessage({ message })).message.correlationId).toBe('c-1');
  });

  it('refuses values it cannot keep exactly, with a typed error', () => {
    class Custom {
      readonly n = 1;
    }
    const bad = createMessage({ body: Buffer.from('x'), source, meta: { amqp10: { c: new Custom() } } });
    expect(() => encodeMessage({ message: bad })).toThrow(FerryError);
    const fn = createMessage({ body: Buffer.from('x'), source, meta: { mqtt: { f: () => 1 } } });
    expect(() => encodeMessage({ message: fn })).toThrow(/function/);
    const cyc: Record<string, unknown> = {};
    cyc['self'] = cyc;
    const deep = createMessage({ body: Buffer.from('x'), source, meta: { mqtt: cyc } });
    expect(() => encodeMessage({ message: deep })).toThrow(/deeper/);
  });

  it('refuses truncated input, another version and unknown fields', () => {
    const enc = encodeMessage({ message: fullMessage() });
    for (const cut of [2, 5, enc.length - 1]) expect(() => decodeMessage(enc.subarray(0, cut))).toThrow(/truncated/);
    const other = Buffer.from(enc);
    other[0] = CODEC_VERSION + 1;
    expect(() => decodeMessage(other)).toThrow(/version/);
    expect(() => decodeMessage(Buffer.concat([enc, Buffer.from([200, 1])]))).toThrow(/unknown field/);
    expect(() => decodeMessage(Buffer.from([CODEC_VERSION]))).toThrow(/required/);
    try {
      decodeMessage(enc.subarray(0, 3));
    } catch (err) {
      expect(FerryError.is(err, 'UNSUPPORTED')).toBe(true);
    }
  });
});
