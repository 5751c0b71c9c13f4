import type { AnyConnectorDefinition } from '@ferry/core';
import { mqttDefinition, mqttListenerDefinition } from '@ferry/mqtt/definitions';
import { amqp091Definition } from '@ferry/amqp091/definitions';
import { amqp10Definition, amqp10ListenerDefinition } from '@ferry/amqp10/definitions';
import { stompDefinition, stompListenerDefinition } from '@ferry/stomp/definitions';

/**
 * Every connector type Ferry knows, wired in explicitly (no side-effect imports): adding a
 * type is one line here, and the route-file schema, validation and docs follow from it. The
 * definitions come without their drivers (each package's `definitions` entry): a gateway loads
 * the protocol libraries of the types its configuration uses (`loadConnectorTypes`), so one
 * with only an mqtt-listener never loads amqplib, rhea, mqtt.js or @stomp/stompjs.
 */
const connectorTypes: readonly AnyConnectorDefinition[] = [
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
