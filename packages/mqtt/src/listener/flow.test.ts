/**
 * The mqtt-listener obeys the engine's flow control: while paused it reads no device socket (a
 * publish waits in TCP, nothing is delivered), PUBACKs of what was already taken still go out,
 * and on resume the waiting publishes are delivered. Real TCP on localhost, no broker.
 */
import { createConnection, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { FerryError, silentLogger, noopMetrics, type InboundDelivery } from '@ferry/core';
import { ManualFlow, delay, freePort, waitFor, listenerUnderFlow } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { mqttjsClient } from './test-support.js';

jest.setTimeout(30_000);

let listener: MqttListenerConnector;
let port: number;
const clients: MqttClient[] = [];
let got: InboundDelivery[];
let flow: ManualFlow;

beforeEach(async () => {
  ({ listener, port, got, flow } = await listenerUnderFlow((ctx, p) => new MqttListenerConnector(ctx, 'devices', mqttListenerOptions.parse({ port: p, host: '127.0.0.1', anonymous: true })), { topic: '#' }));
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await listener.stop();
});

const connect = (protocolVersion: 4 | 5, clientId: string): Promise<MqttClient> => mqttjsClient(port, protocolVersion, clientId, clients);

it('paused: publishes are not read; PUBACKs of taken messages still go out; resumed: the rest is delivered', async () => {
  const dev = await connect(5, 'flow-a');
  const acked: string[] = [];
  dev.publish('t/1', 'one', { qos: 1 }, () => acked.push('one'));
  await waitFor(() => got.length === 1, 'first delivery');

  // the listener pauses its sockets as the flow says so, before set returns
  flow.set(true);
  dev.publish('t/2', 'two', { qos: 1 }, () => acked.push('two'));
  dev.publish('t/3', 'three', { qos: 1 }, () => acked.push('three'));
  // settling what was taken before the pause answers the device although Ferry is not reading
  got[0]!.settlement.accept();
  await waitFor(() => acked.includes('one'), 'PUBACK of the first while paused');
  // a bounded wait, as nothing happens to wait for: a paused listener reads nothing, so no event
  // says that it would not have taken 'two' and 'three'
  await delay(300);
  expect(got.map((d) => d.message.body.toString())).toEqual(['one']);
  expect(dev.connected).toBe(true);

  flow.set(false);
  await waitFor(() => got.length === 3, 'the held publishes delivered after resume');
  expect(got.map((d) => d.message.body.toString())).toEqual(['one', 'two', 'three']);
  for (const d of got.slice(1)) d.settlement.accept();
  await waitFor(() => acked.length === 3, 'all acknowledged');
});

it('a device that connects while paused gets its CONNACK, then waits; closeSources resumes reading', async () => {
  flow.set(true);
  const dev = await connect(4, 'flow-b');
  expect(dev.connected).toBe(true);
  dev.publish('t/x', 'x', { qos: 1 });
  // bounded waits, as nothing happens to wait for: paused, the listener reads nothing; then it
  // reads but neither routes nor answers, so no event says the publish was not delivered
  await delay(300);
  expect(got).toHaveLength(0);
  await listener.closeSources();
  // no longer taking: read again, but neither routed nor acknowledged (the device resends later)
  await delay(200);
  expect(got).toHaveLength(0);
  expect(dev.connected).toBe(true);
});

/**
 * A raw MQTT 3.1.1 device over TCP: it ignores Receive Maximum (3.1.1 has none), writes all its
 * QoS 1 publishes at once and records the PUBACKs, so the test controls exactly what the
 * listener may read.
 */
class RawDevice {
  readonly acks: number[] = [];
  closed = false;
  readonly #socket: Socket;
  readonly #parser = mqttPacket.parser({ protocolVersion: 4 });
  #connacked = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
    socket.on('data', (b: Buffer) => this.#parser.parse(b));
    this.#parser.on('packet', (p) => {
      if (p.cmd === 'connack') this.#connacked = true;
      if (p.cmd === 'puback' && p.messageId !== undefined) this.acks.push(p.messageId);
    });
  }

  static async connect(port: number, clientId: string): Promise<RawDevice> {
    const socket = createConnection({ port, host: '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const d = new RawDevice(socket);
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 60 }));
    await waitFor(() => d.#connacked, `CONNACK for ${clientId}`);
    return d;
  }

  /** QoS 1 publishes with ids from..to, all in one write (so one socket read holds them all) */
  burst(clientId: string, from: number, to: number): void {
    const packets: Buffer[] = [];
    for (let id = from; id <= to; id++) {
      packets.push(mqttPacket.generate({ cmd: 'publish', topic: `t/${clientId}`, payload: Buffer.from(`${clientId}:${id}`), qos: 1, messageId: id, retain: false, dup: false }));
    }
    this.#socket.write(Buffer.concat(packets));
  }

  /**
   * QoS 1 publishes with ids from..to, payload `${clientId}:${id}`, each in its own write. The
   * next is written once the listener took this one, or after 30 ms when it does not (it is not
   * reading): so while the listener reads, one read holds one publish, and while it does not,
   * the publishes pile up in TCP as a real device's would.
   */
  async pump(clientId: string, from: number, to: number, taken: (body: string) => boolean): Promise<void> {
    for (let id = from; id <= to && !this.closed; id++) {
      this.#socket.write(mqttPacket.generate({ cmd: 'publish', topic: `t/${clientId}`, payload: Buffer.from(`${clientId}:${id}`), qos: 1, messageId: id, retain: false, dup: false }));
      const end = Date.now() + 30;
      while (!taken(`${clientId}:${id}`) && Date.now() < end) await delay(2);
    }
  }

  destroy(): void {
    this.#socket.destroy();
  }
}

