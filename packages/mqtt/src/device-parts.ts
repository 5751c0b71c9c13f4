import type { MessageSource } from '@ferry/core';
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
 * are frozen besides): a message in flight keeps no objects of its own for them.
 */
export class DeviceParts {
  readonly clientId: string;
  readonly will = false;
  readonly #connector: string;
  readonly #meta: (DeviceMeta | undefined)[] = [undefined, undefined, undefined];
  #source: MessageSource | undefined;

  constructor(connector: string, clientId: string) {
    this.#connector = connector;
    this.clientId = clientId;
  }

  /** `meta` with the key order fromMqttPublish writes: qos, clientId */
  meta(qos: QoS): DeviceMeta {
    return (this.#meta[qos] ??= Object.freeze({ mqtt: Object.freeze({ qos, clientId: this.clientId }) }));
  }

  source(topic: string): MessageSource {
    const s = this.#source;
    // a device publishes on one topic again and again (the same string, packet-fast.ts LastTopic)
    if (s?.address === topic) return s;
    this.#source = Object.freeze({ connector: this.#connector, protocol: 'mqtt', address: topic });
    return this.#source;
  }
}
