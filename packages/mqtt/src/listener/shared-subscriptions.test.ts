/**
 * Shared subscriptions on the mqtt-listener (MQTT 5 §4.8.2, and over 3.1.1 as Mosquitto allows):
 * each message to one member of the group, counted; a member that goes away hands what it did
 * not acknowledge to the others; no retained messages on a shared subscription; malformed share
 * names refused. Real TCP on localhost, no broker.
 */
import type { Socket } from 'node:net';
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { silentLogger, noopMetrics } from '@ferry/core';
import { ManualFlow, Tally, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { mqttjsClient, rawClient, type RawClient } from './test-support.js';

jest.setTimeout(30_000);

let listener: MqttListenerConnector;
let port: number;
const clients: MqttClient[] = [];
const sockets: Socket[] = [];

beforeEach(async () => {
  port = await freePort();
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true }));
  await listener.start();
  await listener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => d.settlement.accept(), new ManualFlow());
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const s of sockets.splice(0)) s.destroy();
  await listener.stop();
});

const connect = (protocolVersion: 4 | 5, clientId: string): Promise<MqttClient> => mqttjsClient(port, protocolVersion, clientId, clients);

/** a raw client that never acknowledges what it is sent; MQTT 5 with Receive Maximum `rm`; `persistent`: its session outlives the connection */
async function rawMember(version: 4 | 5, clientId: string, filter: string, rm: number, persistent = false): Promise<RawClient> {
  const c = await rawClient(port, version, sockets);
  const properties = version === 5 ? { receiveMaximum: rm, ...(persistent ? { sessionExpiryInterval: 60 } : {}) } : undefined;
  c.send({ cmd: 'connect', protocolVersion: version, clientId, clean: !persistent, keepalive: 30, ...(properties === undefined ? {} : { properties }) });
  await waitFor(() => c.packets.some((p) => p.cmd === 'connack'), 'CONNACK');
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] });
  await waitFor(() => c.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  return c;
}

const publishes = (c: RawClient): mqttPacket.IPublishPacket[] => c.packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');

describe.each([5, 4] as const)('MQTT %s', (v) => {
  it('each message goes to exactly one member of the group, round robin (3 members, 60 messages)', async () => {
    const tally = new Tally();
    const per = new Map<string, number>();
    for (const name of ['m1', 'm2', 'm3']) {
      const m = await connect(v, `${name}-${v}`);
      m.on('message', (_t, payload) => {
        tally.received(payload.toString());
        per.set(name, (per.get(name) ?? 0) + 1);
      });
      const granted = await m.subscribeAsync(`$share/g/s${v}/#`, { qos: 1 });
      expect(granted[0]?.qos).toBe(1);
    }
    // a second group on the same filter gets its own copy of every message
    const other = await connect(v, `other-${v}`);
    const otherTally = new Tally();
    other.on('message', (_t, payload) => otherTally.received(payload.toString()));
    await other.subscribeAsync(`$share/h/s${v}/#`, { qos: 1 });

    const pub = await connect(v, `pub-${v}`);
    for (let i = 0; i < 60; i++) {
      const id = `msg-${i}`;
      tally.sent(id);
      otherTally.sent(id);
      await pub.publishAsync(`s${v}/x`, id, { qos: 1 });
    }
    await waitFor(() => tally.counts.received >= 60 && otherTally.counts.received >= 60, 'every message delivered');
    expect(tally.counts).toMatchObject({ sent: 60, unique: 60, duplicated: 0, lost: 0, unexpected: 0 });
    expect(otherTally.counts).toMatchObject({ sent: 60, unique: 60, duplicated: 0, lost: 0, unexpected: 0 });
    expect([...per.values()]).toEqual([20, 20, 20]);
  });

  it.each([false, true])('a member that disconnects hands its unacknowledged and queued messages to the others (persistent session: %s)', async (persistent) => {
    // the raw member never acknowledges: with Receive Maximum 2 (MQTT 5), 2 in flight and the rest queued
    const stuck = await rawMember(v, `stuck-${v}`, `$share/g/h${v}/#`, 2, persistent);
    const tally = new Tally();
    const live = await connect(v, `live-${v}`);
    live.on('message', (_t, payload) => tally.received(payload.toString()));
    await live.subscribeAsync(`$share/g/h${v}/#`, { qos: 1 });
    const pub = await connect(v, `pub-${v}`);
    for (let i = 0; i < 10; i++) {
      tally.sent(`m${i}`);
      await pub.publishAsync(`h${v}/x`, `m${i}`, { qos: 1 });
    }
    await waitFor(() => tally.counts.received === 5 && publishes(stuck).length === (v === 5 ? 2 : 5), 'round robin between the two');
    stuck.socket.destroy();
    await waitFor(() => tally.counts.received === 10, 'the stuck member\'s messages handed over');
    expect(tally.counts).toMatchObject({ sent: 10, unique: 10, duplicated: 0, lost: 0 });
  });

  it('a member that unsubscribes hands its queued messages to the others; its in-flight ones stay with it', async () => {
    const stuck = await rawMember(v, `uns-${v}`, `$share/g/u${v}/#`, 1);
    const received: string[] = [];
    const live = await connect(v, `live-${v}`);
    live.on('message', (_t, payload) => received.push(payload.toString()));
    await live.subscribeAsync(`$share/g/u${v}/#`, { qos: 1 });
    const pub = await connect(v, `pub-${v}`);
    for (let i = 0; i < 6; i++) await pub.publishAsync(`u${v}/x`, `m${i}`, { qos: 1 });
    await waitFor(() => received.length === 3 && publishes(stuck).length >= 1, 'round robin between the two');
    stuck.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: [`$share/g/u${v}/#`] });
    await waitFor(() => stuck.packets.some((p) => p.cmd === 'unsuback'), 'UNSUBACK');
    const inflight = publishes(stuck).map((p) => p.payload.toString());
    // MQTT 5: 1 in flight (Receive Maximum 1), 2 handed over; 3.1.1: all 3 were sent, none queued
    if (v === 5) expect(inflight).toHaveLength(1);
    await waitFor(() => received.length === 6 - inflight.length, 'the queued ones handed over');
    // every message once, to one of the two: none lost, none duplicated
    expect([...received, ...inflight].sort()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
  });

  it('retained messages are not sent on a shared subscription (§4.8.2), but on a plain one', async () => {
    const pub = await connect(v, `pub-${v}`);
    await pub.publishAsync(`r${v}/x`, 'kept', { qos: 1, retain: true });
    const m = await connect(v, `m-${v}`);
    const got: string[] = [];
    m.on('message', (topic, payload) => got.push(`${topic}:${payload.toString()}`));
    await m.subscribeAsync(`$share/g/r${v}/#`, { qos: 1 });
    await pub.publishAsync(`r${v}/y`, 'after', { qos: 1 });
    await waitFor(() => got.length >= 1, 'the message published after subscribing');
    expect(got).toEqual([`r${v}/y:after`]);
    await m.subscribeAsync(`r${v}/x`, { qos: 1 });
    await waitFor(() => got.length >= 2, 'the retained message on the plain subscription');
    expect(got[1]).toBe(`r${v}/x:kept`);
  });

  it('a malformed share name is refused with SUBACK 0x8F (MQTT 5) / 0x80 (3.1.1); a valid one granted', async () => {
    const c = await rawClient(port, v, sockets);
    c.send({ cmd: 'connect', protocolVersion: v, clientId: `bad-${v}`, clean: true, keepalive: 30 });
    await waitFor(() => c.packets.some((p) => p.cmd === 'connack'), 'CONNACK');
    const connack = c.packets.find((p) => p.cmd === 'connack') as mqttPacket.IConnackPacket;
    if (v === 5) expect(connack.properties?.sharedSubscriptionAvailable).toBe(true);
    const bad = ['$share//t', '$share/g+/t', '$share/g#/t', '$share/g', '$share/g/', '$share/g/a/#/b'];
    c.send({ cmd: 'subscribe', messageId: 7, subscriptions: [...bad, '$share/g/ok/+'].map((topic) => ({ topic, qos: 1 as const })) });
    await waitFor(() => c.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
    const suback = c.packets.find((p) => p.cmd === 'suback') as mqttPacket.ISubackPacket;
    const fail = v === 5 ? 0x8f : 0x80;
    expect(suback.granted).toEqual([...bad.map(() => fail), 1]);
    expect(c.closed).toBe(false);
  });
});

