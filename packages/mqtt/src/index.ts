import * as clientCode from './client/connector.js';
import * as listenerCode from './listener/connector.js';
import { mqttClientCode, mqttListenerCode } from './definitions.js';

export { mqttDefinition, mqttListenerDefinition } from './definitions.js';
export * from './options.js';
export * from './mapping.js';
export { MqttClientConnector } from './client/connector.js';
export { MqttListenerConnector } from './listener/connector.js';

// The main entry imports every connector's code anyway: its definitions create without load().
mqttClientCode.provide(clientCode);
mqttListenerCode.provide(listenerCode);
