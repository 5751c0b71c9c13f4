/**
 * The two AMQP 1.0 connector types, as the gateway's registry sees them.
 */
import { transportPorts } from '@ferry/net';
import { auditListenerAuth, defineConnector } from '@ferry/core';
import { Amqp10Client } from './client.js';
import { Amqp10Listener } from './listener.js';
import { amqp10From, amqp10ListenerOptions, amqp10Options, amqp10To } from './options.js';

export const amqp10Definition = defineConnector({
  type: 'amqp10',
  protocol: 'amqp10',
  description: 'A client of an AMQP 1.0 peer (RabbitMQ amqp1_0, Artemis, Qpid): receives from and sends to its addresses',
  options: amqp10Options,
  from: amqp10From,
  to: amqp10To,
  syntax: 'amqp10',
  sourcePattern: (from) => from.address,
  templateFields: ['address'],
  listenPorts: () => [],
  capabilities: { listener: false },
  create: (ctx, name, options) => new Amqp10Client(ctx, name, options),
});

export const amqp10ListenerDefinition = defineConnector({
  type: 'amqp10-listener',
  protocol: 'amqp10',
  description: 'An embedded AMQP 1.0 endpoint: clients attach sending links to give Ferry messages and receiving links to take them',
  options: amqp10ListenerOptions,
  from: amqp10From,
  to: amqp10To,
  syntax: 'amqp10',
  sourcePattern: (from) => from.address,
  templateFields: ['address'],
  listenPorts: (o) => transportPorts(o.port, o),
  capabilities: { listener: true },
  create: (ctx, name, options) => new Amqp10Listener(ctx, name, options),
  audit: (options, baseDir) => auditListenerAuth(options, baseDir),
});
