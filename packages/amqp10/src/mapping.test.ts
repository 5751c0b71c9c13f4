import rhea from 'rhea';
import { dataSection } from '../test/rhea-message.js';
import { createMessage, NO_HEADERS, TypedNumber, withChanges, withHops, type GatewayMessage } from '@ferry/core';
import { Decoder, decodeOne, encode, type AmqpValue } from './codec.js';
import { stampTtl, toAmqp10, toGatewayMessage, type Amqp10Meta } from './mapping.js';
import { parseMessage } from './sections.js';

const ctx = { connector: 'c', address: 'q', presettled: false, format: 0, now: 1_000_000 };
const meta = (m: GatewayMessage): Amqp10Meta => m.meta.amqp10 as Amqp10Meta;

/** A message as a plain rhea client encodes it, with typed application properties. */
function rheaEncoded(): Buffer {
  const t = rhea.types;
  return rhea.message.encode({
    durable: true,
    priority: 7,
    ttl: 5000,
    message_id: 'm-1',
    subject: 'subj',
    reply_to: 'replies',
    correlation_id: 'corr-9',
    content_type: 'application/octet-stream',
    creation_time: new Date(123_000),
    group_id: 'g',
    message_annotations: { 'x-opt-thing': 'ann' },
    application_properties: {
      u8: t.wrap_ubyte(200),
      i16: t.wrap_short(-1234),
      i32: t.wrap_int(70000),
      i64: t.wrap_long(-5),
      ts: t.wrap_timestamp(1_700_000_000_000),
      bin: t.wrap_binary(Buffer.from([0, 1, 2, 255])),
      s: 'text',
      b: true,
    },
    body: dataSection(Buffer.from([0xde, 0xad, 0xbe, 0xef])),
  });
}

/** The properties section's field `index` (§3.2.4) as it is on the wire, with its AMQP type. */
function propertyOnWire(encoded: Buffer, index: number): AmqpValue | undefined {
  const d = new Decoder(encoded);
  while (d.remaining > 0) {
    const s = d.read();
    if (s.type === 'described' && s.descriptor.type === 'ulong' && s.descriptor.value === 0x73n && s.value.type === 'list') return s.value.value[index];
  }
  return undefined;
}

/** content-encoding is field 7 of the properties list (§3.2.4) */
const CONTENT_ENCODING = 7;

describe('AMQP 1.0 codec', () => {
  it('round-trips every primitive with its exact type', () => {
    const values: AmqpValue[] = [
      { type: 'null' },
      { type: 'boolean', value: true },
      { type: 'ubyte', value: 255 },
      { type: 'byte', value: -128 },
      { type: 'ushort', value: 65535 },
      { type: 'short', value: -32768 },
      { type: 'uint', value: 0 },
      { type: 'uint', value: 200 },
      { type: 'uint', value: 4294967295 },
      { type: 'int', value: -5 },
      { type: 'int', value: 2147483647 },
      { type: 'ulong', value: 18446744073709551615n },
      { type: 'long', value: -9223372036854775808n },
      { type: 'float', value: 1.5 },
      { type: 'double', value: Math.PI },
      { type: 'timestamp', value: 1_700_000_000_123n },
      { type: 'char', value: 0x1f600 },
      { type: 'uuid', value: Buffer.alloc(16, 7) },
      { type: 'binary', value: Buffer.alloc(300, 1) },
      { type: 'string', value: 'héllo' },
      { type: 'symbol', value: 'amqp:x' },
      { type: 'list', value: [{ type: 'int', value: 1 }, { type: 'string', value: 'x' }] },
      { type: 'map', value: [[{ type: 'string', value: 'k' }, { type: 'short', value: 3 }]] },
      { type: 'array', value: [{ type: 'int', value: 1 }, { type: 'int', value: 1000 }] },
      { type: 'described', descriptor: { type: 'ulong', value: 0x75n }, value: { type: 'binary', value: Buffer.from('x') } },
    ];
    for (const v of values) expect(decodeOne(encode(v))).toEqual(v);
  });

  it('refuses truncated and lying input with a decode error, never a crash', () => {
    expect(() => decodeOne(Buffer.from([0xb1, 0xff, 0xff, 0xff, 0xff, 0x41]))).toThrow(/truncated/);
    expect(() => decodeOne(Buffer.from([0xc0, 0x02, 0xff, 0x41]))).toThrow(/count/);
    expect(() => decodeOne(Buffer.from([0x99]))).toThrow(/unknown type code/);
  });
});

