import { createMessage, TypedNumber } from '@ferry/core';
import { DeviceParts } from './device-parts.js';
import { fromMqttPublish, headersToUserProperties, toMqttPublish, userPropertiesToHeaders } from './mapping.js';

const NOW = 1_700_000_000_000;

describe('MQTT → GatewayMessage', () => {
  it('maps every MQTT 5 property', () => {
    const m = fromMqttPublish(
      {
        topic: 'site/a/temp',
        payload: Buffer.from([0, 1, 2, 255]),
        qos: 1,
        retain: true,
        properties: {
          userProperties: { a: '1', rep: ['x', 'y'] },
          contentType: 'application/octet-stream',
          correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]),
          responseTopic: 'reply/here',
          messageExpiryInterval: 60,
          payloadFormatIndicator: false,
        },
      },
      'plant',
      NOW,
    );
    expect(m.body).toEqual(Buffer.from([0, 1, 2, 255]));
    expect([...m.headers]).toEqual([
      ['a', '1'],
      ['rep', ['x', 'y']],
    ]);
    expect(m.contentType).toBe('application/octet-stream');
    expect(m.correlationId).toEqual(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]));
    expect(m.replyTo).toBe('reply/here');
    expect(m.expiresAt).toBe(NOW + 60_000);
    expect(m.retain).toBe(true);
    expect(m.guarantee).toBe('at-least-once');
    expect(m.source).toEqual({ connector: 'plant', protocol: 'mqtt', address: 'site/a/temp' });
    expect(m.meta.mqtt).toEqual({ qos: 1, payloadFormatIndicator: false });
  });

  it('QoS 0 is at-most-once; 3.1.1 publishes have no properties', () => {
    const m = fromMqttPublish({ topic: 't', payload: Buffer.from('x'), qos: 0, retain: false }, 'c', NOW);
    expect(m.guarantee).toBe('at-most-once');
    expect(m.headers.size).toBe(0);
    expect(m.expiresAt).toBeUndefined();
    expect(m.meta.mqtt).toEqual({ qos: 0 });
  });

  it("a device's messages share meta and source (the same values as their own), except a will's and one with a payload format indicator", () => {
    const parts = new DeviceParts('devices', 'd1');
    const device = { clientId: 'd1', will: false };
    const publish = (topic: string, qos: 0 | 1, properties?: { payloadFormatIndicator: boolean }) => ({ topic, payload: Buffer.from('x'), qos, retain: false, ...(properties ? { properties } : {}) });
    const a = fromMqttPublish(publish('t/1', 1), 'devices', NOW, parts);
    const b = fromMqttPublish(publish('t/1', 1), 'devices', NOW, parts);
    const own = fromMqttPublish(publish('t/1', 1), 'devices', NOW, device);
    expect(b.meta).toBe(a.meta);
    expect(b.source).toBe(a.source);
    expect(JSON.stringify([a.meta, a.source])).toBe(JSON.stringify([own.meta, own.source]));
    const q0 = fromMqttPublish(publish('t/2', 0), 'devices', NOW, parts);
    expect(q0.meta).toEqual({ mqtt: { qos: 0, clientId: 'd1' } });
    expect(q0.source).toEqual({ connector: 'devices', protocol: 'mqtt', address: 't/2' });
    expect(fromMqttPublish(publish('t/1', 1), 'devices', NOW, { ...device, will: true }).meta).toEqual({ mqtt: { qos: 1, clientId: 'd1', will: true } });
    expect(fromMqttPublish(publish('t/1', 1, { payloadFormatIndicator: true }), 'devices', NOW, parts).meta).toEqual({ mqtt: { qos: 1, payloadFormatIndicator: true, clientId: 'd1' } });
    expect(Object.isFrozen(a.meta.mqtt) && Object.isFrozen(a.source)).toBe(true);
  });

  it('QoS 2 is at-least-once', () => {
    expect(fromMqttPublish({ topic: 't', payload: Buffer.alloc(0), qos: 2, retain: false }, 'c', NOW).guarantee).toBe('at-least-once');
  });
});

