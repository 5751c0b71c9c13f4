import { z } from 'zod';
import { defineConnector, noopMetrics, silentLogger, type AnyConnectorDefinition, type Connector } from '@ferry/core';
import { parseConfig } from '@ferry/config';
import { Gateway } from './gateway.js';

/** Records the order in which the gateway calls each connector. */
function recordingType(type: string, listener: boolean, calls: string[]): AnyConnectorDefinition {
  const record = (call: string): Promise<void> => {
    calls.push(call);
    return Promise.resolve();
  };
  return defineConnector({
    type,
    protocol: 'mqtt',
    description: 'test connector recording calls',
    options: z.strictObject({ port: z.number().optional() }),
    from: z.strictObject({ topic: z.string() }),
    to: z.strictObject({ topic: z.string() }),
    syntax: 'mqtt',
    sourcePattern: (f) => f.topic,
    templateFields: ['topic'],
    listenPorts: (o) => (o.port === undefined ? [] : [o.port]),
    capabilities: { listener },
    create: (_ctx, name): Connector<{ topic: string }, { topic: string }> => ({
      name,
      type,
      state: 'up',
      start: () => record(`${name}.start`),
      stop: () => record(`${name}.stop`),
      openSources: () => record(`${name}.openSources`),
      closeSources: () => record(`${name}.closeSources`),
      sink: { write: () => Promise.resolve() },
    }),
  });
}

describe('Gateway start order', () => {
  it("opens a listener's sources before it listens, and a client's after it connected", async () => {
    const calls: string[] = [];
    const registry = new Map([
      ['test-listener', recordingType('test-listener', true, calls)],
      ['test-client', recordingType('test-client', false, calls)],
    ]);
    const parsed = parseConfig(
      `
connectors:
  devices: { type: test-listener, port: 1 }
  broker: { type: test-client }
routes:
  - { name: up, from: { connector: devices, topic: "a/#" }, to: { connector: broker, topic: "b" } }
  - { name: down, from: { connector: broker, topic: "c/#" }, to: { connector: devices, topic: "d" } }
`,
      'order.yaml',
      registry,
    );
    if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.format()).join('\n'));
    const gateway = new Gateway(parsed.config, { registry, logger: silentLogger, metrics: noopMetrics });
    await gateway.start();
    // each call must have happened (indexOf gives -1 for a missing one, which is "before" anything)
    const order = (first: string, then: string): [number, number] => {
      expect(calls).toContain(first);
      expect(calls).toContain(then);
      return [calls.indexOf(first), calls.indexOf(then)];
    };
    const before = ([a, b]: [number, number]): void => expect(a).toBeLessThan(b);
    before(order('devices.openSources', 'devices.start'));
    before(order('broker.start', 'broker.openSources'));
    await gateway.stop(100);
    before(order('devices.closeSources', 'devices.stop'));
    before(order('broker.closeSources', 'broker.stop'));
  });
});

describe('connector types load their code when a configuration uses them', () => {
  /** a type whose `create` works only after its `load` (as the registry's definitions do) */
  function lazyType(type: string, loads: string[]): AnyConnectorDefinition {
    const base = recordingType(type, false, []);
    let loaded = false;
    return {
      ...base,
      load: () => {
        loads.push(type);
        loaded = true;
        return Promise.resolve();
      },
      create: (ctx, name, options) => {
        if (!loaded) throw new Error(`${type} created before load()`);
        return base.create(ctx, name, options);
      },
    };
  }

  const file = (connectors: string): string => `connectors:\n${connectors}routes: []\n`;

  it('Gateway.load loads only the types of the file; a reload loads a type the running file did not use', async () => {
    const loads: string[] = [];
    const registry = new Map([
      ['used', lazyType('used', loads)],
      ['unused', lazyType('unused', loads)],
      ['later', lazyType('later', loads)],
    ]);
    const parse = (text: string): Parameters<typeof Gateway.load>[0] => {
      const parsed = parseConfig(text, 'lazy.yaml', registry);
      if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.format()).join('\n'));
      return parsed.config;
    };
    const opts = { registry, logger: silentLogger, metrics: noopMetrics };
    const first = parse(file('  a: { type: used }\n  b: { type: used }\n'));
    expect(() => new Gateway(first, opts)).toThrow('used created before load()');
    const gateway = await Gateway.load(first, opts);
    expect(loads).toEqual(['used']);
    await gateway.start();
    await gateway.reconfigure(parse(file('  a: { type: used }\n  c: { type: later }\n')), 1_000);
    expect(loads).toEqual(['used', 'used', 'later']);
    expect(Object.keys(gateway.connectorStates()).sort()).toEqual(['a', 'c']);
    await gateway.stop(1_000);
  });
});