describe('parseMessage: data sections', () => {
  const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
  const chunks = (b: Buffer): string[] => {
    const body = parseMessage(b).body;
    return body.kind === 'data' ? body.chunks.map((c) => c.toString('hex')) : [body.kind];
  };

  it('reads each data section as a view of its bytes, in every descriptor and binary encoding', () => {
    const b = hex('00 53 75 a0 02 6162 00 53 75 b0 00000001 63 00 80 0000000000000075 a0 01 64');
    expect(chunks(b)).toEqual(['6162', '63', '64']);
    const first = parseMessage(b).body;
    expect(first.kind === 'data' && first.chunks[0]?.buffer === b.buffer && first.chunks[0].byteOffset === b.byteOffset + 5).toBe(true);
    expect(chunks(hex('00 53 75 a0 00'))).toEqual(['']);
  });

  it('puts the empty application-properties span before the first data section; after application-properties, theirs', () => {
    const header = hex('00 53 70 c0 02 01 41');
    expect(parseMessage(Buffer.concat([header, hex('00 53 75 a0 01 61')])).applicationPropertiesAt).toEqual([header.length, header.length]);
    const props = hex('00 53 74 c1 01 00');
    const m = Buffer.concat([header, props, hex('00 53 75 a0 01 61')]);
    expect(parseMessage(m).applicationPropertiesAt).toEqual([header.length, header.length + props.length]);
  });

  it('reads a header and properties written as empty lists (as rhea writes them) as the decoder reads any empty list', () => {
    const list0 = parseMessage(hex('00 53 70 45 00 53 73 45 00 53 75 a0 01 61'));
    const list8 = parseMessage(hex('00 53 70 c0 01 00 00 53 73 c0 01 00 00 53 75 a0 01 61'));
    expect(list0.header).toEqual({});
    expect(list0.properties).toEqual({});
    expect(list0.headerBytes).toBe(4);
    expect(list8.header).toEqual(list0.header);
    expect(list8.properties).toEqual(list0.properties);
    expect(list8.headerBytes).toBe(6);
    expect(list0.applicationPropertiesAt).toEqual([8, 8]);
    // a header that is not the first section has no size to re-stamp (§3.2)
    expect(parseMessage(hex('00 53 73 45 00 53 70 45')).headerBytes).toBeUndefined();
    // rhea's own encoding of a message with a body alone
    const m = toGatewayMessage(rhea.message.encode({ body: dataSection(Buffer.from('ab')) }), ctx);
    expect(m.body.toString()).toBe('ab');
    // no application-properties: the one shared empty map, not a map of its own
    expect(m.headers).toBe(NO_HEADERS);
    const props = toGatewayMessage(rhea.message.encode({ body: dataSection(Buffer.from('ab')), application_properties: { k: 'v' } }), ctx);
    expect([...props.headers]).toEqual([['k', 'v']]);
    expect(meta(m).headerBytes).toBe(4);
    expect(meta(m).durable).toBeUndefined();
  });

  it.each([
    ['a vbin8 past the end', '00 53 75 a0 05 6162'],
    ['a vbin32 past the end', '00 53 75 b0 00000009 6162'],
    ['a data section after an amqp-value', '00 53 77 a1 01 61 00 53 75 a0 01 61'],
    ['a data section after an amqp-sequence', '00 53 76 45 00 53 75 a0 01 61'],
    ['a data section holding a string', '00 53 75 a1 01 61'],
  ])('refuses %s with a decode error', (_name, h) => {
    expect(() => parseMessage(hex(h))).toThrow(/decode error|AMQP 1.0 message/);
  });
});

