import { defineConnector } from '@ferry/core';
import { StompClientConnector } from './client/connector.js';
import { stompFrom, stompOptions, stompTo } from './client/options.js';

/**
 * The `stomp` connector type: a client of a STOMP 1.2 broker (RabbitMQ's STOMP plugin,
 * ActiveMQ) through @stomp/stompjs. Sources SUBSCRIBE with `client-individual` acks and ACK only
 * after every destination confirmed; the sink SENDs with a `receipt` and resolves on the RECEIPT.
 */
export const stompDefinition = defineConnector({
  type: 'stomp',
  protocol: 'stomp',
  description: 'A client of a STOMP 1.2 broker (RabbitMQ, ActiveMQ): subscribes with client-individual acks, sends with receipts.',
  options: stompOptions,
  from: stompFrom,
  to: stompTo,
  syntax: 'stomp',
  // The subscribed destination is the pattern: RabbitMQ `/topic/a.*`, `/exchange/amq.topic/a.#`
  // wildcards are what {1}…{n} capture.
  sourcePattern: (from) => from.destination,
  templateFields: ['destination'],
  listenPorts: () => [],
  capabilities: { listener: false },
  create: (ctx, name, options) => new StompClientConnector(ctx, name, options),
});
