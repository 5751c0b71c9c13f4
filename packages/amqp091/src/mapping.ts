import { AMQP091_CORRELATION_HEADER, FerryError, correlationFromField, createMessage, NO_HEADERS, type GatewayMessage, type Headers, type MessageSource } from '@ferry/core';
import type { ConsumeMessage, Options } from 'amqplib';
import { fromFieldTable, headersToFieldTable } from './field-table.js';

/**
 * basic.deliver + basic properties ⇄ the canonical message. docs/mapping/amqp091.md is the
 * table of this file; keep them together.
 */

/**
 * The header the sink adds to each mandatory publish so a basic.return can be matched to its
 * publish (the return carries the message's properties back). The amqp091 source drops it on
 * ingress, so it never travels further than one hop.
 */
export const PUBLISH_ID_HEADER = 'x-ferry-publish-id';

/**
 * Where RabbitMQ's MQTT plugin carries an MQTT 5 Response Topic into AMQP 0-9-1 (in routing-key
 * form) and reads it back from. With `replyToTopicHeader`, Ferry writes it beside `reply-to` for a
 * message that came from MQTT, so a service written against the plugin finds the topic where it
 * looks for it.
 */
export const REPLY_TO_TOPIC_HEADER = 'x-reply-to-topic';

/** What meta.amqp091 holds (all optional: a message from another protocol has none). */
// a type alias (not an interface) so it is assignable to ProtocolMeta's record type
export type Amqp091Meta = {
  readonly exchange?: string;
  readonly routingKey?: string;
  readonly redelivered?: boolean;
  readonly deliveryTag?: number;
  readonly consumerTag?: string;
  readonly queue?: string;
  /** 1 non-persistent, 2 persistent (AMQP 0-9-1 basic properties `delivery-mode`) */
  readonly deliveryMode?: number;
  readonly type?: string;
  readonly appId?: string;
  readonly clusterId?: string;
  /** the `expiration` property as received (relative ms, a string) */
  readonly expiration?: string;
};

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export interface IngressContext {
  readonly connector: string;
  readonly queue: string;
  /**
   * when the delivery arrived, ms since the epoch (expiration is relative to it); read from the
   * clock when absent, and only for a delivery that has an expiration
   */
  readonly now?: number;
  /** read a reply-to from the x-reply-to-topic header too (the connector's `replyToTopicHeader`) */
  readonly replyToTopicHeader?: boolean;
}

/** The source of a delivery of routing key `routingKey` to a consumer of connector `connector`. */
function deliverySource(connector: string, routingKey: string): MessageSource {
  return { connector, protocol: 'amqp091', address: routingKey };
}

/**
 * A delivery from a consumer → the canonical message. `source`: the delivery's source (connector,
 * routing key), when the caller has it already (a consumer gives a run of deliveries of one
 * routing key one source object, core's LastSource, kept by each message until it is settled).
 */
