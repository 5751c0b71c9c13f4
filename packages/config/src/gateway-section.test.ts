import { jsonSchema, parseConfig, parseByteSize, type LoadResult } from './index.js';
import { fakeRegistry } from '../test/fake-connectors.js';

const registry = fakeRegistry();

function load(gateway: string): LoadResult {
  const yaml = `${gateway}
connectors:
  devices: { type: mqtt-listener, port: 11883 }
  rabbit: { type: amqp091, url: "amqp://127.0.0.1:5672" }
routes:
  - name: up
    from: { connector: devices, topic: "a/+" }
    to: { connector: rabbit, exchange: x, routingKey: "a.{1}" }
`;
  return parseConfig(yaml, 'spool.yaml', registry, { env: {}, defaultId: 'host-1' });
}

function lines(result: LoadResult): string[] {
  return result.ok ? [] : result.errors.map((e) => e.format());
}

describe('gateway.spool', () => {
  it('is absent unless written', () => {
    const r = load('gateway: { id: g1 }');
    expect(r.ok && r.config.gateway.spool).toBeUndefined();
  });

  it('fills the defaults: 1 GiB, refuse; dir as written (resolved against baseDir by the gateway)', () => {
    const r = load('gateway:\n  spool: { dir: .spool/edge }');
    expect(lines(r)).toEqual([]);
    expect(r.ok && r.config.gateway.spool).toEqual({ dir: '.spool/edge', maxBytes: 1024 ** 3, overflow: 'refuse' });
  });

  it('takes sizes with units and the drop-oldest policy', () => {
    const r = load('gateway:\n  spool: { dir: /var/lib/ferry, maxBytes: 512MiB, overflow: drop-oldest }');
    expect(r.ok && r.config.gateway.spool).toEqual({ dir: '/var/lib/ferry', maxBytes: 512 * 1024 ** 2, overflow: 'drop-oldest' });
    const n = load('gateway:\n  spool: { dir: s, maxBytes: 1000000 }');
    expect(n.ok && n.config.gateway.spool?.maxBytes).toBe(1_000_000);
  });

  it('reports every mistake with its position', () => {
    const r = load(`gateway:
  spool:
    maxBytes: 12 parsecs
    overflow: drop-newest
    sync: false`);
    expect(lines(r)).toEqual([
      'spool.yaml:3:5 gateway.spool.dir: missing required field "dir" (a string)',
      'spool.yaml:3:15 gateway.spool.maxBytes: expected a positive number of bytes, or a size like 512MiB, 1GiB, 200MB (units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB), found "12 parsecs"',
      'spool.yaml:4:15 gateway.spool.overflow: expected "refuse" or "drop-oldest", found "drop-newest"',
      'spool.yaml:5:5 gateway.spool.sync: unknown key "sync"; expected one of: dir, maxBytes, overflow',
    ]);
  });

  it('refuses a zero or negative size', () => {
    expect(lines(load('gateway:\n  spool: { dir: s, maxBytes: 0 }'))).toHaveLength(1);
    expect(lines(load('gateway:\n  spool: { dir: s, maxBytes: -5MiB }'))).toHaveLength(1);
  });

  it('parses sizes', () => {
    expect(parseByteSize('1GiB')).toBe(1024 ** 3);
    expect(parseByteSize('1.5 kB')).toBe(1500);
    expect(parseByteSize('10')).toBe(10);
    expect(parseByteSize('10 mib')).toBe(10 * 1024 ** 2);
    expect(parseByteSize(4096)).toBe(4096);
    expect(parseByteSize(1.5)).toBeUndefined();
    expect(parseByteSize('1 parsec')).toBeUndefined();
    expect(parseByteSize('0B')).toBeUndefined();
  });

  it('is described in the JSON Schema editors use', () => {
    const schema = jsonSchema(registry) as { properties: { gateway: { properties: Record<string, { properties?: Record<string, unknown> }> } } };
    const spool = schema.properties.gateway.properties['spool'];
    expect(Object.keys(spool?.properties ?? {}).sort()).toEqual(['dir', 'maxBytes', 'overflow']);
  });
});
