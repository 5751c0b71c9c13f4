import {
  CORRELATION_ENCODING_HEADER,
  correlationFromBytes,
  correlationToBytes,
  createMessage,
  NO_HEADERS,
  headerToString,
  type GatewayMessage,
  type HeaderValue,
  type Headers,
  type ReadonlyHeaders,
} from '@ferry/core';
import type { IPublishPacket, QoS, UserProperties } from 'mqtt-packet';
import { DeviceParts } from './device-parts.js';

/**
 * MQTT PUBLISH ⇄ GatewayMessage. The table in docs/mapping/mqtt.md is the contract; every
 * rule here cites the clause it comes from. Pure functions: `now` is passed in.
 */

/** The PUBLISH fields the mapping reads or writes (mqtt-packet's shape, v5 properties optional). */
interface MqttPublish {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties?: PublishProperties | undefined;
}

export type PublishProperties = NonNullable<IPublishPacket['properties']>;

/** MQTT 3.1.1 (4) and MQTT 5 (5); 3 is MQTT 3.1, treated as 3.1.1 (no properties). */
export type ProtocolVersion = 3 | 4 | 5;

/** The shape of `meta.mqtt` Ferry writes and reads. */
interface MqttMeta {
  readonly qos?: QoS;
  readonly payloadFormatIndicator?: boolean;
}

function toBuffer(payload: Buffer | string): Buffer {
  return typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
}

/** User properties → ordered headers; a repeated key (mqtt-packet gives an array) stays an array. */
export function userPropertiesToHeaders(props: UserProperties | undefined): Headers {
  const headers: Headers = new Map();
  if (props === undefined) return headers;
  for (const [k, v] of Object.entries(props)) {
    headers.set(k, Array.isArray(v) ? [...v] : v);
  }
  return headers;
}

/**
 * Headers → user properties (MQTT 5 §3.3.2.3.7, UTF-8 string pairs, a name may repeat). An
 * array becomes a repeated property; other non-string values go through headerToString
 * (numbers as decimal, binary as base64, timestamps ISO 8601, tables JSON).
 */
export function headersToUserProperties(headers: ReadonlyHeaders): UserProperties | undefined {
  if (headers.size === 0) return undefined;
  const out: UserProperties = {};
  for (const [k, v] of headers) {
    out[k] = Array.isArray(v) ? (v as readonly HeaderValue[]).map(headerToString) : headerToString(v);
  }
  return out;
}

/**
 * Where the `mqtt-listener`'s message came from: its device's client id, and whether it is the
 * device's will. A device's own publishes come from its {@link DeviceParts}, whose `meta` and
 * `source` their messages share.
 */
export interface DeviceOrigin {
  readonly clientId: string;
  readonly will: boolean;
}

/**
 * Build the canonical message of a PUBLISH received from `connector` (a broker, or a device:
 * `device`, whose message comes with the absolute `expiresAt` the listener computed on receipt).
 */
export function fromMqttPublish(
  packet: { topic: string; payload: Buffer | string; qos: QoS; retain: boolean; properties?: PublishProperties | undefined; expiresAt?: number | undefined },
  connector: string,
  now: number,
  device?: DeviceOrigin,
): GatewayMessage {
  const p = packet.properties;
  const parts = device instanceof DeviceParts && p?.payloadFormatIndicator === undefined ? device : undefined;
  // a PUBLISH without user properties (every 3.1.1 one) has the one shared empty header map
  const headers = p?.userProperties === undefined ? undefined : userPropertiesToHeaders(p.userProperties);
  return createMessage({
    body: toBuffer(packet.payload),
    headers: headers ?? NO_HEADERS,
    contentType: p?.contentType,
    // MQTT 5 §3.3.2.3.6: binary data; valid UTF-8 is read as a text id (core correlation.ts),
    // unless the sink that wrote it marked a binary id (a header, so none without user properties)
    correlationId: headers !== undefined ? correlationFromBytes(p?.correlationData, headers) : p?.correlationData === undefined ? undefined : correlationFromBytes(p.correlationData, new Map()),
    replyTo: p?.responseTopic,
    // MQTT 5 §3.3.2.3.3: the interval is relative to receipt; Ferry keeps the absolute time so
    // the time it holds the message counts against it.
    expiresAt: device !== undefined ? packet.expiresAt : p?.messageExpiryInterval === undefined ? undefined : now + p.messageExpiryInterval * 1000,
    // MQTT 5 §4.3.1: QoS 0 is delivered at most once; QoS 1 and 2 at least once (2 exactly once
    // hop by hop, which Ferry as a relay widens to at least once).
    guarantee: packet.qos === 0 ? 'at-most-once' : 'at-least-once',
    retain: packet.retain,
    source: parts === undefined ? { connector, protocol: 'mqtt', address: packet.topic } : parts.source(packet.topic),
    meta: parts === undefined ? { mqtt: mqttMeta(packet.qos, p, device) } : parts.meta(packet.qos),
  });
}