describe('reading decided from every reason at once (receive maximum, flow, closing)', () => {
  const RM = 3;
  const DEVICES = ['da', 'db', 'dc'];
  let rmListener: MqttListenerConnector;
  let rmPort: number;
  const rmFlow = new ManualFlow();
  const taken: InboundDelivery[] = [];
  const devices: RawDevice[] = [];

  beforeEach(async () => {
    rmPort = await freePort();
    taken.length = 0;
    rmFlow.set(false);
    rmListener = new MqttListenerConnector(
      { gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' },
      'rm-devices',
      mqttListenerOptions.parse({ port: rmPort, host: '127.0.0.1', receiveMaximum: RM, anonymous: true }),
    );
    await rmListener.start();
    await rmListener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => taken.push(d), rmFlow);
    for (const id of DEVICES) devices.push(await RawDevice.connect(rmPort, id));
  });

  afterEach(async () => {
    for (const d of devices.splice(0)) d.destroy();
    await rmListener.stop();
  });

  const unsettled = (): InboundDelivery[] => taken.filter((d) => !d.settlement.settled);
  const bodies = (device: string): string[] => taken.map((d) => d.message.body.toString()).filter((b) => b.startsWith(`${device}:`));
  /** nothing more is read: the count stays where it is for a while (TCP on localhost delivers in well under that) */
  async function readsNothingMore(what: string): Promise<void> {
    const before = taken.length;
    await delay(250);
    expect({ what, taken: taken.length }).toEqual({ what, taken: before });
  }

  const count = (device: string): number => bodies(device).length;
  const isTaken = (body: string): boolean => taken.some((d) => d.message.body.toString() === body);
  /** wait until no device is read any more (each is held by one reason or another) */
  async function settleDown(what: string): Promise<void> {
    let before = -1;
    await waitFor(async () => {
      const n = taken.length;
      if (n === before) return true;
      before = n;
      await delay(200);
      return false;
    }, what);
  }

  it('every device goes on to the end through interleaved receive-maximum and flow pauses, in order', async () => {
    const PER = 40;
    const pumps = devices.map((d, i) => d.pump(DEVICES[i] as string, 1, PER, isTaken));
    // each device's socket stops at receiveMaximum unsettled publishes
    await waitFor(() => DEVICES.every((id) => count(id) >= RM), 'receiveMaximum publishes from every device');
    await settleDown('receive maximum reached on every device');
    for (const id of DEVICES) expect(count(id)).toBeLessThan(PER);
    await readsNothingMore('receive maximum reached on every device');

    const round = async (what: string, act: () => Promise<void>): Promise<void> => {
      const before = DEVICES.map(count);
      await act();
      // every device is read again until receive maximum holds it again
      await waitFor(() => DEVICES.every((id, i) => count(id) > (before[i] as number) || count(id) === PER), what);
      await settleDown(what);
    };

    // 1. the flow pauses on top of receive maximum; settling frees receive maximum but the flow
    //    still holds every socket: PUBACKs go out, nothing new is read. Then the flow resumes.
    await round('flow resumed after receive maximum was freed while paused', async () => {
      rmFlow.set(true);
      const settled = unsettled();
      for (const d of settled) d.settlement.accept();
      await waitFor(() => devices.reduce((n, d) => n + d.acks.length, 0) === taken.length, 'PUBACKs while paused');
      await readsNothingMore('flow paused after receive maximum was freed');
      rmFlow.set(false);
    });

    // 2. pause and resume in the same tick while receive maximum holds, then settle: the resume
    //    must not be lost behind the receive-maximum pause
    await round('settled after a same-tick pause and resume', () => {
      rmFlow.set(true);
      rmFlow.set(false);
      for (const d of unsettled()) d.settlement.accept();
      return Promise.resolve();
    });

    // 3. the flow resumes while receive maximum still holds (nothing is read), then settling
    //    releases the socket: one reason at a time, in either order
    await round('settled after the flow resumed', async () => {
      rmFlow.set(true);
      // paused past the tick, unlike round 1: the resume comes from a later turn of the loop
      await delay(50);
      rmFlow.set(false);
      await readsNothingMore('flow resumed but receive maximum still reached');
      for (const d of unsettled()) d.settlement.accept();
    });

    // 4. the rest, with the flow toggling on every settlement
    while (DEVICES.some((id) => count(id) < PER)) {
      const open = unsettled();
      rmFlow.set(true);
      for (const d of open) d.settlement.accept();
      rmFlow.set(false);
      await waitFor(() => unsettled().length > 0 || DEVICES.every((id) => count(id) === PER), 'reading goes on to the end');
    }
    for (const d of unsettled()) d.settlement.accept();
    await Promise.all(pumps);
    expect(taken).toHaveLength(PER * DEVICES.length);
    for (const id of DEVICES) expect(bodies(id)).toEqual(Array.from({ length: PER }, (_, i) => `${id}:${i + 1}`));
    await waitFor(() => devices.every((d) => d.acks.length === PER), 'every PUBACK');
  });

  it('a device that connects while the flow is paused and receive maximum holds others is read once both clear', async () => {
    await Promise.all(devices.map((d, i) => d.pump(DEVICES[i] as string, 1, RM, isTaken)));
    await waitFor(() => taken.length === RM * DEVICES.length, 'receive maximum from every device');
    rmFlow.set(true);
    const late = await RawDevice.connect(rmPort, 'late');
    devices.push(late);
    const lateDone = late.pump('late', 1, 2, isTaken);
    await readsNothingMore('late device while paused');
    for (const d of unsettled()) d.settlement.accept();
    rmFlow.set(false);
    await waitFor(() => bodies('late').length === 2, 'the late device read after resume');
    expect(bodies('late')).toEqual(['late:1', 'late:2']);
    await lateDone;
  });

  it('a paused connection that Ferry closes (a released publish) is closed, not left paused', async () => {
    const [first] = devices as [RawDevice];
    const pumping = first.pump('da', 1, RM + 2, isTaken);
    await waitFor(() => bodies('da').length === RM, 'receive maximum from the device');
    rmFlow.set(true);
    // release: the listener closes the connection so the device resends (§4.4); the socket is
    // paused by both reasons and must still close
    const mine = taken.filter((d) => d.message.body.toString().startsWith('da:'));
    mine[0]?.settlement.release(new FerryError('NOT_CONNECTED', 'sink down'));
    await waitFor(() => first.closed, 'the released device connection closed');
    // the other publishes it sent are neither read nor acknowledged; settling them sends nothing
    for (const d of mine.slice(1)) d.settlement.accept();
    expect(first.acks).toEqual([]);
    await pumping;
  });
});

