import { LastSource, type MessageSource } from '@ferry/core';
import type { QoS } from 'mqtt-packet';

/** `meta` of a device's message without a payload format indicator, not a will */
interface DeviceMeta {
  readonly mqtt: { readonly qos: QoS; readonly clientId: string };
}

/**
 * A device as the origin of its own publishes (not of its will), and the parts of their canonical
 * messages that are the same for each of them: `meta.mqtt` (its QoS and the client id) and
 * `source` (the connector and the topic, the last one published on). Made once per publishing
 * connection and shared by its messages, which only read them (GatewayMessage is read-only; they
 * `meta` is frozen besides): a message in flight keeps no objects of its own for them.
 */
export class DeviceParts {
  readonly clientId: string;
  readonly will = false;
  readonly #meta: (DeviceMeta | undefined)[] = [undefined, undefined, undefined];
  readonly #source: LastSource;

  constructor(connector: string, clientId: string) {
    this.#source = new LastSource(connector, 'mqtt');
    this.clientId = clientId;
  }

  /** `meta` with the key order fromMqttPublish writes: qos, clientId */
  meta(qos: QoS): DeviceMeta {
    return (this.#meta[qos] ??= Object.freeze({ mqtt: Object.freeze({ qos, clientId: this.clientId }) }));
  }

  source(topic: string): MessageSource {
    return this.#source.of(topic);
  }
}
