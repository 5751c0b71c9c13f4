import * as connectorCode from './connector.js';
import { amqp091Code } from './definitions.js';

export { amqp091Definition } from './definitions.js';
export { Amqp091Connector, routeQueueName } from './connector.js';
export { amqp091Options, amqp091From, amqp091To, type Amqp091Options, type Amqp091From, type Amqp091To } from './options.js';
export { PUBLISH_ID_HEADER, fromDelivery, toPublish, type Amqp091Meta } from './mapping.js';
export { fromFieldValue, toFieldValue, fromFieldTable, headersToFieldTable } from './field-table.js';

// The main entry imports the connector's code anyway: its definition creates without load().
amqp091Code.provide(connectorCode);
