/**
 * A fleet of MQTT devices as they behave in the field: persistent sessions (clean = false,
 * fixed client ids), automatic reconnect, QoS 1 publishes with a window of outstanding
 * PUBACKs, a unique id in every payload, and every message kept until it was acknowledged.
 *
 * What mqtt.js 5.16 does across a reconnect (read in build/lib/client.js and checked by the
 * fault tests): a QoS 1 PUBLISH goes into the client's outgoing store before it is written and
 * leaves it only on its PUBACK. On every CONNACK `_onConnect` replays the whole outgoing store,
 * whether or not the server reports a session (it only drops incoming QoS 2 state when
 * `sessionPresent` is false). So when Ferry restarts without the session (its listener keeps
 * sessions in memory), the device still resends every unacknowledged message; MQTT 5 §4.4 lets
 * a client do that on a new session. One gap: a publish made while the store is being replayed
 * is queued outside the store, and if the connection drops during the replay mqtt.js fails it
 * with "Connection closed" without ever sending it. A device must publish such a message again,
 * so `publishUntilAcked` does (counted as `republished`).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Tally } from '@ferry/testkit';

export interface FleetOptions {
  /** host port devices connect to */
  readonly port: number;
  /** client ids are `${prefix}-d${n}` */
  readonly prefix: string;
  readonly devices: number;
  readonly perDevice: number;
  /** PUBACKs awaited at once per device */
  readonly window: number;
  readonly topic: (device: number, i: number) => string;
  /** counts every id as sent */
  readonly tally: Tally;
  readonly protocolVersion?: 4 | 5;
  readonly reconnectPeriodMs?: number;
  /** pad each payload to this many bytes: the id, a space, then filler (default: the id alone) */
  readonly payloadBytes?: number;
}

/** The id in a payload made by a fleet with `payloadBytes` (everything before the first space). */
export function idOfPayload(payload: Buffer): string {
  const end = payload.indexOf(0x20);
  return payload.toString('utf8', 0, end < 0 ? payload.length : end);
}

export class Fleet {
  readonly #opts: FleetOptions;
  readonly clients: MqttClient[] = [];
  /** messages handed to mqtt.js (each id once) */
  published = 0;
  /** the ids whose PUBACK came back (0x00), e.g. to check each one is at the destination */
  readonly ackedIds = new Set<string>();
  /** publishes mqtt.js failed without sending, published again */
  republished = 0;
  /** ids the server refused with an MQTT 5 PUBACK reason code >= 0x80 (never resent, §4.4) */
  readonly rejected = new Map<string, number>();
  /** CONNACKs after the first one, over all devices */
  reconnects = 0;
  /** CONNACKs with session present = false after the first one */
  sessionLost = 0;
  #done: Promise<void> | undefined;

  constructor(opts: FleetOptions) {
    this.#opts = opts;
  }

  /** messages whose PUBACK came back */
  get acked(): number {
    return this.ackedIds.size;
  }

  get total(): number {
    return this.#opts.devices * this.#opts.perDevice;
  }

  /** awaiting their PUBACK right now */
  get outstanding(): number {
    return this.published - this.acked - this.rejected.size;
  }

  /** Connect every device (the server must be up) and start publishing. */
  async start(): Promise<void> {
    const { devices, port, prefix } = this.#opts;
    for (let d = 0; d < devices; d++) this.clients.push(await this.#connect(port, `${prefix}-d${d}`));
    this.#done = Promise.all(this.clients.map((c, d) => this.#publishAll(c, d))).then(() => undefined);
  }

  /** Resolves when every message was acknowledged. */
  done(): Promise<void> {
    if (!this.#done) throw new Error('fleet not started');
    return this.#done;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.endAsync(true).catch(() => undefined)));
  }

  async #connect(port: number, clientId: string): Promise<MqttClient> {
    const opts: IClientOptions = {
      protocolVersion: this.#opts.protocolVersion ?? 5,
      clientId,
      clean: false,
      reconnectPeriod: this.#opts.reconnectPeriodMs ?? 200,
      connectTimeout: 3_000,
      keepalive: 30,
      ...((this.#opts.protocolVersion ?? 5) === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
    };
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, opts);
    const noDelay = (): void => (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    noDelay();
    // 'packetreceive', not 'connect': mqtt.js emits 'connect' only after replaying its whole
    // outgoing store, and not at all when the connection drops during the replay
    c.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack') return;
      noDelay(); // mqtt.js leaves Nagle on, on every new socket
      this.reconnects++;
      if (!packet.sessionPresent) this.sessionLost++;
    });
    c.on('error', () => undefined); // connection errors: mqtt.js reconnects; publishes wait in its store
    return c;
  }

  async #publishAll(c: MqttClient, d: number): Promise<void> {
    const { perDevice, window, topic, tally, prefix } = this.#opts;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < perDevice) {
        const i = next++;
        const id = `${prefix}:d${d}:${i}`;
        tally.sent(id);
        this.published++;
        const code = await this.#publishUntilAcked(c, topic(d, i), this.#payload(id));
        if (code === undefined) this.ackedIds.add(id);
        else this.rejected.set(id, code);
      }
    };
    await Promise.all(Array.from({ length: Math.min(window, perDevice) }, worker));
  }

  #payload(id: string): Buffer {
    const size = this.#opts.payloadBytes;
    if (size === undefined || size <= id.length + 1) return Buffer.from(id);
    const b = Buffer.alloc(size, 0x2e); // '.'
    b.write(id + ' ', 0, 'utf8');
    return b;
  }

  /** Resolves undefined on a PUBACK 0x00, or the reason code of a refusal. */
  async #publishUntilAcked(c: MqttClient, topic: string, payload: Buffer): Promise<number | undefined> {
    for (;;) {
      try {
        await c.publishAsync(topic, payload, { qos: 1 });
        return undefined;
      } catch (err) {
        if (c.disconnecting) throw err; // the test ended the client
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number' && code >= 0x80) return code; // MQTT 5 §3.4.2.1: a refusal, not resent
        this.republished++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
