/**
 * Fake connector definitions for the config package's tests. They mirror the real types of
 * docs/route-files.md (options, the `from`/`to` fields of the Addresses table, listener ports,
 * syntax, template fields, source patterns) but build nothing: the loader never creates
 * connectors. `log` (a sink without `from`) and `clock` (a source without `to`) are test-only types
 * for the "cannot be a source / a destination" checks.
 */
import { z } from 'zod';
import { clientRole, defineConnector, type AnyConnectorDefinition } from '@ferry/core';

/** `never`, not `Connector`: a return type here would be an inference site for each definition's `from` and `to` types */
function notBuildable(): never {
  throw new Error('fake definitions build no connector');
}

/** a fake client: the real clients' role, built by nothing */
const client = { ...clientRole, create: notBuildable } as const;
/** a fake listener: binds its `port` only (the real ones add TLS and WebSocket ports) */
const listener = { listenPorts: (o: { readonly port: number }) => [o.port], capabilities: { listener: true }, create: notBuildable } as const;

const port = (dflt: number) => z.int().min(0).max(65535).default(dflt);
const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

const mqttFrom = z.strictObject({ topic: z.string().min(1), qos: qos.default(1) });
const mqttTo = z.strictObject({ topic: z.string().min(1), qos: qos.default(1), retain: z.boolean().default(false) });

const mqttAddressing = { protocol: 'mqtt', from: mqttFrom, to: mqttTo, syntax: 'mqtt', sourcePattern: (f: { readonly topic: string }) => f.topic, templateFields: ['topic'] } as const;

const mqtt = defineConnector({
  ...mqttAddressing,
  ...client,
  type: 'mqtt',
  description: 'a client of an MQTT broker',
  options: z.strictObject({
    url: z.string().regex(/^mqtts?:\/\//, { error: 'expected an mqtt:// or mqtts:// URL' }),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
    clientId: z.string().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    keepalive: z.int().min(0).default(30),
  }),
});

const mqttListener = defineConnector({
  ...mqttAddressing,
  ...listener,
  type: 'mqtt-listener',
  description: 'an embedded MQTT server devices connect to',
  options: z.strictObject({ port: port(1883), host: z.string().default('0.0.0.0'), maxClients: z.int().min(1).optional() }),
});

/** either a queue, or an exchange and a binding key (the gateway declares its own queue) */
const amqp091From = z.union([
  z.strictObject({ queue: z.string().min(1), prefetch: z.int().min(1).optional() }),
  z.strictObject({ exchange: z.string(), bindingKey: z.string(), prefetch: z.int().min(1).optional() }),
]);

const amqp091 = defineConnector({
  ...client,
  type: 'amqp091',
  protocol: 'amqp091',
  description: 'a client of an AMQP 0-9-1 broker (RabbitMQ)',
  options: z.strictObject({ url: z.string().regex(/^amqps?:\/\//, { error: 'expected an amqp:// or amqps:// URL' }), heartbeat: z.int().min(0).default(30) }),
  from: amqp091From,
  to: z.strictObject({ exchange: z.string(), routingKey: z.string(), persistent: z.boolean().default(true) }),
  syntax: 'amqp',
  sourcePattern: (f) => ('queue' in f ? undefined : f.bindingKey),
  templateFields: ['exchange', 'routingKey'],
});

const amqp10Address = z.strictObject({ address: z.string().min(1) });
const amqp10Addressing = { protocol: 'amqp10', from: amqp10Address, to: amqp10Address, syntax: 'amqp10', sourcePattern: (f: { readonly address: string }) => f.address, templateFields: ['address'] } as const;

const amqp10 = defineConnector({
  ...amqp10Addressing,
  ...client,
  type: 'amqp10',
  description: 'a client of an AMQP 1.0 peer',
  options: z.strictObject({ url: z.string() }),
});

const amqp10Listener = defineConnector({
  ...amqp10Addressing,
  ...listener,
  type: 'amqp10-listener',
  description: 'an embedded AMQP 1.0 endpoint',
  options: z.strictObject({ port: port(5672), host: z.string().default('0.0.0.0') }),
});

const destination = z.strictObject({
  destination: z.string().regex(/^\/(topic|queue|exchange|amq\/queue)\//, {
    error: 'expected a destination starting with /topic/, /queue/, /exchange/ or /amq/queue/',
  }),
});
const stompAddressing = { protocol: 'stomp', from: destination, to: destination, syntax: 'stomp', sourcePattern: (f: { readonly destination: string }) => f.destination, templateFields: ['destination'] } as const;

const stomp = defineConnector({
  ...stompAddressing,
  ...client,
  type: 'stomp',
  description: 'a client of a STOMP broker',
  options: z.strictObject({ url: z.string(), login: z.string().optional(), passcode: z.string().optional() }),
});

const stompListener = defineConnector({
  ...stompAddressing,
  ...listener,
  type: 'stomp-listener',
  description: 'an embedded STOMP server',
  options: z.strictObject({ port: port(61613), host: z.string().default('0.0.0.0') }),
});

/** test-only: a sink that cannot be a source */
const log = defineConnector({
  ...client,
  type: 'log',
  protocol: 'mqtt',
  description: 'writes messages to the log (test only)',
  options: z.strictObject({ level: z.enum(['debug', 'info']).default('info') }),
  to: z.strictObject({ prefix: z.string().default('') }),
  syntax: 'mqtt',
  sourcePattern: () => undefined,
  templateFields: ['prefix'],
});

/** test-only: a source that cannot be a sink */
const clock = defineConnector({
  ...client,
  type: 'clock',
  protocol: 'mqtt',
  description: 'emits a tick every interval (test only)',
  options: z.strictObject({ intervalMs: z.int().min(1).default(1000) }),
  from: z.strictObject({ topic: z.string().default('tick') }),
  syntax: 'mqtt',
  sourcePattern: (f) => f.topic,
  templateFields: [],
});

export function fakeRegistry(): Map<string, AnyConnectorDefinition> {
  const defs: AnyConnectorDefinition[] = [mqtt, mqttListener, amqp091, amqp10, amqp10Listener, stomp, stompListener, log, clock];
  return new Map(defs.map((d) => [d.type, d]));
}
