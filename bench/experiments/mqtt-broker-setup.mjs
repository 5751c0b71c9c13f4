import { pathToFileURL } from 'node:url';
import { Wire } from './wire.mjs';

/**
 * What the mqtt-listener experiments share: a build's broker, core and mqtt-packet modules, the
 * broker settings of path C (the listener's defaults), and a client connected on a stream.
 */

/** load into each build (builds.mjs) its MqttBroker module (`broker`), `core` and `mqttPacket` */
export async function loadBrokerBuilds(builds) {
  for (const b of builds) {
    b.broker = await import(pathToFileURL(`${b.dir}/packages/mqtt/dist/listener/broker.js`).href);
    b.core = await import(pathToFileURL(`${b.dir}/node_modules/@ferry/core/dist/index.js`).href);
    b.mqttPacket = (await import(pathToFileURL(`${b.dir}/node_modules/mqtt-packet/mqtt.js`).href)).default;
  }
}

const anonymous = { username: undefined, mayPublish: () => true, maySubscribe: () => true };

/** the listener's default limits, anonymous clients; `session` replaces some session limits */
export function brokerConfig(overrides = {}, session = {}) {
  return {
    maxPacketSize: 1_048_576,
    keepaliveLimit: undefined,
    receiveMaximum: 1000,
    retainedBytesLimit: 64 * 1024 * 1024,
    maxSubscriptionsPerSession: 100,
    maxSessionExpiry: 86_400,
    session: { queueMessages: 10_000, queueBytes: 16 * 1024 * 1024, inflightMessages: 100, inflightBytes: 16 * 1024 * 1024, queueWaitMs: 10_000, ...session },
    maxClients: undefined,
    clientIdRule: undefined,
    auth: { login: async () => ({ ok: true, client: anonymous }) },
    ...overrides,
  };
}

/** a new MqttBroker of build `b`, silent, without metrics */
export function newBroker(b, config) {
  return new b.broker.MqttBroker(config, { logger: b.core.silentLogger, metrics: b.core.noopMetrics, connectorName: 'bench' });
}

/** what the broker's transport hands it for `stream`: a plain TCP connection */
export function accepted(stream) {
  return { stream, info: { transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1, remote: '127.0.0.1:1', authorized: false }, handshakeDone: () => undefined };
}

/** the bytes of `packet` in MQTT 3.1.1, by build `b`'s mqtt-packet */
export function packetOf(b, packet) {
  return b.mqttPacket.generate(packet, { protocolVersion: 4 });
}

const turn = () => new Promise((r) => setImmediate(r));

/** a 3.1.1 client of `broker` on an in-memory stream (wire.mjs), connected, what it was sent taken */
export async function wireClient(b, broker, clientId) {
  const wire = new Wire();
  broker.accept(accepted(wire));
  wire.emit('data', packetOf(b, { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 }));
  await turn();
  await turn();
  wire.take();
  return wire;
}

/** `wireClient` subscribed to devices/+/telemetry at QoS 1 */
export async function wireSubscriber(b, broker, clientId) {
  const sub = await wireClient(b, broker, clientId);
  sub.emit('data', packetOf(b, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/telemetry', qos: 1 }] }));
  await turn();
  sub.take();
  return sub;
}