describe('a full route holds back only the devices whose publishes wait for it (InboundDelivery.onWait)', () => {
  let wListener: MqttListenerConnector;
  let wPort: number;
  const taken: InboundDelivery[] = [];
  const devices: RawDevice[] = [];

  beforeEach(async () => {
    wPort = await freePort();
    taken.length = 0;
    wListener = new MqttListenerConnector(
      { gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' },
      'w-devices',
      mqttListenerOptions.parse({ port: wPort, host: '127.0.0.1', anonymous: true }),
    );
    await wListener.start();
    // the flow never pauses the whole listener here: only onWait holds a device back
    await wListener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => taken.push(d), new ManualFlow());
    for (const id of ['slow', 'other']) devices.push(await RawDevice.connect(wPort, id));
  });

  afterEach(async () => {
    for (const d of devices.splice(0)) d.destroy();
    await wListener.stop();
  });

  const bodies = (device: string): string[] => taken.map((d) => d.message.body.toString()).filter((b) => b.startsWith(`${device}:`));
  const isTaken = (body: string): boolean => taken.some((d) => d.message.body.toString() === body);

  it('the listener says it scopes flow per delivery, and hands each client publish an onWait', async () => {
    expect(wListener.flowScope).toBe('delivery');
    const [slow] = devices as [RawDevice];
    await slow.pump('slow', 1, 1, isTaken);
    await waitFor(() => taken.length === 1, 'one publish');
    expect(typeof taken[0]?.onWait).toBe('function');
  });

  it('while a device’s publish waits, that device is not read; another device is read and acknowledged throughout; once taken, the first goes on', async () => {
    const [slow, other] = devices as [RawDevice, RawDevice];
    await slow.pump('slow', 1, 1, isTaken);
    await waitFor(() => bodies('slow').length === 1, "the slow device's first publish");
    // the engine says it waits for room on a full route
    taken[0]?.onWait?.(true);
    const slowPumping = slow.pump('slow', 2, 4, isTaken);
    // the other device publishes and gets every PUBACK meanwhile
    const otherPumping = other.pump('other', 1, 20, isTaken);
    await waitFor(() => bodies('other').length === 20, 'all of the other device read');
    for (const d of taken.filter((t) => t.message.body.toString().startsWith('other:'))) d.settlement.accept();
    await waitFor(() => other.acks.length === 20, 'PUBACKs of the other device');
    await otherPumping;
    await slowPumping;
    // a bounded wait, as nothing happens to wait for: a device held back is not read at all
    await delay(200);
    expect(bodies('slow')).toEqual(['slow:1']);
    // admitted: the slow device is read again, in order
    taken[0]?.onWait?.(false);
    await waitFor(() => bodies('slow').length === 4, 'the slow device read again');
    expect(bodies('slow')).toEqual(['slow:1', 'slow:2', 'slow:3', 'slow:4']);
    for (const d of taken.filter((t) => t.message.body.toString().startsWith('slow:'))) d.settlement.accept();
    await waitFor(() => slow.acks.length === 4, 'PUBACKs of the slow device');
  });

  it('a device held back stops between two packets of one socket read: one publish waits, the rest are read one by one as each is taken', async () => {
    await wListener.closeSources();
    taken.length = 0;
    // every publish waits at first, as on a full route: the engine tells the device at once
    const waiting: InboundDelivery[] = [];
    await wListener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => {
      taken.push(d);
      waiting.push(d);
      d.onWait?.(true);
    }, new ManualFlow());
    const [slow] = devices as [RawDevice];
    slow.burst('slow', 1, 50);
    await waitFor(() => taken.length === 1, 'the first publish of the burst');
    // a bounded wait, as nothing happens to wait for: a device held back is not read at all
    await delay(200);
    expect(bodies('slow')).toEqual(['slow:1']);
    // each admission lets exactly one more in
    for (let i = 2; i <= 50; i++) {
      waiting.shift()?.onWait?.(false);
      await waitFor(() => taken.length === i, `publish ${i} of the burst`);
    }
    waiting.shift()?.onWait?.(false);
    expect(bodies('slow')).toEqual(Array.from({ length: 50 }, (_, i) => `slow:${i + 1}`));
    for (const d of taken) d.settlement.accept();
    await waitFor(() => slow.acks.length === 50, 'every PUBACK');
  });
});
