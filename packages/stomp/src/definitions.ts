/** The two STOMP connector types as the gateway's registry sees them (no driver code loaded). */
export { stompDefinition } from './client-definition.js';
export { stompListenerDefinition } from './listener-definition.js';
