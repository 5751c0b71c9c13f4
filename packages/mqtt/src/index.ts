import { clientRole, defineConnector } from '@ferry/core';
import { MqttClientConnector } from './client/connector.js';
import { MqttListenerConnector } from './listener/connector.js';
import { listenerRole } from '@ferry/net';
import { mqttFrom, mqttListenerFrom, mqttListenerOptions, mqttListenerTo, mqttOptions, mqttTo } from './options.js';

export * from './options.js';
export * from './mapping.js';
export { isValidTopicFilter, isValidTopicName, topicMatches } from './topic.js';
export { PacketSizeGuard, type GuardResult } from './packet-guard.js';
export { MqttClientConnector } from './client/connector.js';
export { MqttListenerConnector } from './listener/connector.js';
export { MqttBroker } from './listener/broker.js';

/** Client and listener address messages the same way: by topic, the source's filter its pattern. */
const mqttAddressing = {
  protocol: 'mqtt',
  syntax: 'mqtt',
  sourcePattern: (from: { readonly topic: string }) => from.topic,
  templateFields: ['topic'],
} as const;

/** `type: mqtt`: a client of a remote MQTT 3.1.1 / 5 broker (mqtt.js). */
export const mqttDefinition = defineConnector({
  ...mqttAddressing,
  ...clientRole,
  type: 'mqtt',
  description:
    'A client of a remote MQTT broker (3.1.1 or 5). As a source it subscribes and acknowledges (PUBACK) only after every destination confirmed; as a sink it publishes and resolves on PUBACK/PUBCOMP.',
  options: mqttOptions,
  from: mqttFrom,
  to: mqttTo,
  create: (ctx, name, options) => new MqttClientConnector(ctx, name, options),
});

/** `type: mqtt-listener`: Ferry's embedded MQTT 3.1.1 / 5 broker that devices connect to. */
export const mqttListenerDefinition = defineConnector({
  ...mqttAddressing,
  ...listenerRole,
  type: 'mqtt-listener',
  description:
    "An embedded MQTT broker (3.1.1 and 5) devices connect to. Device publishes go to the listener's own subscribers and to the routes; QoS 1/2 publishes are acknowledged only after every destination confirmed. As a sink it publishes to the listener's subscribers.",
  options: mqttListenerOptions,
  from: mqttListenerFrom,
  to: mqttListenerTo,
  create: (ctx, name, options) => new MqttListenerConnector(ctx, name, options),
});
