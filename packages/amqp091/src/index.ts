import * as connectorCode from './connector.js';
import { amqp091Code } from './definitions.js';

export { amqp091Definition } from './definitions.js';
export { type Amqp091Options, type Amqp091From, type Amqp091To } from './options.js';
export { fromDelivery, toPublish } from './mapping.js';

// The main entry imports the connector's code anyway: its definition creates without load().
amqp091Code.provide(connectorCode);