/** `meta.mqtt` of a message (key order: qos, payloadFormatIndicator, clientId, will) */
function mqttMeta(qos: QoS, p: PublishProperties | undefined, device: DeviceOrigin | undefined): Readonly<Record<string, unknown>> {
  const meta: { qos: QoS; payloadFormatIndicator?: boolean; clientId?: string; will?: true } = { qos };
  if (p?.payloadFormatIndicator !== undefined) meta.payloadFormatIndicator = p.payloadFormatIndicator;
  if (device !== undefined) {
    meta.clientId = device.clientId;
    if (device.will) meta.will = true;
  }
  return meta;
}

export type ToPublishResult =
  | { readonly kind: 'publish'; readonly publish: MqttPublish }
  | { readonly kind: 'expired' };

export interface PublishTarget {
  readonly topic: string;
  readonly qos: QoS;
  /** undefined: keep the message's own retain flag */
  readonly retain?: boolean | undefined;
}

/**
 * Build the PUBLISH for `message`. MQTT 3.1.1 has no properties: headers, content type,
 * correlation, reply-to and expiry are not carried (an expired message is still dropped).
 */
export function toMqttPublish(message: GatewayMessage, to: PublishTarget, version: ProtocolVersion, now: number): ToPublishResult {
  const expiry = expiryIntervalOf(message, now);
  if (expiry === 0) return { kind: 'expired' };
  const base = { topic: to.topic, payload: message.body, qos: to.qos, retain: to.retain ?? message.retain };
  if (version !== 5) return { kind: 'publish', publish: base };
  const properties = publishProperties(message, expiry);
  return { kind: 'publish', publish: properties === undefined ? base : { ...base, properties } };
}

/**
 * The Message Expiry Interval to forward for `message` at `now`, in seconds: undefined when it
 * has no expiry, 0 when it has expired (a message with an interval left has at least 1).
 */
export function expiryIntervalOf(message: GatewayMessage, now: number): number | undefined {
  if (message.expiresAt === undefined) return undefined;
  const remainingMs = message.expiresAt - now;
  // MQTT 5 §3.3.2.3.3: forward the interval minus the time already waited; a message whose
  // interval has passed is not sent at all.
  if (remainingMs <= 0) return 0;
  return Math.min(Math.ceil(remainingMs / 1000), 0xffffffff);
}

/**
 * The MQTT 5 PUBLISH properties of `message` (§3.3.2.3), undefined when it has none. `expiry`:
 * the Message Expiry Interval to send (from {@link expiryIntervalOf}; undefined: none). The
 * object is made only for a message that has some, in the order the properties are encoded.
 */
export function publishProperties(message: GatewayMessage, expiry: number | undefined): PublishProperties | undefined {
  let properties: PublishProperties | undefined;
  const pfi = (message.meta.mqtt as MqttMeta | undefined)?.payloadFormatIndicator;
  if (pfi !== undefined) (properties ??= {}).payloadFormatIndicator = pfi;
  if (expiry !== undefined) (properties ??= {}).messageExpiryInterval = expiry;
  if (message.replyTo !== undefined) (properties ??= {}).responseTopic = message.replyTo;
  let headers = message.headers;
  if (message.correlationId !== undefined) {
    // MQTT 5 §3.3.2.3.6: correlation data is binary; a text id goes as its UTF-8, and a binary id
    // that would read back as text is marked, so the way back restores its kind
    const c = correlationToBytes(message.correlationId);
    (properties ??= {}).correlationData = c.bytes;
    if (c.encoding !== undefined) headers = new Map([...headers, [CORRELATION_ENCODING_HEADER, c.encoding]]);
  }
  const user = headersToUserProperties(headers);
  if (user !== undefined) (properties ??= {}).userProperties = user;
  if (message.contentType !== undefined) (properties ??= {}).contentType = message.contentType;
  return properties;
}
