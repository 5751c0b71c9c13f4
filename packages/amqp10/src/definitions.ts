/**
 * The two AMQP 1.0 connector types, as the gateway's registry sees them.
 */
import { listenerRole } from '@ferry/net';
import { clientRole, defineConnector, LazyModule } from '@ferry/core';
import { amqp10From, amqp10ListenerOptions, amqp10Options, amqp10To, type Amqp10From } from './options.js';

/** Client and listener name a node the same way: one `address`, which is also the pattern. */
const amqp10Addressing = {
  protocol: 'amqp10',
  from: amqp10From,
  to: amqp10To,
  syntax: 'amqp10',
  sourcePattern: (from: Amqp10From) => from.address,
  templateFields: ['address'],
} as const;

/** each type's code (and rhea), loaded only when a configuration uses the type (the package's main entry provides it) */
export const amqp10ClientCode = new LazyModule('the amqp10 connector', () => import('./client.js'));
export const amqp10ListenerCode = new LazyModule('the amqp10-listener connector', () => import('./listener.js'));

export const amqp10Definition = defineConnector({
  ...amqp10Addressing,
  ...clientRole,
  type: 'amqp10',
  description: 'A client of an AMQP 1.0 peer (RabbitMQ amqp1_0, Artemis, Qpid): receives from and sends to its addresses',
  options: amqp10Options,
  ...amqp10ClientCode.connector((m) => m.Amqp10Client),
});

export const amqp10ListenerDefinition = defineConnector({
  ...amqp10Addressing,
  ...listenerRole,
  type: 'amqp10-listener',
  description: 'An embedded AMQP 1.0 endpoint: clients attach sending links to give Ferry messages and receiving links to take them',
  options: amqp10ListenerOptions,
  ...amqp10ListenerCode.connector((m) => m.Amqp10Listener),
});
