/**
 * Each reliance of mqttjs-seam.ts on the installed mqtt.js / mqtt-packet, checked against a
 * broker played here byte by byte (the broker's side of the exchange is what the seam is
 * about). A failure here means an upgrade changed what the seam assumes: read
 * docs/architecture.md, "Library seams", before touching the pin.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { deferAck, onIncomingPublish, outgoingCallback, pauseReading, reconnectKeepingStores, unackedPublishes, writePuback } from './mqttjs-seam.js';

const SEE = 'the mqtt.js seam (packages/mqtt/src/client/mqttjs-seam.ts) no longer holds; see docs/architecture.md, "Library seams"';

function seam(ok: boolean, what: string): void {
  if (!ok) throw new Error(`${what}: ${SEE}`);
}

/** A broker that answers CONNECT and records every packet the client sends. */
class PlayedBroker {
  readonly server: Server;
  readonly received: Packet[] = [];
  socket: Socket | undefined;
  readonly #waiters: { match: (p: Packet) => boolean; resolve: (p: Packet) => void }[] = [];

  constructor(readonly protocolVersion: 4 | 5) {
    this.server = createServer((socket) => {
      socket.setNoDelay(true);
      this.socket = socket;
      const parser = mqttPacket.parser({ protocolVersion });
      parser.on('packet', (p: Packet) => this.#onPacket(p));
      socket.on('data', (b: Buffer) => parser.parse(b));
    });
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  next(match: (p: Packet) => boolean): Promise<Packet> {
    const seen = this.received.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ match, resolve }));
  }

  send(p: Packet): void {
    this.socket?.write(mqttPacket.generate(p, { protocolVersion: this.protocolVersion }));
  }

  #onPacket(p: Packet): void {
    this.received.push(p);
    if (p.cmd === 'connect') this.send({ cmd: 'connack', returnCode: 0, reasonCode: 0, sessionPresent: false });
    for (const w of this.#waiters.splice(0)) {
      if (w.match(p)) w.resolve(p);
      else this.#waiters.push(w);
    }
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const publish = (messageId: number): Packet => ({ cmd: 'publish', topic: 'seam/t', payload: Buffer.from([0, 1, 0xff, messageId]), qos: 1, dup: false, retain: false, messageId });
const isMarker = (p: Packet): boolean => p.cmd === 'publish' && p.topic === 'seam/marker';

async function deferredSession(protocolVersion: 4 | 5): Promise<{ broker: PlayedBroker; client: MqttClient; hooked: IPublishPacket[] }> {
  const broker = new PlayedBroker(protocolVersion);
  const port = await broker.listen();
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion, reconnectPeriod: 0, clientId: `seam-${protocolVersion}` });
  const hooked: IPublishPacket[] = [];
  const two = new Promise<void>((resolve) => {
    onIncomingPublish(client, (packet, done) => {
      hooked.push(packet);
      deferAck(done);
      if (hooked.length === 2) resolve();
    });
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  // two PUBLISHes in a row: the second reaches the hook only if mqtt.js went on after the
  // deferred first, without its PUBACK
  broker.send(publish(7));
  broker.send(publish(8));
  await two;
  // a marker written by the client after both were handled: any PUBACK mqtt.js wrote for them
  // reaches the broker before it
  client.publish('seam/marker', 'm', { qos: 0 });
  await broker.next(isMarker);
  return { broker, client, hooked };
}

/** What the running test opened, closed after it. */
let broker: PlayedBroker | undefined;
let client: MqttClient | undefined;
afterEach(async () => {
  client?.end(true);
  await broker?.close();
  broker = undefined;
  client = undefined;
});

describe('mqtt.js seam: deferred PUBACK (mqttjs-seam.ts)', () => {
  for (const version of [4, 5] as const) {
    it(`MQTT ${version === 4 ? '3.1.1' : '5'}: the hook gets each PUBLISH with its messageId and bytes, goes on without a PUBACK, and Ferry's PUBACK reaches the broker`, async () => {
      const s = await deferredSession(version);
      broker = s.broker;
      client = s.client;
      seam(
        s.hooked.map((p) => p.messageId).join(',') === '7,8',
        `handleMessage got messageIds [${s.hooked.map((p) => String(p.messageId)).join(',')}], not [7,8]`,
      );
      seam(
        s.hooked.every((p) => Buffer.isBuffer(p.payload) && p.payload.equals(Buffer.from([0, 1, 0xff, p.messageId ?? -1]))),
        'handleMessage got a payload other than the PUBLISH bytes',
      );
      const acks = s.broker.received.filter((p) => p.cmd === 'puback');
      seam(acks.length === 0, `mqtt.js sent ${acks.length} PUBACK(s) although the handleMessage callback got the deferral error`);

      const stream = s.client.stream as Duplex;
      writePuback(stream, 8, version, false);
      writePuback(stream, 7, version, true);
      const ack8 = await s.broker.next((p) => p.cmd === 'puback' && p.messageId === 8);
      const ack7 = await s.broker.next((p) => p.cmd === 'puback' && p.messageId === 7);
      expect(ack8.cmd === 'puback' ? (ack8.reasonCode ?? 0) : -1).toBe(0);
      // MQTT 5 §3.4.2.1: a refusal carries 0x80; 3.1.1 has no reason code
      expect(ack7.cmd === 'puback' ? (ack7.reasonCode ?? 0) : -1).toBe(version === 5 ? 0x80 : 0);
      seam(s.client.connected, 'the client dropped the connection after the deferral error');
    });
  }
});

/** A client connected to a fresh MQTT 5 played broker; both closed after the test. */
async function connectedClient(clientId: string, clean = true): Promise<[MqttClient, PlayedBroker]> {
  const b = new PlayedBroker(5);
  broker = b;
  const port = await b.listen();
  const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId, clean });
  client = c;
  await new Promise<void>((resolve) => c.once('connect', () => resolve()));
  return [c, b];
}

