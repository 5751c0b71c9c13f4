import { connect as tcpConnect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** A raw MQTT client for tests: every byte and packet the listener sends, and whether it closed. */
export interface RawClient {
  readonly socket: Socket;
  readonly bytes: Buffer[];
  readonly packets: Packet[];
  readonly closed: boolean;
  /** raw bytes as they are, or a packet encoded for the client's protocol version */
  send(what: Buffer | number[] | Packet): void;
}

export async function rawClient(port: number, version: 4 | 5, sockets?: Socket[]): Promise<RawClient> {
  const socket = tcpConnect(port, '127.0.0.1');
  socket.setNoDelay(true);
  sockets?.push(socket);
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const parser = mqttPacket.parser({ protocolVersion: version });
  let closed = false;
  const c: RawClient = {
    socket,
    bytes: [],
    packets: [],
    get closed() {
      return closed;
    },
    send: (what) => {
      if (Buffer.isBuffer(what)) socket.write(what);
      else if (Array.isArray(what)) socket.write(Buffer.from(what));
      else socket.write(mqttPacket.generate(what, { protocolVersion: version }));
    },
  };
  parser.on('packet', (p) => c.packets.push(p));
  socket.on('data', (b) => {
    c.bytes.push(b);
    parser.parse(b);
  });
  socket.on('close', () => (closed = true));
  return c;
}

/** An mqtt.js client connected to the listener on `port`, with TCP_NODELAY, kept in `clients` for the test to end. */
export async function mqttjsClient(port: number, protocolVersion: 4 | 5, clientId: string, clients: MqttClient[]): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, clientId, reconnectPeriod: 0 });
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}
