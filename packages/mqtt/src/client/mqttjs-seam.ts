/**
 * Everything the `mqtt` connector does with internals of mqtt.js (and the PUBACK it writes with
 * mqtt-packet in mqtt.js's stead). Both libraries are pinned to exact versions in
 * packages/mqtt/package.json; mqttjs-seam.test.ts checks each reliance against the installed
 * copies (docs/architecture.md, "Library seams").
 */
import type { IStream, MqttClient } from 'mqtt';
import mqttPacket, { type IPublishPacket } from 'mqtt-packet';

/**
 * Passed to mqtt.js's `handleMessage` callback to keep it from sending the PUBACK itself.
 *
 * mqtt.js handles incoming packets one at a time: the next packet is processed only after the
 * current PUBLISH's `handleMessage` callback ran and the PUBACK was written
 * (build/lib/client.js `work`/`nextTickWork`, handlers/publish.js). Holding that callback until
 * the settlement would serialize every message behind the slowest destination, and also hold
 * the PUBACKs of Ferry's own publishes on the same connection. Calling it at once with an
 * error makes handlers/publish.js skip its PUBACK (`if (err) return done(err)`; `done` ignores
 * the error) and go on with the next packet; Ferry writes the PUBACK itself when the message
 * is settled, on the same stream it arrived on. Settlements thus complete in any order.
 */
const DEFER_ACK = new Error('ferry: acknowledgement deferred until settlement');

/** MQTT 5 reason code for a PUBACK refusing a message (§3.4.2.1: 0x80 unspecified error). */
const PUBACK_UNSPECIFIED_ERROR = 0x80;

/** What mqtt.js's per-PUBLISH hook receives: the packet and the callback that ends its handling. */
export type IncomingPublish = (packet: IPublishPacket, done: (err?: Error) => void) => void;

/** Route every incoming PUBLISH of `client` to `hook` (mqtt.js's overridable `handleMessage`). */
export function onIncomingPublish(client: MqttClient, hook: IncomingPublish): void {
  client.handleMessage = hook;
}

/**
 * End mqtt.js's handling of one QoS 1 PUBLISH without its PUBACK, so the next packet is read
 * at once; the PUBACK is then Ferry's to write with {@link writePuback}.
 */
export function deferAck(done: (err?: Error) => void): void {
  done(DEFER_ACK);
}

/**
 * Write the PUBACK for `messageId` on `stream`, the connection the PUBLISH came on. `refused`
 * in MQTT 5 carries a failure reason code (§3.4.2.1), so the broker does not resend. 3.1.1 has
 * no negative ack: a refusal is permanent, so a plain PUBACK stops the resending.
 */
export function writePuback(stream: IStream, messageId: number, protocolVersion: 3 | 4 | 5, refused: boolean): void {
  const puback =
    refused && protocolVersion === 5
      ? { cmd: 'puback' as const, messageId, reasonCode: PUBACK_UNSPECIFIED_ERROR }
      : { cmd: 'puback' as const, messageId };
  mqttPacket.writeToStream(puback, stream, { protocolVersion });
}

/**
 * The callback given to `publish` for the QoS 1/2 publish `messageId` while it awaits its
 * acknowledgement: mqtt.js keeps it, unwrapped, as `outgoing[messageId].cb` from the moment
 * the PUBLISH is written ('packetsend') until the PUBACK/PUBCOMP.
 */
export function outgoingCallback(client: MqttClient, messageId: number): unknown {
  return client.outgoing[messageId]?.cb;
}

/** Every publish of `client` awaiting its acknowledgement: its messageId and the callback given to `publish`. */
export function unackedPublishes(client: MqttClient): { readonly id: number; readonly cb: unknown }[] {
  return Object.entries(client.outgoing).map(([id, o]) => ({ id: Number(id), cb: o.cb }));
}

/**
 * Reconnect `client` with the stores it has. mqtt.js's `reconnect(opts)` replaces the incoming
 * and outgoing stores with empty ones unless they are handed in (build/lib/client.js
 * `reconnect`), which would lose the QoS 1/2 publishes awaiting their PUBACK (their callbacks
 * would never fire); with the same stores they are resent on the new connection (MQTT 5 §4.4).
 */
export function reconnectKeepingStores(client: MqttClient): void {
  client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
}

/** streams that already carry the re-pause guard of {@link pauseReading} */
const guarded = new WeakSet<IStream>();

/**
 * Stop reading `stream`, the connection mqtt.js reads packets from, for as long as `held()`
 * says so. mqtt.js pipes the stream into its packet writer (build/lib/client.js `connect`:
 * `this.stream.pipe(writable)`), and a pipe resumes its source on the writer's 'drain': each
 * such resume is undone while `held()` is true. Resume the stream to read again.
 */
export function pauseReading(stream: IStream, held: () => boolean): void {
  if (!guarded.has(stream)) {
    guarded.add(stream);
    stream.on('resume', () => {
      if (held()) stream.pause();
    });
  }
  stream.pause();
}
