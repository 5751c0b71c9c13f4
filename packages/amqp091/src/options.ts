import { reconnectOption } from '@ferry/core';
import { z } from 'zod';

/**
 * The schemas of the `amqp091` connector: its options, a route's `from` and a route's `to`.
 * The TypeScript types are inferred from them, and the JSON Schema and the connector reference
 * (docs/connectors/amqp091.md) are generated from them, so every field carries a description.
 */

/** An AMQP field table (queue/exchange/binding arguments), written as YAML/JSON values. */
const fieldTable = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))
  .describe('AMQP field table: string, number, boolean or null values');

const exchangeSpec = z
  .strictObject({
    name: z.string().min(1).describe('exchange name'),
    type: z.enum(['direct', 'topic', 'fanout', 'headers']).describe('exchange type'),
    durable: z.boolean().default(true).describe('survives a broker restart'),
    autoDelete: z.boolean().default(false).describe('deleted when its last binding is removed'),
    arguments: fieldTable.optional().describe('extra exchange arguments, e.g. `alternate-exchange`'),
  })
  .describe('an exchange to declare (or check, with `declare: false`)');

const queueSpec = z
  .strictObject({
    name: z.string().min(1).describe('queue name'),
    durable: z.boolean().default(true).describe('survives a broker restart'),
    exclusive: z.boolean().default(false).describe('used by this connection only, deleted when it closes'),
    autoDelete: z.boolean().default(false).describe('deleted when its last consumer is cancelled'),
    arguments: fieldTable
      .optional()
      .describe('queue arguments: `x-message-ttl`, `x-dead-letter-exchange`, `x-dead-letter-routing-key`, `x-max-length`, `x-overflow`, `x-queue-type`, ...'),
  })
  .describe('a queue to declare (or check, with `declare: false`)');

const bindingSpec = z
  .strictObject({
    queue: z.string().min(1).optional().describe('destination queue (give `queue` or `exchange`)'),
    exchange: z.string().min(1).optional().describe('destination exchange, for an exchange-to-exchange binding (give `queue` or `exchange`)'),
    source: z.string().min(1).describe('the exchange messages come from'),
    bindingKey: z.string().default('').describe('binding key (topic: `*` one word, `#` zero or more words); ignored by fanout exchanges'),
    arguments: fieldTable.optional().describe('binding arguments, e.g. `x-match` for headers exchanges'),
  })
  .superRefine((b, ctx) => {
    if ((b.queue === undefined) === (b.exchange === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['queue'], message: 'a binding names exactly one destination: `queue` or `exchange`' });
    }
  })
  .describe('a binding from an exchange to a queue or to another exchange');

const topologySpec = z
  .strictObject({
    exchanges: z.array(exchangeSpec).default([]).describe('exchanges, declared before queues'),
    queues: z.array(queueSpec).default([]).describe('queues, declared after exchanges'),
    bindings: z.array(bindingSpec).default([]).describe('bindings, declared last'),
  })
  .describe('what the connector declares on every (re)connect, before it consumes or publishes');

const tlsSpec = z
  .strictObject({
    ca: z.string().optional().describe('PEM file of the CA(s) to trust, relative to the route file'),
    cert: z.string().optional().describe('PEM client certificate file (for EXTERNAL or mutual TLS)'),
    key: z.string().optional().describe('PEM private key file of `cert`'),
    passphrase: z.string().optional().describe('passphrase of `key`'),
    servername: z.string().optional().describe('TLS SNI / certificate host name, when it differs from the URL host'),
    rejectUnauthorized: z.boolean().default(true).describe('refuse a server whose certificate does not verify'),
  })
  .describe('TLS settings for `amqps://` URLs');

