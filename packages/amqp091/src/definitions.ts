import { clientRole, defineConnector, LazyModule } from '@ferry/core';
import { amqp091From, amqp091Options, amqp091To } from './options.js';

/** the connector's code and amqplib, loaded only when a configuration uses the type (the package's main entry provides it) */
export const amqp091Code = new LazyModule('the amqp091 connector', () => import('./connector.js'));

/**
 * The `amqp091` connector type: a client of an AMQP 0-9-1 broker (RabbitMQ) through amqplib.
 * Sources consume queues with manual acks; the sink publishes on a confirm channel.
 */
export const amqp091Definition = defineConnector({
  ...clientRole,
  type: 'amqp091',
  protocol: 'amqp091',
  description: 'A client of an AMQP 0-9-1 broker (RabbitMQ): consumes queues, publishes to exchanges with publisher confirms.',
  options: amqp091Options,
  from: amqp091From,
  to: amqp091To,
  syntax: 'amqp',
  // A queue source has no pattern: its route takes every message the queue delivers. An
  // exchange source's binding key is its pattern (topic `*` / `#` are what {1}…{n} capture).
  sourcePattern: (from) => (from.exchange !== undefined ? from.bindingKey : undefined),
  templateFields: ['exchange', 'routingKey'],
  nameFields: ['exchange'],
  ...amqp091Code.connector((m) => m.Amqp091Connector),
});
