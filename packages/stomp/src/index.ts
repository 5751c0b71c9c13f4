import * as clientCode from './client/connector.js';
import * as listenerCode from './server/listener-connector.js';
import { stompClientCode } from './client-definition.js';
import { stompListenerCode } from './listener-definition.js';

export { stompListenerDefinition } from './listener-definition.js';
export * from './frame/frame.js';
export * from './frame/frame-error.js';
export * from './frame/parser.js';
export * from './frame/encoder.js';
export { stompDefinition } from './client-definition.js';
export { messageToBroker, sendToMessage } from './server/mapping.js';
export type { StompListenerConnector } from './server/listener-connector.js';

// The main entry imports every connector's code anyway: its definitions create without load().
stompClientCode.provide(clientCode);
stompListenerCode.provide(listenerCode);