describe('AMQP 1.0 → canonical', () => {
  it('maps header, properties, application properties with their types, annotations and a data body', () => {
    const encoded = rheaEncoded();
    const m = toGatewayMessage(encoded, ctx);
    expect(m.body).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    expect(m).toMatchObject({ messageId: 'm-1', subject: 'subj', replyTo: 'replies', correlationId: 'corr-9', contentType: 'application/octet-stream', timestamp: 123_000, priority: 7, expiresAt: 1_005_000, guarantee: 'at-least-once' });
    expect(m.headers.get('u8')).toEqual(new TypedNumber('ubyte', 200));
    expect(m.headers.get('i16')).toEqual(new TypedNumber('short', -1234));
    expect(m.headers.get('i32')).toEqual(new TypedNumber('int', 70000));
    expect(m.headers.get('i64')).toEqual(new TypedNumber('long', -5n));
    expect(m.headers.get('ts')).toEqual(new Date(1_700_000_000_000));
    expect(m.headers.get('bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(m.headers.get('s')).toBe('text');
    expect(m.headers.get('b')).toBe(true);
    expect(meta(m)).toMatchObject({ durable: true, priority: 7, ttl: 5000, groupId: 'g', bodyType: 'data', messageAnnotations: { 'x-opt-thing': 'ann' } });
    expect(meta(m).encoded).toBe(encoded);
  });

  it('turns an amqp-value string into UTF-8 bytes with text/plain', () => {
    const m = toGatewayMessage(rhea.message.encode({ body: 'héllo' }), ctx);
    expect(m.body.toString('utf8')).toBe('héllo');
    expect(m.contentType).toBe('text/plain');
    expect(meta(m).bodyType).toBe('value-string');
  });

  it('keeps any other amqp-value as its encoded section, body = that encoding', () => {
    const encoded = rhea.message.encode({ body: { a: 1 } });
    const m = toGatewayMessage(encoded, ctx);
    expect(meta(m).bodyType).toBe('value');
    expect(m.body[0]).toBe(0x00);
    expect(m.body.subarray(1, 3)).toEqual(Buffer.from([0x53, 0x77]));
    // rhea writes empty header and properties sections first; the body is the last section
    expect(m.body).toEqual(encoded.subarray(encoded.length - m.body.length));
    expect(rhea.message.decode(m.body).body).toEqual({ a: 1 });
  });

  it('content-encoding (a symbol, §3.2.4) becomes contentEncoding', () => {
    const encoded = rhea.message.encode({ content_type: 'application/json', content_encoding: 'gzip', body: dataSection(Buffer.from([0x1f, 0x8b, 8, 0])) });
    // rhea writes it as the symbol the spec types it with
    expect(propertyOnWire(encoded, CONTENT_ENCODING)).toEqual({ type: 'symbol', value: 'gzip' });
    const m = toGatewayMessage(encoded, ctx);
    expect(m.contentEncoding).toBe('gzip');
    expect(m.contentType).toBe('application/json');
    expect(m.body).toEqual(Buffer.from([0x1f, 0x8b, 8, 0]));
    // absent stays absent
    expect(toGatewayMessage(rheaEncoded(), ctx).contentEncoding).toBeUndefined();
  });

  it('pre-settled transfers are at-most-once', () => {
    expect(toGatewayMessage(rheaEncoded(), { ...ctx, presettled: true }).guarantee).toBe('at-most-once');
  });
});

describe('canonical → AMQP 1.0', () => {
  it('forwards the exact bytes received when the route changed nothing', () => {
    const encoded = rheaEncoded();
    const m = toGatewayMessage(encoded, ctx);
    const copy = withChanges(m, {}); // what the router hands a sink
    const out = toAmqp10(copy, { to: 'x' });
    expect(out.passThrough).toBe(true);
    expect(out.bytes.equals(encoded)).toBe(true);
  });

  it('an intermediary sends the reduced ttl (§3.2.1): only the header section is written again, every other byte stays', () => {
    const encoded = rheaEncoded(); // ttl 5000, received at ctx.now
    const out = toAmqp10(withChanges(toGatewayMessage(encoded, ctx), {}), { to: 'x' });
    expect(out.passThrough).toBe(true);
    // leaving at once: the bytes as received
    expect(stampTtl(out, ctx.now).equals(encoded)).toBe(true);
    // leaving 2 s later: ttl 3000, the header's other fields as they were, the rest byte for byte
    const later = stampTtl(out, ctx.now + 2_000);
    const before = parseMessage(encoded);
    const after = parseMessage(later);
    expect(after.header).toEqual({ ...before.header, ttl: 3_000 });
    expect(later.subarray(after.headerBytes).equals(encoded.subarray(before.headerBytes))).toBe(true);
    // never below 1 ms while it is being sent
    expect(parseMessage(stampTtl(out, ctx.now + 9_000)).header?.ttl).toBe(1);
  });

  it('a message encoded again carries the ttl left; stampTtl counts it down further; without a ttl nothing changes', () => {
    const m = createMessage({ body: Buffer.from('b'), source: { connector: 'devices', protocol: 'mqtt', address: 'a/b' }, expiresAt: 1_010_000 });
    const out = toAmqp10(m, { to: 'x', now: 1_000_000 });
    expect(parseMessage(out.bytes).header?.ttl).toBe(10_000);
    expect(parseMessage(stampTtl(out, 1_004_000)).header).toEqual({ durable: true, ttl: 6_000 });
    expect(parseMessage(stampTtl(out, 1_004_000)).body).toEqual(parseMessage(out.bytes).body);
    const forever = toAmqp10(createMessage({ body: Buffer.from('b'), source: m.source }), { to: 'x', now: 1_000_000 });
    expect(stampTtl(forever, 9_999_999_999)).toBe(forever.bytes);
  });

  it('pass-through counts the hop: only the application-properties section is written again, with every other property and section as it was', () => {
    const bytes = rheaEncoded();
    const m = toGatewayMessage(bytes, ctx);
    const hopped = withChanges(m, { headers: withHops(m.headers, 1) });
    const out = toAmqp10(hopped, { to: 'x', now: 1_000_000 });
    expect(out.passThrough).toBe(true);
    const before = parseMessage(bytes);
    const after = parseMessage(out.bytes);
    expect(after.applicationProperties).toEqual([...(before.applicationProperties ?? []), ['x-ferry-hops', { type: 'byte', value: 1 }]]);
    const [s0, e0] = before.applicationPropertiesAt!;
    const [s1, e1] = after.applicationPropertiesAt!;
    expect(s1).toBe(s0);
    expect(out.bytes.subarray(0, s1).equals(bytes.subarray(0, s0))).toBe(true);
    expect(out.bytes.subarray(e1).equals(bytes.subarray(e0))).toBe(true);
    // the next passage replaces the count; a count that did not change leaves the bytes alone
    const again = toGatewayMessage(out.bytes, ctx);
    const twice = toAmqp10(withChanges(again, { headers: withHops(again.headers, 2) }), { to: 'x', now: 1_000_000 });
    expect(parseMessage(twice.bytes).applicationProperties?.filter(([k]) => k === 'x-ferry-hops')).toEqual([['x-ferry-hops', { type: 'byte', value: 2 }]]);
    expect(toAmqp10(again, { to: 'x', now: 1_000_000 }).bytes).toBe(out.bytes);
    // a message without application properties gets the section where §3.2 puts it, before the body
    const plain = rhea.message.encode({ message_id: 'p', body: dataSection(Buffer.from('b')) });
    const pm = toGatewayMessage(plain, ctx);
    const po = toAmqp10(withChanges(pm, { headers: withHops(pm.headers, 1) }), { to: 'x', now: 1_000_000 });
    const pp = parseMessage(po.bytes);
    expect(pp.applicationProperties).toEqual([['x-ferry-hops', { type: 'byte', value: 1 }]]);
    expect(pp.body).toEqual(parseMessage(plain).body);
    expect(pp.properties).toEqual(parseMessage(plain).properties);
  });

  it('re-encodes when a header changed, keeping every application-property type', () => {
    const m = toGatewayMessage(rheaEncoded(), ctx);
    const headers = new Map(m.headers);
    headers.set('x-site', 'lisbon');
    const out = toAmqp10(withChanges(m, { headers }), { to: 'dest', now: 1_001_000 });
    expect(out.passThrough).toBe(false);
    const p = parseMessage(out.bytes);
    const types = Object.fromEntries((p.applicationProperties ?? []).map(([k, v]) => [k, v.type]));
    expect(types).toEqual({ u8: 'ubyte', i16: 'short', i32: 'int', i64: 'long', ts: 'timestamp', bin: 'binary', s: 'string', b: 'boolean', 'x-site': 'string' });
    const back = toGatewayMessage(out.bytes, { ...ctx, now: 1_001_000 });
    expect(back.headers.get('u8')).toEqual(new TypedNumber('ubyte', 200));
    expect(back.headers.get('i16')).toEqual(new TypedNumber('short', -1234));
    expect(back.headers.get('ts')).toEqual(new Date(1_700_000_000_000));
    expect(back.body).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    expect(back.expiresAt).toBe(1_005_000);
    expect(p.header).toMatchObject({ durable: true, priority: 7, ttl: 4000 });
    expect(p.properties).toMatchObject({ to: 'dest', subject: 'subj', groupId: 'g', contentType: 'application/octet-stream' });
    expect(p.messageAnnotations).toBeDefined();
    expect(p.body.kind).toBe('data');
  });

  it('re-encodes when any field the sink writes from changed, however slightly: a header type, the body bytes, the correlation id, a header moved', () => {
    const encoded = rheaEncoded();
    const m = toGatewayMessage(encoded, ctx);
    const changedType = new Map(m.headers);
    changedType.set('u8', new TypedNumber('uint', 200)); // the same number, another AMQP type
    const body = Buffer.from(m.body);
    body[0] = 0; // the same size, another byte
    const moved = new Map([...m.headers].reverse());
    const changes: Partial<GatewayMessage>[] = [{ headers: changedType }, { body }, { correlationId: Buffer.from('corr-9') }, { headers: moved }, { priority: 3 }, { userId: 'someone' }];
    for (const c of changes) expect(toAmqp10(withChanges(m, c), { to: 'x', now: 1_000_000 }).passThrough).toBe(false);
    // equal values in new objects are no change: the bytes go as received
    const copied = new Map([...m.headers].map(([k, v]) => [k, v instanceof Buffer ? Buffer.from(v) : v instanceof Date ? new Date(v.getTime()) : v]));
    const same = toAmqp10(withChanges(m, { headers: copied, body: Buffer.from(m.body) }), { to: 'x', now: 1_000_000 });
    expect(same.passThrough).toBe(true);
    expect(same.bytes.equals(encoded)).toBe(true);
  });

  it('forwards an opaque message-format untouched, and refuses one a route changed', () => {
    const opaque = Buffer.from([1, 2, 3, 4]);
    const m = toGatewayMessage(opaque, { ...ctx, format: 0x1234 });
    const out = toAmqp10(withChanges(m, {}), { to: 'x' });
    expect(out).toMatchObject({ passThrough: true, format: 0x1234 });
    expect(out.bytes.equals(opaque)).toBe(true);
    expect(() => toAmqp10(withChanges(m, { subject: 's' }), { to: 'x' })).toThrow(/format 4660/);
  });

  it('writes a message from another protocol as ONE data section with the exact bytes', () => {
    const body = Buffer.from([0, 1, 2, 3, 0xff]);
    const m = createMessage({
      body,
      contentType: 'text/plain',
      messageId: 'id-1',
      headers: new Map<string, import('@ferry/core').HeaderValue>([
        ['n', 5],
        ['big', 1n << 40n],
        ['f', 1.5],
        ['t', new TypedNumber('uint', 9)],
        ['nested', { a: [1, 2] }],
      ]),
      source: { connector: 'mqtt', protocol: 'mqtt', address: 'a/b' },
    });
    const out = toAmqp10(m, { to: '/queue/x' });
    const p = parseMessage(out.bytes);
    expect(p.body).toEqual({ kind: 'data', chunks: [body] });
    expect(p.properties).toMatchObject({ messageId: { type: 'string', value: 'id-1' }, contentType: 'text/plain', to: '/queue/x' });
    const ap = Object.fromEntries(p.applicationProperties ?? []);
    expect(ap.n).toEqual({ type: 'byte', value: 5 });
    expect(ap.big).toEqual({ type: 'long', value: 1n << 40n });
    expect(ap.f).toEqual({ type: 'double', value: 1.5 });
    expect(ap.t).toEqual({ type: 'uint', value: 9 });
    // §3.2.5: application-property values are simple types; nested values travel as JSON text
    expect(ap.nested).toEqual({ type: 'string', value: '{"a":[1,2]}' });
    // a plain rhea client reads it back
    const decoded = rhea.message.decode(out.bytes);
    expect(Buffer.from((decoded.body as { content: Buffer }).content)).toEqual(body);
  });

  it('writes contentEncoding as the content-encoding symbol, from another protocol and after a change', () => {
    // from another protocol (e.g. an AMQP 0-9-1 content_encoding, a STOMP header)
    const m = createMessage({ body: Buffer.from([0x1f, 0x8b]), contentType: 'text/plain', contentEncoding: 'gzip', source: { connector: 'rabbit', protocol: 'amqp091', address: 'rk' } });
    const out = toAmqp10(m, { to: 'x' });
    expect(propertyOnWire(out.bytes, CONTENT_ENCODING)).toEqual({ type: 'symbol', value: 'gzip' });
    expect(parseMessage(out.bytes).properties?.contentEncoding).toBe('gzip');
    expect(rhea.message.decode(out.bytes).content_encoding).toBe('gzip');
    // without one, the field is absent (null), not an empty symbol
    const none = toAmqp10(createMessage({ body: Buffer.from('x'), source: { connector: 'rabbit', protocol: 'amqp091', address: 'rk' } }), { to: 'x' });
    expect(propertyOnWire(none.bytes, CONTENT_ENCODING) ?? { type: 'null' }).toEqual({ type: 'null' });
    // an AMQP 1.0 message whose content-encoding a route changed is re-encoded with the new one
    const received = toGatewayMessage(rhea.message.encode({ content_encoding: 'gzip', body: dataSection(Buffer.from('z')) }), ctx);
    const changed = toAmqp10(withChanges(received, { contentEncoding: 'deflate' }), { to: 'x' });
    expect(changed.passThrough).toBe(false);
    expect(propertyOnWire(changed.bytes, CONTENT_ENCODING)).toEqual({ type: 'symbol', value: 'deflate' });
    // and travels untouched when nothing changed
    const same = toAmqp10(withChanges(received, {}), { to: 'x' });
    expect(same.passThrough).toBe(true);
    expect(toGatewayMessage(same.bytes, ctx).contentEncoding).toBe('gzip');
  });

  it('restores an amqp-value that is still the section it came as', () => {
    const encoded = rhea.message.encode({ body: [1, 'two'], application_properties: { a: 'b' } });
    const m = toGatewayMessage(encoded, ctx);
    const headers = new Map(m.headers);
    headers.delete('a');
    const out = toAmqp10(withChanges(m, { headers }), { to: 'x' });
    expect(parseMessage(out.bytes).body.kind).toBe('value');
    expect(rhea.message.decode(out.bytes).body).toEqual([1, 'two']);
  });
});
