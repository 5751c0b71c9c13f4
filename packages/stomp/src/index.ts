export { stompListenerDefinition } from './listener-definition.js';
export * from './frame/frame.js';
export * from './frame/frame-error.js';
export * from './frame/parser.js';
export * from './frame/encoder.js';
export { escapeHeader, unescapeHeader } from './frame/escape.js';
export { stompDefinition } from './client-definition.js';
export { messageToBroker, sendToMessage, MESSAGE_ID_HEADER } from './server/mapping.js';
export { toSendHeaders, fromMessageFrame } from './client/mapping.js';
