import type { ReadonlyHeaders } from './headers.js';
import { NO_HEADERS } from './headers.js';

/** The protocols Ferry speaks. */
export type Protocol = 'mqtt' | 'amqp091' | 'amqp10' | 'stomp';

/** at-most-once: fire and forget (MQTT QoS 0, pre-settled AMQP 1.0, STOMP without receipt). */
export type DeliveryGuarantee = 'at-most-once' | 'at-least-once';

/** Where a message entered Ferry. */
export interface MessageSource {
  /** the connector's name in the route file */
  readonly connector: string;
  readonly protocol: Protocol;
  /**
   * The address in the source protocol's own syntax: MQTT topic `a/b/c`, AMQP 0-9-1 routing key
   * `a.b.c`, STOMP destination `/topic/a.b.c`, AMQP 1.0 address.
   */
  readonly address: string;
}

/**
 * Protocol metadata that has no canonical field, kept under the protocol's namespace so a sink
 * of the same protocol can restore it (for example `mqtt.payloadFormatIndicator`,
 * `amqp091.deliveryMode`, `amqp10.messageAnnotations`, `amqp10.encoded`).
 */
type ProtocolMeta = Readonly<Partial<Record<Protocol, Readonly<Record<string, unknown>>>>>;

/** The meta of every message that has none: one object, shared, frozen (a message is never changed). */
const NO_META: ProtocolMeta = Object.freeze({});

/**
 * The one canonical message every adapter converts to and from. docs/mapping.md lists, for
 * each protocol, which frame field becomes which of these.
 */
export interface GatewayMessage {
  /** the payload: bytes, never re-encoded */
  readonly body: Buffer;
  /** application headers, typed, in order; never changed once the message is made (a copy is) */
  readonly headers: ReadonlyHeaders;
  readonly contentType?: string | undefined;
  readonly contentEncoding?: string | undefined;
  readonly messageId?: string | undefined;
  /** MQTT 5 correlation data is binary; AMQP correlation ids are usually strings */
  readonly correlationId?: string | Buffer | undefined;
  readonly replyTo?: string | undefined;
  /** creation time, ms since the epoch */
  readonly timestamp?: number | undefined;
  /**
   * Absolute expiry, ms since the epoch. Relative TTLs (MQTT message expiry interval,
   * AMQP expiration) are converted at ingress, so time spent inside Ferry counts against them
   * (MQTT 5 §3.3.2.3.3: the server forwards the interval minus the time waited).
   */
  readonly expiresAt?: number | undefined;
  /** 0 (lowest) to 9 as in AMQP 0-9-1; AMQP 1.0 allows 0–255, clamped by the sink */
  readonly priority?: number | undefined;
  readonly guarantee: DeliveryGuarantee;
  /** MQTT retain; other protocols carry it as metadata */
  readonly retain: boolean;
  /** AMQP 1.0 subject */
  readonly subject?: string | undefined;
  readonly userId?: string | undefined;
  readonly source: MessageSource;
  readonly meta: ProtocolMeta;
}

export type MessageInit = Omit<GatewayMessage, 'headers' | 'meta' | 'guarantee' | 'retain'> &
  Partial<Pick<GatewayMessage, 'headers' | 'meta' | 'guarantee' | 'retain'>>;

/**
 * Build a message with the defaults filled in (no headers, at-least-once, not retained). Every
 * field is written out, in one order, whatever `init` holds: every message then has one shape,
 * which the engine and the sinks read on every message (a spread of `init` made a shape per set
 * of fields given, and the code reading messages slow: docs/benchmarks-log.md, session 22).
 */
export function createMessage(init: MessageInit): GatewayMessage {
  return {
    body: init.body,
    headers: init.headers ?? NO_HEADERS,
    contentType: init.contentType,
    contentEncoding: init.contentEncoding,
    messageId: init.messageId,
    correlationId: init.correlationId,
    replyTo: init.replyTo,
    timestamp: init.timestamp,
    expiresAt: init.expiresAt,
    priority: init.priority,
    guarantee: init.guarantee ?? 'at-least-once',
    retain: init.retain ?? false,
    subject: init.subject,
    userId: init.userId,
    source: init.source,
    meta: init.meta ?? NO_META,
  };
}

/**
 * `msg` with other headers: every field written in {@link createMessage}'s order, so the copy
 * has the message's own shape (a spread with an override does not keep it), for the router's
 * outgoing copy of every message.
 */
export function withHeaders(msg: GatewayMessage, headers: ReadonlyHeaders): GatewayMessage {
  return {
    body: msg.body,
    headers,
    contentType: msg.contentType,
    contentEncoding: msg.contentEncoding,
    messageId: msg.messageId,
    correlationId: msg.correlationId,
    replyTo: msg.replyTo,
    timestamp: msg.timestamp,
    expiresAt: msg.expiresAt,
    priority: msg.priority,
    guarantee: msg.guarantee,
    retain: msg.retain,
    subject: msg.subject,
    userId: msg.userId,
    source: msg.source,
    meta: msg.meta,
  };
}

/** A copy with some fields replaced; headers are copied so the original is never changed. */
export function withChanges(msg: GatewayMessage, changes: Partial<GatewayMessage>): GatewayMessage {
  return { ...msg, headers: new Map(msg.headers), ...changes };
}

/**
 * Whether the message's expiry has passed at `now` (ms since the epoch). Sinks drop such a
 * message and count it (`messages_dropped_total{reason="expired"}`) instead of sending it:
 * expiry counts down inside Ferry (docs/mapping.md; MQTT 5 §3.3.2.3.3, AMQP 1.0 §3.2.1).
 */
export function hasExpired(m: Pick<GatewayMessage, 'expiresAt'>, now: number): boolean {
  return m.expiresAt !== undefined && m.expiresAt <= now;
}
