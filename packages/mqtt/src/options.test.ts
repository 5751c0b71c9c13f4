import { z } from 'zod';
import { mqttDefinition, mqttListenerDefinition } from './index.js';
import { mqttFrom, mqttListenerOptions, mqttOptions, mqttTo } from './options.js';

describe('option schemas', () => {
  it('mqtt: defaults', () => {
    const o = mqttOptions.parse({ url: 'mqtt://127.0.0.1:1883' });
    expect(o).toMatchObject({ protocolVersion: 4, clean: false, sessionExpiryInterval: 86400, keepalive: 30, maxInflight: 1000, reconnect: { initialMs: 500, maxMs: 30000 } });
    expect(mqttFrom.parse({ topic: 'a/#' })).toEqual({ topic: 'a/#', qos: 1 });
    expect(mqttTo.parse({ topic: 'a/b' })).toEqual({ topic: 'a/b', qos: 1 });
  });

  it('mqtt: unknown keys and bad values are errors', () => {
    expect(mqttOptions.safeParse({ url: 'mqtt://h:1', bogus: 1 }).success).toBe(false);
    expect(mqttOptions.safeParse({ url: 'http://h:1' }).success).toBe(false);
    expect(mqttOptions.safeParse({ url: 'mqtt://h:1', protocolVersion: 3 }).success).toBe(false);
    expect(mqttFrom.safeParse({ topic: 'a', qos: 3 }).success).toBe(false);
    expect(mqttTo.safeParse({ topic: 'a', exchange: 'x' }).success).toBe(false);
    expect(mqttOptions.safeParse({ url: 'mqtts://h:1', tls: { ca: 'ca.pem', nope: true } }).success).toBe(false);
  });

  it('mqtt-listener: defaults and ports', () => {
    const o = mqttListenerOptions.parse({ port: 1883 });
    expect(o).toMatchObject({ host: '0.0.0.0', maxPacketSize: 1_048_576 });
    expect(o.keepaliveLimit).toBeUndefined();
    expect(o.allowAnonymous).toBeUndefined();
    expect(mqttListenerDefinition.listenPorts(o)).toEqual([1883]);
    expect(mqttListenerOptions.safeParse({ port: 1883, users: [{ username: 'u' }] }).success).toBe(false);
  });

  it('definitions', () => {
    for (const d of [mqttDefinition, mqttListenerDefinition]) {
      expect(d.protocol).toBe('mqtt');
      expect(d.syntax).toBe('mqtt');
      expect(d.templateFields).toEqual(['topic']);
      expect(d.sourcePattern({ topic: 'a/+/c', qos: 1 } as never)).toBe('a/+/c');
    }
    expect(mqttDefinition.type).toBe('mqtt');
    expect(mqttListenerDefinition.type).toBe('mqtt-listener');
  });

  it('every field is described (docs and JSON Schema are generated from them)', () => {
    const missing: string[] = [];
    const walk = (schema: unknown, path: string): void => {
      const s = schema as { properties?: Record<string, unknown>; items?: unknown; description?: string };
      if (s.properties !== undefined) {
        for (const [k, v] of Object.entries(s.properties)) {
          if ((v as { description?: string }).description === undefined) missing.push(`${path}.${k}`);
          walk(v, `${path}.${k}`);
        }
      }
      if (s.items !== undefined) walk(s.items, `${path}[]`);
    };
    const all = { mqttOptions, mqttFrom, mqttTo, mqttListenerOptions };
    for (const [name, schema] of Object.entries(all)) walk(z.toJSONSchema(schema, { io: 'input' }), name);
    for (const d of [mqttListenerDefinition]) {
      walk(z.toJSONSchema(d.from as z.ZodType, { io: 'input' }), 'listener.from');
      walk(z.toJSONSchema(d.to as z.ZodType, { io: 'input' }), 'listener.to');
    }
    expect(missing).toEqual([]);
  });
});
