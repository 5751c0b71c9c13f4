/**
 * The two MQTT connector types as the gateway's registry sees them: schemas, addressing and
 * roles, without the connectors' code. The client's code (and mqtt.js) and the listener's (and
 * mqtt-packet) are loaded by `load()`, only when a configuration uses the type.
 */
import { clientRole, defineConnector, LazyModule } from '@ferry/core';
import { listenerRole } from '@ferry/net';
import { mqttFrom, mqttListenerFrom, mqttListenerOptions, mqttListenerTo, mqttOptions, mqttTo } from './options.js';

/** Client and listener address messages the same way: by topic, the source's filter its pattern. */
const mqttAddressing = {
  protocol: 'mqtt',
  syntax: 'mqtt',
  sourcePattern: (from: { readonly topic: string }) => from.topic,
  templateFields: ['topic'],
} as const;

/** the client's code; the package's main entry provides it (see LazyModule) */
export const mqttClientCode = new LazyModule('the mqtt connector', () => import('./client/connector.js'));
/** the listener's code; the package's main entry provides it */
export const mqttListenerCode = new LazyModule('the mqtt-listener connector', () => import('./listener/connector.js'));

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
  ...mqttClientCode.connector((m) => m.MqttClientConnector),
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
  ...mqttListenerCode.connector((m) => m.MqttListenerConnector),
});
