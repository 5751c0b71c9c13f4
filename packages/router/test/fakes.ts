/**
 * Fake connector definitions and sinks for the router's unit tests. They only describe address
 * fields (schemas, syntax, templateFields); nothing here talks to a broker.
 */
import { z } from 'zod';
import {
  clientRole,
  defineConnector,
  type AnyConnectorDefinition,
  type Connector,
  type ConnectorSpec,
  type GatewayMessage,
  type Sink,
} from '@ferry/core';
import type { ConnectorEntry } from '../src/check.js';

function notBuildable(): Connector {
  throw new Error('fake definitions build no connector');
}

/** what every fake here is: a client of a broker, taking a `url`, built by nothing */
const fakeClient = { ...clientRole, options: z.strictObject({ url: z.string() }), create: notBuildable } as const;

const mqttDef = defineConnector({
  ...fakeClient,
  type: 'mqtt',
  protocol: 'mqtt',
  description: 'fake mqtt',
  from: z.strictObject({ topic: z.string(), qos: z.number().optional() }),
  to: z.strictObject({ topic: z.string(), qos: z.number().optional(), retain: z.boolean().optional() }),
  syntax: 'mqtt',
  sourcePattern: (from: { topic: string }) => from.topic,
  templateFields: ['topic'],
});

const amqpDef = defineConnector({
  ...fakeClient,
  type: 'amqp091',
  protocol: 'amqp091',
  description: 'fake amqp091',
  from: z.strictObject({ queue: z.string().optional(), exchange: z.string().optional(), bindingKey: z.string().optional() }),
  to: z.strictObject({ exchange: z.string(), routingKey: z.string(), mandatory: z.boolean().optional() }),
  syntax: 'amqp',
  sourcePattern: (from: { queue?: string | undefined; bindingKey?: string | undefined }) => (from.queue !== undefined ? undefined : (from.bindingKey ?? '#')),
  templateFields: ['exchange', 'routingKey'],
  nameFields: ['exchange'],
});

const stompDef = defineConnector({
  ...fakeClient,
  type: 'stomp',
  protocol: 'stomp',
  description: 'fake stomp',
  from: z.strictObject({ destination: z.string() }),
  to: z.strictObject({ destination: z.string() }),
  syntax: 'stomp',
  sourcePattern: (from: { destination: string }) => from.destination,
  templateFields: ['destination'],
});

const amqp10Def = defineConnector({
  ...fakeClient,
  type: 'amqp10',
  protocol: 'amqp10',
  description: 'fake amqp10',
  from: z.strictObject({ address: z.string() }),
  to: z.strictObject({ address: z.string(), subject: z.string().optional() }),
  syntax: 'amqp10',
  sourcePattern: (from: { address: string }) => from.address,
  templateFields: ['address'],
});

/** name → definition: plant (mqtt), rabbit (amqp091), web (stomp), artemis (amqp10) */
export function fakeConnectors(
  extra: Record<string, AnyConnectorDefinition> = {},
): Map<string, ConnectorEntry> {
  const defs: Record<string, AnyConnectorDefinition> = {
    plant: mqttDef,
    devices: mqttDef,
    rabbit: amqpDef,
    web: stompDef,
    artemis: amqp10Def,
    ...extra,
  };
  const out = new Map<string, ConnectorEntry>();
  for (const [name, definition] of Object.entries(defs)) {
    const spec: ConnectorSpec = { name, type: definition.type, options: { url: 'x://' } };
    out.set(name, { spec, definition });
  }
  return out;
}

export interface Write {
  readonly message: GatewayMessage;
  readonly to: Record<string, unknown>;
  resolve(): void;
  reject(err: unknown): void;
}

/** A sink whose writes stay pending until the test resolves or rejects them. */
export class ManualSink implements Sink<Record<string, unknown>> {
  readonly writes: Write[] = [];
  #waiters: (() => void)[] = [];

  write(message: GatewayMessage, to: Record<string, unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.writes.push({ message, to, resolve, reject });
      const w = this.#waiters;
      this.#waiters = [];
      for (const f of w) f();
    });
  }

  /** resolves once at least `n` writes arrived */
  async waitFor(n: number): Promise<void> {
    while (this.writes.length < n) await new Promise<void>((r) => this.#waiters.push(r));
  }
}

/** A sink that confirms every write at once. */
export class InstantSink implements Sink<Record<string, unknown>> {
  readonly writes: { message: GatewayMessage; to: Record<string, unknown> }[] = [];
  write(message: GatewayMessage, to: Record<string, unknown>): Promise<void> {
    this.writes.push({ message, to });
    return Promise.resolve();
  }
}

/** Counts the timers set while `fn` runs (until its promise settles), then puts setTimeout back. */
export async function countTimers(fn: () => unknown): Promise<number> {
  const original = globalThis.setTimeout;
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return original(...args);
  }) as typeof setTimeout;
  try {
    await fn();
  } finally {
    globalThis.setTimeout = original;
  }
  return timers;
}
