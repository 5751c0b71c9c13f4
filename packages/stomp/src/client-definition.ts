import { clientRole, defineConnector, LazyModule } from '@ferry/core';
import { stompAddressing } from './addressing.js';
import { stompFrom, stompOptions, stompTo } from './client/options.js';

/** the connector's code and @stomp/stompjs, loaded only when a configuration uses the type (the package's main entry provides it) */
export const stompClientCode = new LazyModule('the stomp connector', () => import('./client/connector.js'));

/**
 * The `stomp` connector type: a client of a STOMP 1.2 broker (RabbitMQ's STOMP plugin,
 * ActiveMQ) through @stomp/stompjs. Sources SUBSCRIBE with `client-individual` acks and ACK only
 * after every destination confirmed; the sink SENDs with a `receipt` and resolves on the RECEIPT.
 */
export const stompDefinition = defineConnector({
  ...stompAddressing,
  ...clientRole,
  type: 'stomp',
  description: 'A client of a STOMP 1.2 broker (RabbitMQ, ActiveMQ): subscribes with client-individual acks, sends with receipts.',
  options: stompOptions,
  from: stompFrom,
  to: stompTo,
  ...stompClientCode.connector((m) => m.StompClientConnector),
});
