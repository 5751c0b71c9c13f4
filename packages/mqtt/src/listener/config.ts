import type { Authenticator } from '@ferry/core';
import type { MqttListenerOptions } from '../options.js';
import type { BrokerConfig } from './broker-core.js';
import { ClientIdRule } from './client-id-rule.js';

/** The embedded broker's limits from the listener's options, with who may connect. */
export function brokerConfig(o: MqttListenerOptions, auth: Authenticator): BrokerConfig {
  return {
    maxPacketSize: o.maxPacketSize,
    keepaliveLimit: o.keepaliveLimit,
    receiveMaximum: o.receiveMaximum,
    retainedBytesLimit: o.retainedBytesLimit,
    maxSubscriptionsPerSession: o.maxSubscriptionsPerSession,
    maxSessionExpiry: o.maxSessionExpiry,
    session: {
      queueMessages: o.sessionQueueLimit,
      queueBytes: o.sessionQueueBytes,
      inflightMessages: o.maxInflightMessages,
      inflightBytes: o.maxInflightBytes,
      queueWaitMs: o.sessionQueueWaitMs,
    },
    maxClients: o.maxClients,
    clientIdRule: o.clientIdPattern === undefined ? undefined : ClientIdRule.parse(o.clientIdPattern),
    auth,
  };
}
