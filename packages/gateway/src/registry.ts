import type { AnyConnectorDefinition } from '@ferry/core';
import { mqttDefinition, mqttListenerDefinition } from '@ferry/mqtt';
import { amqp091Definition } from '@ferry/amqp091';
import { amqp10Definition, amqp10ListenerDefinition } from '@ferry/amqp10';
import { stompDefinition, stompListenerDefinition } from '@ferry/stomp';

/**
 * Every connector type Ferry knows, wired in explicitly (no side-effect imports): adding a
 * type is one line here, and the route-file schema, validation and docs follow from it.
 */
export const connectorTypes: readonly AnyConnectorDefinition[] = [
  mqttDefinition,
  mqttListenerDefinition,
  amqp091Definition,
  amqp10Definition,
  amqp10ListenerDefinition,
  stompDefinition,
  stompListenerDefinition,
];

export function defaultRegistry(): ReadonlyMap<string, AnyConnectorDefinition> {
  return new Map(connectorTypes.map((d) => [d.type, d]));
}
