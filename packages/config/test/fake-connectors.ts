/**
 * Fake connector definitions for the config package's tests. They mirror the real types of
 * docs/route-files.md (options, the `from`/`to` fields of the Addresses table, listener ports,
 * syntax, template fields, source patterns) but build nothing: the loader never creates
 * connectors. `log` (a sink without `from`) and `clock` (a source without `to`) are test-only types
 * for the "cannot be a source / a destination" checks.
 */
import { z } from 'zod';
import { defineConnector, type AnyConnectorDefinition, type Capabilities } from '@ferry/core';

const client: Capabilities = { listener: false };
const listener: Capabilities = { ...client, listener: true };

/** `never`, not `Connector`: a return type here would be an inference site for each definition's `from` and `to` types */
function notBuildable(): never {
  throw new Error('fake definitions build no connector');
}

const port = (dflt: number) => z.int().min(0).max(65535).default(dflt);
const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

const mqttFrom = z.strictObject({ topic: z.string().min(1), qos: qos.default(1) });
const mqttTo = z.strictObject({ topic: z.string().min(1), qos: qos.default(1), retain: z.boolean().default(false) });

export const mqtt = defineConnector({
  type: 'mqtt',
  protocol: 'mqtt',
  description: 'a client of an MQTT broker',
  options: z.strictObject({
    url: z.string().regex(/^mqtts?:\/\//, { error: 'expected an mqtt:// or mqtts:// URL' }),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
    clientId: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    keepalive: z.int().min(0).default(30),
  }),
  from: mqttFrom,
  to: mqttTo,
  syntax: 'mqtt',
  sourcePattern: (f) => f.topic,
  templateFields: ['topic'],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

export const mqttListener = defineConnector({
  type: 'mqtt-listener',
  protocol: 'mqtt',
  description: 'an embedded MQTT server devices connect to',
  options: z.strictObject({ port: port(1883), host: z.string().default('0.0.0.0'), maxClients: z.int().min(1).optional() }),
  from: mqttFrom,
  to: mqttTo,
  syntax: 'mqtt',
  sourcePattern: (f) => f.topic,
  templateFields: ['topic'],
  listenPorts: (o) => [o.port],
  capabilities: listener,
  create: notBuildable,
});

/** either a queue, or an exchange and a binding key (the gateway declares its own queue) */
const amqp091From = z.union([
  z.strictObject({ queue: z.string().min(1), prefetch: z.int().min(1).optional() }),
  z.strictObject({ exchange: z.string(), bindingKey: z.string(), prefetch: z.int().min(1).optional() }),
]);

export const amqp091 = defineConnector({
  type: 'amqp091',
  protocol: 'amqp091',
  description: 'a client of an AMQP 0-9-1 broker (RabbitMQ)',
  options: z.strictObject({ url: z.string().regex(/^amqps?:\/\//, { error: 'expected an amqp:// or amqps:// URL' }), heartbeat: z.int().min(0).default(30) }),
  from: amqp091From,
  to: z.strictObject({ exchange: z.string(), routingKey: z.string(), persistent: z.boolean().default(true) }),
  syntax: 'amqp',
  sourcePattern: (f) => ('queue' in f ? undefined : f.bindingKey),
  templateFields: ['exchange', 'routingKey'],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

const amqp10Address = z.strictObject({ address: z.string().min(1) });

export const amqp10 = defineConnector({
  type: 'amqp10',
  protocol: 'amqp10',
  description: 'a client of an AMQP 1.0 peer',
  options: z.strictObject({ url: z.string() }),
  from: amqp10Address,
  to: amqp10Address,
  syntax: 'amqp10',
  sourcePattern: (f) => f.address,
  templateFields: ['address'],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

export const amqp10Listener = defineConnector({
  type: 'amqp10-listener',
  protocol: 'amqp10',
  description: 'an embedded AMQP 1.0 endpoint',
  options: z.strictObject({ port: port(5672), host: z.string().default('0.0.0.0') }),
  from: amqp10Address,
  to: amqp10Address,
  syntax: 'amqp10',
  sourcePattern: (f) => f.address,
  templateFields: ['address'],
  listenPorts: (o) => [o.port],
  capabilities: listener,
  create: notBuildable,
});

const destination = z.strictObject({
  destination: z.string().regex(/^\/(topic|queue|exchange|amq\/queue)\//, {
    error: 'expected a destination starting with /topic/, /queue/, /exchange/ or /amq/queue/',
  }),
});

export const stomp = defineConnector({
  type: 'stomp',
  protocol: 'stomp',
  description: 'a client of a STOMP broker',
  options: z.strictObject({ url: z.string(), login: z.string().optional(), passcode: z.string().optional() }),
  from: destination,
  to: destination,
  syntax: 'stomp',
  sourcePattern: (f) => f.destination,
  templateFields: ['destination'],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

export const stompListener = defineConnector({
  type: 'stomp-listener',
  protocol: 'stomp',
  description: 'an embedded STOMP server',
  options: z.strictObject({ port: port(61613), host: z.string().default('0.0.0.0') }),
  from: destination,
  to: destination,
  syntax: 'stomp',
  sourcePattern: (f) => f.destination,
  templateFields: ['destination'],
  listenPorts: (o) => [o.port],
  capabilities: listener,
  create: notBuildable,
});

/** test-only: a sink that cannot be a source */
export const log = defineConnector({
  type: 'log',
  protocol: 'mqtt',
  description: 'writes messages to the log (test only)',
  options: z.strictObject({ level: z.enum(['debug', 'info']).default('info') }),
  to: z.strictObject({ prefix: z.string().default('') }),
  syntax: 'mqtt',
  sourcePattern: () => undefined,
  templateFields: ['prefix'],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

/** test-only: a source that cannot be a sink */
export const clock = defineConnector({
  type: 'clock',
  protocol: 'mqtt',
  description: 'emits a tick every interval (test only)',
  options: z.strictObject({ intervalMs: z.int().min(1).default(1000) }),
  from: z.strictObject({ topic: z.string().default('tick') }),
  syntax: 'mqtt',
  sourcePattern: (f) => f.topic,
  templateFields: [],
  listenPorts: () => [],
  capabilities: client,
  create: notBuildable,
});

export function fakeRegistry(): Map<string, AnyConnectorDefinition> {
  const defs: AnyConnectorDefinition[] = [mqtt, mqttListener, amqp091, amqp10, amqp10Listener, stomp, stompListener, log, clock];
  return new Map(defs.map((d) => [d.type, d]));
}
