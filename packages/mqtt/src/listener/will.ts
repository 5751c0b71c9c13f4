import type { IConnectPacket } from 'mqtt-packet';
import type { PublishProperties } from '../mapping.js';
import type { PendingWill } from './types.js';

type ConnectWill = NonNullable<IConnectPacket['will']>;

/**
 * The will of a CONNECT (MQTT 5 §3.1.3.2, 3.1.1 §3.1.2.5) as the message the broker publishes
 * on the client's behalf. Of the will properties, those that travel with the message; the delay
 * (§3.1.3.2.2) and the expiry (§3.1.3.2.4, counted from publication) are kept beside it.
 */
export function pendingWill(w: ConnectWill, clientId: string): PendingWill {
  const wp = w.properties;
  const properties: PublishProperties = {};
  if (wp?.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = wp.payloadFormatIndicator;
  if (wp?.contentType !== undefined) properties.contentType = wp.contentType;
  if (wp?.responseTopic !== undefined) properties.responseTopic = wp.responseTopic;
  if (wp?.correlationData !== undefined) properties.correlationData = wp.correlationData;
  if (wp?.userProperties !== undefined) properties.userProperties = wp.userProperties;
  return {
    message: {
      topic: w.topic,
      payload: typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload,
      qos: w.qos ?? 0,
      retain: w.retain ?? false,
      properties: Object.keys(properties).length > 0 ? properties : undefined,
      origin: clientId,
    },
    delaySeconds: wp?.willDelayInterval ?? 0,
    expirySeconds: wp?.messageExpiryInterval,
  };
}
