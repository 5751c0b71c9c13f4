import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';

/** What the broker told Ferry in its CONNACK (MQTT 5 §3.2.2.3), plus what Ferry knows of it. */
export interface BrokerLimits {
  /** most topic levels the broker takes; Mosquitto closes the connection beyond 201 (200 `/`) */
  readonly maxTopicLevels: number;
  /** MQTT 5 Maximum Packet Size (§3.2.2.3.6); undefined: no limit announced */
  readonly maximumPacketSize?: number | undefined;
  /** MQTT 5 Maximum QoS (§3.2.2.3.4); undefined: 2 */
  readonly maximumQoS?: number | undefined;
  /** MQTT 5 Retain Available (§3.2.2.3.5); undefined: available */
  readonly retainAvailable?: boolean | undefined;
}

export function limitsFromConnack(connack: IConnackPacket, maxTopicLevels: number): BrokerLimits {
  const p = connack.properties;
  return { maxTopicLevels, maximumPacketSize: p?.maximumPacketSize, maximumQoS: p?.maximumQoS, retainAvailable: p?.retainAvailable };
}

/** a lone surrogate has no UTF-8 encoding (§1.5.4) */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why the broker cannot take this PUBLISH, or undefined. Each case is one where the broker would
 * close the connection (MQTT 5 §4.13) rather than refuse the one message, so sending it would
 * cost every other message on the link, and mqtt.js would send it again after every reconnect.
 */
export function unpublishable(p: Pick<IPublishPacket, 'topic' | 'payload' | 'qos' | 'retain' | 'properties'>, version: 4 | 5, limits: BrokerLimits): string | undefined {
  const topic = p.topic;
  // §4.7.3: at least one character, no wildcards; §1.5.4: no U+0000, well-formed UTF-8
  if (topic.length === 0) return 'empty topic name';
  if (/[+#]/.test(topic) || topic.includes('\u0000')) return `topic name "${topic.slice(0, 100)}" contains a wildcard or U+0000 (§4.7.3)`;
  if (LONE_SURROGATE.test(topic)) return 'topic name is not valid UTF-8 (a lone surrogate, §1.5.4)';
  const topicBytes = Buffer.byteLength(topic, 'utf8');
  // §1.5.4: a UTF-8 string is at most 65,535 bytes
  if (topicBytes > 65535) return `topic name of ${topicBytes} bytes exceeds 65535 (§1.5.4)`;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 0x2f) levels++;
  if (levels > limits.maxTopicLevels) return `topic name has ${levels} levels, the broker takes at most ${limits.maxTopicLevels} (maxTopicLevels)`;
  if (version === 5) {
    // §3.2.2.3.4 / §3.2.2.3.5: sending above Maximum QoS, or RETAIN where it is not available, is a Protocol Error
    if (limits.maximumQoS !== undefined && p.qos > limits.maximumQoS) return `QoS ${p.qos} above the broker's Maximum QoS ${limits.maximumQoS} (§3.2.2.3.4)`;
    if (p.retain && limits.retainAvailable === false) return 'the broker has no retained messages (Retain Available 0, §3.2.2.3.5)';
    const max = limits.maximumPacketSize;
    if (max !== undefined) {
      const size = publishSize(topicBytes, p.payload.length, p.qos, p.properties);
      // §3.2.2.3.6: a packet above the broker's Maximum Packet Size is a Protocol Error
      if (size > max) return `PUBLISH of ${size} bytes exceeds the broker's Maximum Packet Size ${max} (§3.2.2.3.6)`;
    }
  }
  return undefined;
}

/** Size of the encoded PUBLISH (§3.3): fixed header, topic, packet id, properties, payload. */
function publishSize(topicBytes: number, payloadBytes: number, qos: number, properties: IPublishPacket['properties']): number {
  let props = 0;
  if (properties !== undefined) {
    const s = (v: string | undefined): number => (v === undefined ? 0 : 3 + Buffer.byteLength(v, 'utf8'));
    if (properties.payloadFormatIndicator !== undefined) props += 2;
    if (properties.messageExpiryInterval !== undefined) props += 5;
    if (properties.topicAlias !== undefined) props += 3;
    props += s(properties.contentType) + s(properties.responseTopic);
    if (properties.correlationData !== undefined) props += 3 + properties.correlationData.length;
    for (const [k, v] of Object.entries(properties.userProperties ?? {})) {
      for (const one of Array.isArray(v) ? v : [v]) props += 5 + Buffer.byteLength(k, 'utf8') + Buffer.byteLength(one, 'utf8');
    }
  }
  const remaining = 2 + topicBytes + (qos > 0 ? 2 : 0) + varintSize(props) + props + payloadBytes;
  return 1 + varintSize(remaining) + remaining;
}

function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}