export const amqp091Options = z
  .strictObject({
    url: z
      .string()
      .regex(/^amqps?:\/\/[^/]/, 'an amqp:// or amqps:// URL, e.g. amqp://user:pass@host:5672/vhost')
      .describe('broker URL: `amqp://` or `amqps://`, optional credentials, port and vhost (`/my%2Fvhost`; no path = `/`)'),
    username: z.string().optional().describe('user name; overrides the one in `url`'),
    password: z.string().optional().describe('password; overrides the one in `url`'),
    connectionName: z
      .string()
      .optional()
      .describe('connection name shown by the broker (client property `connection_name`); default `ferry <gatewayId> <connector>`'),
    replyToTopicHeader: z
      .boolean()
      .default(false)
      .describe(
        "carry an MQTT message's reply-to also in the header x-reply-to-topic, and read a reply-to from it, as RabbitMQ's MQTT plugin does, for services written against the plugin. Off by default: the header is one more on every such message, and a round trip through MQTT would bring it back to an AMQP peer that never sent it",
      ),
    heartbeat: z.number().int().min(0).max(65535).default(30).describe('heartbeat interval in seconds proposed to the broker; 0 disables'),
    prefetch: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(1000)
      .describe('unacknowledged deliveries per consumer (basic.qos): the window that is Ferry\'s backpressure on a source'),
    reconnect: reconnectOption,
    connectTimeoutMs: z.number().int().min(1).default(10_000).describe('give up one connect attempt (TCP + TLS + AMQP handshake) after this long'),
    declare: z
      .boolean()
      .default(true)
      .describe('true: declare `topology` on every connect; false: only check that its exchanges and queues exist (passive declare)'),
    topology: topologySpec.default({ exchanges: [], queues: [], bindings: [] }),
    tls: tlsSpec.optional(),
  })
  .superRefine((o, ctx) => {
    // AMQP 0-9-1 has no passive queue.bind: a binding can only be checked by making it.
    if (!o.declare && o.topology.bindings.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['topology', 'bindings'],
        message: 'bindings cannot be checked without creating them (AMQP 0-9-1 has no passive bind): set `declare: true` or remove them',
      });
    }
    if (o.reconnect.maxMs < o.reconnect.initialMs) {
      ctx.addIssue({ code: 'custom', path: ['reconnect', 'maxMs'], message: 'maxMs must be at least initialMs' });
    }
  })
  .describe('a client of an AMQP 0-9-1 broker (RabbitMQ)');

export const amqp091From = z
  .strictObject({
    queue: z
      .string()
      .min(1)
      .optional()
      .describe('alone: the queue to consume. With `exchange`: the name of the queue Ferry declares and binds (default `ferry.<gatewayId>.<route>`)'),
    exchange: z.string().min(1).optional().describe('the exchange to bind a Ferry-owned queue to (needs `bindingKey`)'),
    bindingKey: z
      .string()
      .optional()
      .describe('binding key of that queue; on a topic exchange its `*` and `#` are what `{1}`…`{n}` capture'),
    bindingArguments: fieldTable.optional().describe('binding arguments (e.g. `x-match` on a headers exchange)'),
    singleActiveConsumer: z
      .boolean()
      .optional()
      .describe(
        "declare the Ferry-owned queue with `x-single-active-consumer`: of several Ferry replicas consuming it, RabbitMQ delivers to one at a time (the others take over when it goes), so the queue's order is kept. Needs `exchange` and a `queue` name the replicas share",
      ),
  })
  .superRefine((f, ctx) => {
    if (f.singleActiveConsumer !== undefined && f.exchange === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['singleActiveConsumer'],
        message: '`singleActiveConsumer` shapes the queue Ferry declares for { exchange, bindingKey, queue }; declare a queue of your own in `topology` with `arguments: { x-single-active-consumer: true }` instead',
      });
    }
    if (f.exchange === undefined) {
      if (f.bindingKey !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['bindingKey'], message: '`bindingKey` needs `exchange`: give either { queue } or { exchange, bindingKey, queue? }' });
      } else if (f.bindingArguments !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['bindingArguments'], message: '`bindingArguments` needs `exchange` and `bindingKey`' });
      } else if (f.queue === undefined) {
        ctx.addIssue({ code: 'custom', path: [], message: 'an amqp091 source needs either { queue } or { exchange, bindingKey, queue? }' });
      }
    } else if (f.bindingKey === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['bindingKey'],
        message: '`exchange` needs a `bindingKey` ("#" takes every message of a topic exchange, "" suits fanout)',
      });
    }
  })
  .describe('either { queue } to consume a queue, or { exchange, bindingKey, queue? } to have Ferry declare and bind a durable queue');

export const amqp091To = z
  .strictObject({
    exchange: z.string().describe('exchange to publish to; `""` is the default exchange (routing key = queue name). Templates allowed'),
    routingKey: z.string().default('').describe('routing key. Templates allowed: `{1}`, `{address}`, `{header.NAME}`'),
    persistent: z
      .boolean()
      .optional()
      .describe('delivery mode 2 (persistent) or 1; default: kept from an AMQP 0-9-1 source, else persistent for at-least-once messages'),
    mandatory: z.boolean().default(true).describe('ask the broker to return an unroutable message: the write then fails (SINK_UNROUTABLE) instead of the message vanishing'),
  })
  .describe('publish to an exchange with a routing key; the write completes on the publisher confirm');

export type Amqp091Options = z.output<typeof amqp091Options>;
export type Amqp091From = z.output<typeof amqp091From>;
export type Amqp091To = z.output<typeof amqp091To>;
export type FieldTable = z.output<typeof fieldTable>;
