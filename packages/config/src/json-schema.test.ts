import { z } from 'zod';
import { jsonSchema } from './index.js';
import { fakeRegistry } from '../test/fake-connectors.js';

type Json = Record<string, unknown>;
const obj = (v: unknown): Json => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`not an object: ${JSON.stringify(v)}`);
  return v as Json;
};

describe('jsonSchema', () => {
  const registry = fakeRegistry();
  const schema = jsonSchema(registry);
  const defs = obj(schema['$defs']);

  it('is draft 2020-12 with the three sections, connectors and routes required', () => {
    expect(schema['$schema']).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(obj(schema['properties']))).toEqual(['gateway', 'connectors', 'routes']);
    expect(schema['required']).toEqual(['connectors', 'routes']);
    expect(schema['additionalProperties']).toBe(false);
  });

  it('describes connectors as a union discriminated by type, with every option of every type', () => {
    const connectors = obj(obj(schema['properties'])['connectors']);
    const branches = obj(connectors['additionalProperties'])['oneOf'] as Json[];
    expect(branches.map((b) => b['$ref'])).toEqual([...registry.keys()].map((t) => `#/$defs/connector-${t}`));
    for (const [type, def] of registry) {
      const d = obj(defs[`connector-${type}`]);
      const props = obj(d['properties']);
      expect(obj(props['type'])['const']).toBe(type);
      expect(d['required']).toContain('type');
      expect(d['additionalProperties']).toBe(false);
      // drift guard: the schema lists exactly the options zod accepts, plus `type`
      const shape = (def.options as unknown as z.ZodObject).shape as Record<string, unknown>;
      expect(Object.keys(props).sort()).toEqual(['type', ...Object.keys(shape)].sort());
    }
  });

  it('describes from/to as anyOf over the types\' schemas, each with `connector`, identical shapes once', () => {
    const route = obj(defs['route']);
    const props = obj(route['properties']);
    const fromRefs = (obj(props['from'])['anyOf'] as Json[]).map((r) => r['$ref']);
    expect(fromRefs).toEqual(['#/$defs/from-mqtt', '#/$defs/from-amqp091', '#/$defs/from-amqp10', '#/$defs/from-stomp', '#/$defs/from-clock']);
    expect(obj(defs['from-mqtt'])['title']).toBe('from of mqtt, mqtt-listener');
    expect(obj(obj(defs['from-mqtt'])['properties'])['connector']).toMatchObject({ type: 'string' });
    // a union `from` (amqp091: queue, or exchange + bindingKey) gets `connector` in each branch
    for (const b of obj(defs['from-amqp091'])['anyOf'] as Json[]) expect(b['required']).toContain('connector');
    // `to`: one map or a non-empty list of them
    const to = obj(props['to'])['anyOf'] as Json[];
    expect(to).toHaveLength(2);
    expect(to[1]).toMatchObject({ type: 'array', minItems: 1 });
    expect(route['required']).toEqual(['name', 'from', 'to']);
    // the log type has no `from`, the clock type no `to`
    expect(defs['from-log']).toBeUndefined();
    expect(defs['to-clock']).toBeUndefined();
  });

  it('is plain JSON', () => {
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});