export function fromDelivery(msg: ConsumeMessage, ctx: IngressContext, source?: MessageSource): GatewayMessage {
  const p = msg.properties;
  const expiration = str(p.expiration);
  // `expiration` is a relative TTL in ms, as a string (RabbitMQ per-message TTL). RabbitMQ
  // delivers the property as published, without the time the message waited in the queue, so
  // the absolute expiry computed here can be later than the broker's; never earlier.
  const ttl = expiration !== undefined && /^\d+$/.test(expiration) ? Number(expiration) : undefined;
  const timestamp = num(p.timestamp);
  // the optional keys are set one by one, not spread: this runs for every delivery. The delivery
  // mode, which nearly every delivery has, is in the literal: a key added after it would give the
  // object a second, out-of-object store of its own, kept as long as the message is.
  const f = msg.fields;
  const deliveryMode = num(p.deliveryMode);
  const meta: { -readonly [K in keyof Amqp091Meta]: Amqp091Meta[K] } =
    deliveryMode === undefined
      ? { exchange: f.exchange, routingKey: f.routingKey, redelivered: f.redelivered, deliveryTag: f.deliveryTag, consumerTag: f.consumerTag, queue: ctx.queue }
      : { exchange: f.exchange, routingKey: f.routingKey, redelivered: f.redelivered, deliveryTag: f.deliveryTag, consumerTag: f.consumerTag, queue: ctx.queue, deliveryMode };
  const type = str(p.type);
  if (type !== undefined) meta.type = type;
  const appId = str(p.appId);
  if (appId !== undefined) meta.appId = appId;
  const clusterId = str(p.clusterId);
  if (clusterId !== undefined) meta.clusterId = clusterId;
  if (expiration !== undefined) meta.expiration = expiration;
  const headers = fromFieldTable(p.headers, PUBLISH_ID_HEADER);
  // these take their headers out of the map, before its size is read below
  const correlationId = correlationFromField(str(p.correlationId) ?? takeCorrelationHeader(headers), headers);
  const replyTo = ctx.replyToTopicHeader === true ? takeReplyToTopic(headers, str(p.replyTo)) : str(p.replyTo);
  // through createMessage, which gives every message one shape whoever builds it
  return createMessage({
    body: msg.content,
    // a delivery without headers keeps no map of its own while it is in flight
    headers: headers.size === 0 ? NO_HEADERS : headers,
    contentType: str(p.contentType),
    contentEncoding: str(p.contentEncoding),
    messageId: str(p.messageId),
    correlationId,
    replyTo,
    // AMQP 0-9-1 timestamps are seconds since the epoch (spec §4.2.5.4 "timestamp").
    timestamp: timestamp !== undefined ? timestamp * 1000 : undefined,
    expiresAt: ttl !== undefined ? (ctx.now ?? Date.now()) + ttl : undefined,
    priority: num(p.priority),
    userId: str(p.userId),
    // A consumer with manual acks is at-least-once whatever the delivery mode; the delivery
    // mode is about the broker's disk, and is kept in meta for an AMQP 0-9-1 sink.
    guarantee: 'at-least-once',
    source: source ?? deliverySource(ctx.connector, msg.fields.routingKey),
    meta: { amqp091: meta },
  });
}

/**
 * A correlation id that `correlation-id` could not hold, from the header RabbitMQ's MQTT plugin
 * and Ferry's sink put it in (a byte array stays binary, a string stays text); the header is
 * removed, as it only stood in for the property.
 */
function takeCorrelationHeader(headers: Headers): string | Buffer | undefined {
  const v = headers.get(AMQP091_CORRELATION_HEADER);
  if (v === undefined) return undefined;
  if (typeof v === 'string') {
    headers.delete(AMQP091_CORRELATION_HEADER);
    return v;
  }
  if (v instanceof Uint8Array) {
    headers.delete(AMQP091_CORRELATION_HEADER);
    return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  }
  return undefined;
}

/**
 * The reply-to: the `reply-to` property, else the plugin's `x-reply-to-topic` header. The header is
 * removed either way: it only stands in for the property (Ferry writes both for MQTT messages).
 */
function takeReplyToTopic(headers: Headers, property: string | undefined): string | undefined {
  const v = headers.get(REPLY_TO_TOPIC_HEADER);
  if (v === undefined || (typeof v !== 'string' && !(v instanceof Uint8Array))) return property;
  headers.delete(REPLY_TO_TOPIC_HEADER);
  return property ?? (typeof v === 'string' ? v : Buffer.from(v).toString('utf8'));
}

export interface EgressContext {
  readonly now: number;
  /** the user this connection authenticated as; RabbitMQ refuses any other `user-id` */
  readonly username: string | undefined;
  readonly persistent: boolean | undefined;
  readonly mandatory: boolean;
  /** write an MQTT message's reply-to into x-reply-to-topic too (the connector's `replyToTopicHeader`) */
  readonly replyToTopicHeader?: boolean;
}

/** basic.publish options with the headers table always present (amqplib types it `any`). */
export type PublishOptions = Omit<Options.Publish, 'headers'> & { headers: Record<string, unknown> };

export type PublishPlan =
  | { readonly kind: 'publish'; readonly options: PublishOptions }
  | { readonly kind: 'expired' };

function shortstr(name: string, v: string | undefined): string | undefined {
  // Basic properties of type shortstr hold at most 255 bytes (AMQP 0-9-1 §4.2.5.3).
  if (v !== undefined && Buffer.byteLength(v) > 255) {
    throw new FerryError('SINK_REJECTED', `property ${name} is ${Buffer.byteLength(v)} bytes; AMQP 0-9-1 allows 255`, { permanent: true });
  }
  return v;
}

