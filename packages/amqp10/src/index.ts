import * as clientCode from './client.js';
import * as listenerCode from './listener.js';
import { amqp10ClientCode, amqp10ListenerCode } from './definitions.js';

export { amqp10Definition, amqp10ListenerDefinition } from './definitions.js';
export { Amqp10Client } from './client.js';
export { Amqp10Listener } from './listener.js';
export { toAmqp10, toGatewayMessage } from './mapping.js';
export { decodeOne, type AmqpValue } from './codec.js';
export { parseMessage, buildMessage } from './sections.js';
export { encodedMessage, installCapture } from './rhea-seam.js';

// The main entry imports every connector's code anyway: its definitions create without load().
amqp10ClientCode.provide(clientCode);
amqp10ListenerCode.provide(listenerCode);