it('MQTT 5: No Local on a shared subscription is a Protocol Error, DISCONNECT 0x82 (§3.8.3.1)', async () => {
  const c = await rawClient(port, 5, sockets);
  c.send({ cmd: 'connect', protocolVersion: 5, clientId: 'nl', clean: true, keepalive: 30 });
  await waitFor(() => c.packets.some((p) => p.cmd === 'connack'), 'CONNACK');
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/t', qos: 1, nl: true }] });
  await waitFor(() => c.closed, 'closed');
  const last = c.packets[c.packets.length - 1] as mqttPacket.IDisconnectPacket;
  expect(last.cmd).toBe('disconnect');
  expect(last.reasonCode).toBe(0x82);
});

it('MQTT 5: a QoS 2 message in flight to a member that disconnects stays with it, resent when it comes back (§4.8.2 [MQTT-4.8.2-4])', async () => {
  const session = { cmd: 'connect' as const, protocolVersion: 5 as const, clientId: 'q2', clean: false, keepalive: 30, properties: { sessionExpiryInterval: 60 } };
  const stuck = await rawClient(port, 5, sockets);
  stuck.send(session);
  await waitFor(() => stuck.packets.some((p) => p.cmd === 'connack'), 'CONNACK');
  stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/q/#', qos: 2 }] });
  await waitFor(() => stuck.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
  const live = await connect(5, 'q2-live');
  const got: string[] = [];
  live.on('message', (_t, payload) => got.push(payload.toString()));
  await live.subscribeAsync('$share/g/q/#', { qos: 2 });
  const pub = await connect(5, 'q2-pub');
  await pub.publishAsync('q/x', 'm0', { qos: 2 });
  await pub.publishAsync('q/x', 'm1', { qos: 2 });
  await waitFor(() => publishes(stuck).length === 1 && got.length === 1, 'one each');
  stuck.socket.destroy();
  // the listener has seen the member go: 2 clients left
  await waitFor(() => listener.broker?.clientCount === 2, 'the member gone at the listener');
  await pub.publishAsync('q/x', 'after', { qos: 2 });
  await waitFor(() => got.includes('after'), 'the next message at the connected member');
  expect(got).toEqual(['m1', 'after']);
  const back = await rawClient(port, 5, sockets);
  back.send(session);
  await waitFor(() => publishes(back).length === 1, 'the QoS 2 message resent');
  expect(publishes(back)[0]).toMatchObject({ qos: 2, dup: true });
  expect(publishes(back)[0]?.payload.toString()).toBe('m0');
});