/**
 * Whether a correlation id goes into the `correlation-id` property: it is a shortstr (AMQP 0-9-1
 * §4.2.5.3, at most 255 bytes), so a text id that fits goes there; a binary id (MQTT 5 correlation
 * data that is not UTF-8, an AMQP 1.0 binary id) goes into the header `x-correlation-id` as a byte
 * array, and a longer text id into the same header as a long string, as RabbitMQ's MQTT plugin
 * does. The amqp091 source reads both back (core correlation.ts).
 */
export function correlationFits(v: string | Buffer): v is string {
  return typeof v === 'string' && Buffer.byteLength(v) <= 255;
}

/** what toPublish reads of a message without AMQP 0-9-1 meta */
const NO_META: Amqp091Meta = {};

/** the message's AMQP 0-9-1 meta, or an empty one */
export function metaOf(message: GatewayMessage): Amqp091Meta {
  return message.meta.amqp091 ?? NO_META;
}

/**
 * delivery mode 2 or 1: the route's `persistent`, else the delivery mode of an AMQP 0-9-1 source,
 * else persistent for an at-least-once message
 */
export function persistentOf(message: GatewayMessage, meta: Amqp091Meta, persistent: boolean | undefined): boolean {
  return persistent ?? (meta.deliveryMode !== undefined ? meta.deliveryMode === 2 : message.guarantee === 'at-least-once');
}

/** the `priority` property: an octet (AMQP 0-9-1 §4.2.5.2), the message's priority rounded into 0–255 */
export function priorityOf(message: GatewayMessage): number | undefined {
  const p = message.priority;
  return p === undefined || !Number.isFinite(p) ? undefined : Math.min(255, Math.max(0, Math.round(p)));
}

/**
 * The `timestamp` property, an unsigned 64-bit count of seconds: sub-second precision is lost, and
 * a time before 1970 cannot be written.
 */
export function timestampOf(message: GatewayMessage): number | undefined {
  const t = message.timestamp;
  return t === undefined || t < 0 ? undefined : Math.floor(t / 1000);
}

/**
 * The `user-id` property: RabbitMQ validates it against the connection's user and closes the
 * channel with PRECONDITION_FAILED otherwise (RabbitMQ "Validated User-ID" extension), so it is
 * passed on only when it is ours.
 */
export function userIdOf(message: GatewayMessage, username: string | undefined): string | undefined {
  return message.userId !== undefined && message.userId === username ? message.userId : undefined;
}

/** The canonical message → basic.publish options, or 'expired' when its expiry has passed. */
export function toPublish(message: GatewayMessage, ctx: EgressContext): PublishPlan {
  const meta = metaOf(message);
  let expiration: string | undefined;
  if (message.expiresAt !== undefined) {
    const remaining = Math.ceil(message.expiresAt - ctx.now);
    if (remaining <= 0) return { kind: 'expired' };
    expiration = String(remaining);
  }
  const persistent = persistentOf(message, meta, ctx.persistent);
  const headers = headersToFieldTable(message.headers);
  const correlation = message.correlationId;
  let correlationId: string | undefined;
  if (correlation !== undefined) {
    if (correlationFits(correlation)) correlationId = correlation;
    else headers[AMQP091_CORRELATION_HEADER] = correlation;
  }
  if (ctx.replyToTopicHeader === true && message.replyTo !== undefined && message.source.protocol === 'mqtt') headers[REPLY_TO_TOPIC_HEADER] = message.replyTo;
  const priority = priorityOf(message);
  // every key present, in one order, whatever the message holds: one object shape for every
  // publish, read as such by the frame builder (amqplib-publish.ts) on each message
  const options: PublishOptions = {
    persistent,
    mandatory: ctx.mandatory,
    contentType: shortstr('contentType', message.contentType),
    contentEncoding: shortstr('contentEncoding', message.contentEncoding),
    messageId: shortstr('messageId', message.messageId),
    correlationId,
    replyTo: shortstr('replyTo', message.replyTo),
    timestamp: timestampOf(message),
    expiration,
    priority,
    type: shortstr('type', meta.type),
    appId: shortstr('appId', meta.appId),
    userId: userIdOf(message, ctx.username),
    headers,
  };
  return { kind: 'publish', options };
}