describe('mqtt.js seam: publishes awaiting their ack (mqttjs-seam.ts)', () => {
  it("the callback given to publish is outgoing[messageId].cb from 'packetsend' until the ack, and removeOutgoingMessage fails it", async () => {
    const [c, b] = await connectedClient('seam-outgoing');
    let failedWith: Error | undefined;
    let resolveFailed: (() => void) | undefined;
    const failed = new Promise<void>((r) => (resolveFailed = r));
    const cb = (err?: Error): void => {
      failedWith = err;
      resolveFailed?.();
    };
    const atSend = new Promise<{ id: number; seen: unknown; all: { id: number; cb: unknown }[] }>((resolve) => {
      c.on('packetsend', (p: Packet) => {
        if (p.cmd === 'publish' && p.messageId !== undefined) resolve({ id: p.messageId, seen: outgoingCallback(c, p.messageId), all: unackedPublishes(c) });
      });
    });
    c.publish('seam/out', Buffer.from([1, 2, 3]), { qos: 1 }, cb);
    const s = await atSend;
    // the broker holds the PUBACK back, so the publish stays unacknowledged
    await b.next((p) => p.cmd === 'publish' && p.topic === 'seam/out');
    seam(s.seen === cb, "at 'packetsend', outgoing[messageId].cb is not the callback given to publish");
    seam(s.all.length === 1 && s.all[0]?.id === s.id && s.all[0].cb === cb, `outgoing held [${s.all.map((o) => String(o.id)).join(',')}], not the one publish with its callback`);
    c.removeOutgoingMessage(s.id);
    await failed;
    seam(failedWith instanceof Error, 'removeOutgoingMessage did not fail the publish callback with an error');
    seam(unackedPublishes(c).length === 0, 'removeOutgoingMessage left the publish in outgoing');
  });
});

describe('mqtt.js seam: reconnecting with the same stores (mqttjs-seam.ts)', () => {
  it('reconnectKeepingStores keeps the stores and the publish awaiting its PUBACK in them; reconnect() without them would empty them', async () => {
    const [c, b] = await connectedClient('seam-stores', false);
    const outgoing = c.outgoingStore;
    const incoming = c.incomingStore;
    c.publish('seam/stores', Buffer.from([4, 2]), { qos: 1 }, () => undefined);
    const sent = await b.next((p) => p.cmd === 'publish' && p.topic === 'seam/stores');
    const id = sent.cmd === 'publish' ? (sent.messageId ?? -1) : -1;
    // the broker drops the connection without the PUBACK
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    b.socket?.destroy();
    await closed;
    const stored = (store: typeof outgoing): Promise<boolean> => new Promise((resolve) => store.get({ messageId: id }, (err: Error | null | undefined) => resolve(err === null || err === undefined)));
    reconnectKeepingStores(c);
    seam(c.outgoingStore === outgoing && c.incomingStore === incoming, 'reconnect({ incomingStore, outgoingStore }) did not keep the stores handed to it');
    seam(await stored(c.outgoingStore), 'the publish awaiting its PUBACK is no longer in the outgoing store after the reconnect');
    // why the seam exists: a plain reconnect() starts with empty stores
    c.reconnect();
    seam(c.outgoingStore !== outgoing, 'reconnect() without stores kept the old ones: reconnectKeepingStores may no longer be needed');
  });
});

describe('mqtt.js seam: pausing the read (mqttjs-seam.ts)', () => {
  it('mqtt.js reads packets only while the stream flows: a paused stream hands over no PUBLISH, even when resumed as its pipe would, until released', async () => {
    const [c, b] = await connectedClient('seam-pause');
    const stream = c.stream as Duplex;
    const handed: number[] = [];
    let gotOne: () => void = () => undefined;
    const arrived = new Promise<void>((resolve) => (gotOne = resolve));
    onIncomingPublish(c, (packet, cb) => {
      handed.push(packet.messageId ?? -1);
      gotOne();
      cb();
    });
    let held = true;
    pauseReading(stream, () => held);
    b.send(publish(9));
    // the bytes wait in the paused stream's buffer: mqtt.js has not read them
    for (let i = 0; i < 500 && stream.readableLength === 0; i++) await new Promise((r) => setImmediate(r));
    seam(stream.readableLength > 0, 'the PUBLISH never reached the paused stream');
    // what a pipe does on its writer's 'drain'; the stream emits 'resume' on the next tick
    stream.resume();
    await new Promise((r) => setImmediate(r));
    seam(stream.isPaused(), 'a resume while held left the stream flowing');
    seam(handed.length === 0, 'mqtt.js handed over a PUBLISH read from a paused stream');
    held = false;
    stream.resume();
    await arrived;
    seam(handed.join(',') === '9', `after the release mqtt.js handed over [${handed.join(',')}], not [9]`);
  });
});
