/**
 * A slow MQTT subscriber: an mqtt.js 5 client with a QoS 1 subscription that sends each PUBACK
 * only `ackDelayMs` after the PUBLISH arrived, counting every message by the id in its payload.
 *
 * mqtt.js handles incoming packets one at a time: the next PUBLISH is read only once the
 * previous one's `handleMessage` callback ran (it then writes the PUBACK). So a delay there makes
 * the client both slow to acknowledge and slow to read, as a device on a poor link is: the
 * server's in-flight window towards it (the client's Receive Maximum, MQTT 5 §4.9) stays full and
 * the rest waits in the server's session queue.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Tally } from '@ferry/testkit';

export interface SlowSubscriberOptions {
  readonly port: number;
  readonly clientId: string;
  readonly filter: string;
  readonly tally: Tally;
  readonly idOf: (payload: Buffer) => string;
  /** PUBLISHes the server may have in flight to this client (CONNECT Receive Maximum) */
  readonly receiveMaximum: number;
  readonly ackDelayMs: number;
}

export class SlowSubscriber {
  readonly #opts: SlowSubscriberOptions;
  #client: MqttClient | undefined;
  /** ms before each PUBACK; set to 0 to let the subscriber catch up */
  ackDelayMs: number;
  received = 0;
  /** CONNACKs after the first one (a reconnect would lose a clean session's queue) */
  reconnects = 0;

  constructor(opts: SlowSubscriberOptions) {
    this.#opts = opts;
    this.ackDelayMs = opts.ackDelayMs;
  }

  async start(): Promise<void> {
    const { port, clientId, filter, receiveMaximum, tally, idOf } = this.#opts;
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      clientId,
      clean: true,
      reconnectPeriod: 500,
      keepalive: 60,
      properties: { receiveMaximum },
    });
    (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    let connacks = 0;
    c.on('packetreceive', (p) => {
      if (p.cmd === 'connack' && connacks++ > 0) this.reconnects++;
    });
    c.on('error', () => undefined);
    c.on('message', (_topic, payload) => {
      this.received++;
      tally.received(idOf(payload));
    });
    // the PUBACK goes out when the callback runs (mqtt.js handlers/publish.js, QoS 1)
    c.handleMessage = (_packet, done) => {
      if (this.ackDelayMs <= 0) done();
      else setTimeout(() => done(), this.ackDelayMs);
    };
    await c.subscribeAsync(filter, { qos: 1 });
    this.#client = c;
  }

  async close(): Promise<void> {
    await this.#client?.endAsync(true).catch(() => undefined);
  }
}