describe('GatewayMessage → MQTT', () => {
  const base = createMessage({ body: Buffer.from('hello'), source: { connector: 'r', protocol: 'amqp091', address: 'a.b' } });

  it('MQTT 5: every canonical field becomes its property', () => {
    const msg = createMessage({
      ...base,
      headers: new Map<string, import('@ferry/core').HeaderValue>([
        ['s', 'v'],
        ['n', 42],
        ['t', new TypedNumber('ubyte', 7)],
        ['b', new Uint8Array([1, 2])],
        ['list', ['p', 'q']],
      ]),
      contentType: 'text/plain',
      correlationId: 'corr-1',
      replyTo: 'r/t',
      expiresAt: NOW + 10_500,
      retain: true,
      meta: { mqtt: { payloadFormatIndicator: true } },
    });
    const r = toMqttPublish(msg, { topic: 'x/y', qos: 1 }, 5, NOW);
    expect(r.kind).toBe('publish');
    if (r.kind !== 'publish') return;
    expect(r.publish.topic).toBe('x/y');
    expect(r.publish.payload).toBe(msg.body);
    expect(r.publish.retain).toBe(true);
    expect(r.publish.properties).toEqual({
      payloadFormatIndicator: true,
      messageExpiryInterval: 11,
      responseTopic: 'r/t',
      correlationData: Buffer.from('corr-1', 'utf8'),
      userProperties: { s: 'v', n: '42', t: '7', b: 'AQI=', list: ['p', 'q'] },
      contentType: 'text/plain',
    });
  });

  it('binary correlation id stays binary; the route can override retain', () => {
    const msg = createMessage({ ...base, correlationId: Buffer.from([1, 2, 3]), retain: true });
    const r = toMqttPublish(msg, { topic: 't', qos: 0, retain: false }, 5, NOW);
    if (r.kind !== 'publish') throw new Error('expected publish');
    expect(r.publish.properties?.correlationData).toEqual(Buffer.from([1, 2, 3]));
    expect(r.publish.retain).toBe(false);
  });

  it('correlation data: valid UTF-8 is a text id, other bytes a binary id; a binary id that reads as text is marked and comes back binary', () => {
    const pub = (correlationData: Buffer, userProperties?: Record<string, string>) =>
      fromMqttPublish({ topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, properties: { correlationData, ...(userProperties ? { userProperties } : {}) } }, 'c', NOW);
    expect(pub(Buffer.from('req-42\0*')).correlationId).toBe('req-42\0*');
    expect(pub(Buffer.from([0xff])).correlationId).toEqual(Buffer.from([0xff]));
    // the marker is read and removed
    const marked = pub(Buffer.from('abc'), { 'ferry-correlation-encoding': 'binary', k: 'v' });
    expect(marked.correlationId).toEqual(Buffer.from('abc'));
    expect([...marked.headers]).toEqual([['k', 'v']]);
    // out: a binary id that is valid UTF-8 carries the marker; a text id and other bytes do not
    const out = (correlationId: string | Buffer) => {
      const r = toMqttPublish(createMessage({ ...base, correlationId }), { topic: 't', qos: 1 }, 5, NOW);
      if (r.kind !== 'publish') throw new Error('expected publish');
      return r.publish.properties;
    };
    expect(out(Buffer.from('abc'))).toEqual({ correlationData: Buffer.from('abc'), userProperties: { 'ferry-correlation-encoding': 'binary' } });
    expect(out('abc')).toEqual({ correlationData: Buffer.from('abc') });
    expect(out(Buffer.from([0xff, 0x00]))).toEqual({ correlationData: Buffer.from([0xff, 0x00]) });
    // and each comes back as it was
    for (const id of [Buffer.from('abc'), 'abc', Buffer.from([0xff, 0x00]), 'x\0y']) {
      const p = out(id) ?? {};
      const back = fromMqttPublish({ topic: 't', payload: Buffer.alloc(0), qos: 1, retain: false, properties: p }, 'c', NOW);
      expect(back.correlationId).toEqual(id);
      expect(back.headers.size).toBe(0);
    }
  });

  it('an expired message is not sent (MQTT 5 §3.3.2.3.3), in 3.1.1 too', () => {
    const msg = createMessage({ ...base, expiresAt: NOW - 1 });
    expect(toMqttPublish(msg, { topic: 't', qos: 1 }, 5, NOW).kind).toBe('expired');
    expect(toMqttPublish(msg, { topic: 't', qos: 1 }, 4, NOW).kind).toBe('expired');
    expect(toMqttPublish(createMessage({ ...base, expiresAt: NOW }), { topic: 't', qos: 1 }, 5, NOW).kind).toBe('expired');
  });

  it('MQTT 3.1.1 carries no properties', () => {
    const msg = createMessage({ ...base, headers: new Map([['a', 'b']]), contentType: 'x/y', expiresAt: NOW + 5000 });
    const r = toMqttPublish(msg, { topic: 't', qos: 2 }, 4, NOW);
    if (r.kind !== 'publish') throw new Error('expected publish');
    expect(r.publish).toEqual({ topic: 't', payload: msg.body, qos: 2, retain: false });
  });

  it('no properties object when there is nothing to carry', () => {
    const r = toMqttPublish(base, { topic: 't', qos: 1 }, 5, NOW);
    if (r.kind !== 'publish') throw new Error('expected publish');
    expect(r.publish.properties).toBeUndefined();
  });

  it('round trip MQTT 5 → canonical → MQTT 5 keeps everything', () => {
    const props = {
      userProperties: { k: ['1', '2'], z: 'last' },
      contentType: 'application/json',
      correlationData: Buffer.from([0xff, 0]),
      responseTopic: 'resp',
      messageExpiryInterval: 30,
      payloadFormatIndicator: true,
    };
    const m = fromMqttPublish({ topic: 'a/b', payload: Buffer.from('{}'), qos: 1, retain: false, properties: props }, 'c', NOW);
    const r = toMqttPublish(m, { topic: 'c/d', qos: 1 }, 5, NOW + 2000);
    if (r.kind !== 'publish') throw new Error('expected publish');
    expect(r.publish.properties).toEqual({ ...props, messageExpiryInterval: 28 });
  });

  it('user property helpers', () => {
    expect(headersToUserProperties(new Map())).toBeUndefined();
    expect([...userPropertiesToHeaders(undefined)]).toEqual([]);
    expect(headersToUserProperties(new Map([['d', new Date(0)]]))).toEqual({ d: '1970-01-01T00:00:00.000Z' });
  });
});
