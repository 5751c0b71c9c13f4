/**
 * Persistent sessions and retained messages kept in a listener store: what a listener held for
 * its clients is back after a restart of the connector on the same store (the "disk"), and a
 * publisher's PUBACK comes only once its message is stored in every persistent session it was
 * queued to. Real TCP on localhost, raw clients (every packet id and DUP flag visible).
 */
import type { Socket } from 'node:net';
import { jest } from '@jest/globals';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { noopMetrics, type InboundDelivery } from '@ferry/core';
import { MemoryListenerStore, captureLogger, freePort, waitFor, type LogLine } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { rawClient, type RawClient } from './test-support.js';

jest.setTimeout(20_000);

let port: number;
let store: MemoryListenerStore;
let listener: MqttListenerConnector | undefined;
const sockets: Socket[] = [];
const lines: LogLine[] = [];

async function startListener(extra: Record<string, unknown> = {}): Promise<MqttListenerConnector> {
  const l = new MqttListenerConnector(
    { gatewayId: 't', logger: captureLogger(lines), metrics: noopMetrics, baseDir: '.', listenerStore: store },
    'devices',
    mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, ...extra }),
  );
  await l.openSources([{ route: 'r', from: { topic: '#' } }], (d: InboundDelivery) => d.settlement.accept());
  await l.start();
  listener = l;
  return l;
}

/** stop, as a restart does: the store keeps what was written */
async function restart(): Promise<MqttListenerConnector> {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.stop();
  lines.length = 0;
  return startListener();
}

beforeEach(async () => {
  port = await freePort();
  store = new MemoryListenerStore();
  lines.length = 0;
  await startListener();
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.stop();
  listener = undefined;
});

const publishes = (c: RawClient): IPublishPacket[] => c.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
const find = (c: RawClient, cmd: Packet['cmd']): Packet | undefined => c.packets.find((p) => p.cmd === cmd);

/**
 * A PINGREQ answered: the listener handles a connection's packets in the order they came and
 * writes its answers on the one socket, so a PUBACK sent while an earlier PUBLISH was handled
 * would have arrived before this PINGRESP.
 */
async function pinged(c: RawClient): Promise<void> {
  const before = c.packets.filter((p) => p.cmd === 'pingresp').length;
  c.send({ cmd: 'pingreq' });
  await waitFor(() => c.packets.filter((p) => p.cmd === 'pingresp').length > before, 'the PINGRESP');
}

async function connect(clientId: string, version: 4 | 5, opts: { clean: boolean; expiry?: number }): Promise<RawClient> {
  const c = await rawClient(port, version, sockets);
  c.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean: opts.clean,
    clientId,
    keepalive: 0,
    ...(version === 5 && opts.expiry !== undefined ? { properties: { sessionExpiryInterval: opts.expiry } } : {}),
  });
  await waitFor(() => find(c, 'connack') !== undefined, `CONNACK for ${clientId}`);
  return c;
}

async function subscribe(c: RawClient, filter: string, qos: 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
  await waitFor(() => find(c, 'suback') !== undefined, 'SUBACK');
}

/** disconnect cleanly and wait until the listener saw the session go */
async function leave(c: RawClient, clientId: string): Promise<void> {
  c.send({ cmd: 'disconnect' });
  await waitFor(() => c.closed, 'socket closed');
  await waitFor(() => listener?.broker?.sessionStats(clientId)?.connected === false, 'session detached');
}

it('3.1.1 clean session 0: queued QoS 1 messages are stored before the PUBACK and delivered after a restart', async () => {
  const sub = await connect('keeper', 4, { clean: false });
  await subscribe(sub, 'a/#', 1);
  await leave(sub, 'keeper');
  const pub = await connect('pub', 4, { clean: true });
  // a slow disk: the messages are queued in the session, and no PUBACK goes out before they are written
  const release = store.hold();
  for (let i = 1; i <= 5; i++) pub.send({ cmd: 'publish', topic: `a/${i}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
  await waitFor(() => listener?.broker?.sessionStats('keeper')?.queued === 5, '5 queued in the session');
  await pinged(pub);
  expect(pub.packets.filter((p) => p.cmd === 'puback')).toHaveLength(0);
  release();
  await waitFor(() => pub.packets.filter((p) => p.cmd === 'puback').length === 5, '5 PUBACKs');
  // the settlement contract: every acknowledged message is on "disk" in the session's queue
  expect([...store.records.keys()].filter((k) => k.startsWith('m\0keeper\0'))).toHaveLength(5);

  await restart();
  expect(lines.find((l) => l.message === 'listener state restored')?.fields).toMatchObject({ sessions: 1, messages: 5 });
  const back = await connect('keeper', 4, { clean: false });
  expect(find(back, 'connack')).toMatchObject({ sessionPresent: true });
  await waitFor(() => publishes(back).length === 5, 'the 5 queued messages');
  expect(publishes(back).map((p) => p.payload.toString())).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  for (const p of publishes(back)) back.send({ cmd: 'puback', messageId: p.messageId as number });
  await waitFor(() => [...store.records.keys()].every((k) => !k.startsWith('m\0')), 'acknowledged messages deleted from the store');
});

it('a publish that waited for room in a full queue is acknowledged only once its copy, queued late, is stored', async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.stop();
  await startListener({ sessionQueueLimit: 2, maxInflightMessages: 1 });
  const sub = await connect('keeper', 4, { clean: false });
  await subscribe(sub, 'w/#', 1);
  const pub = await connect('pubw', 4, { clean: true });
  const pubacks = (): number => pub.packets.filter((p) => p.cmd === 'puback').length;
  // one in flight, two queued, two waiting for room with their PUBACKs
  for (let i = 1; i <= 5; i++) pub.send({ cmd: 'publish', topic: `w/${i}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
  await waitFor(() => listener?.broker?.sessionStats('keeper')?.waiting === 2 && pubacks() === 3, '3 PUBACKs, 2 waiting');
  const release = store.hold();
  // the subscriber's PUBACK makes room: m4 enters the queue, and its record waits for the disk
  sub.send({ cmd: 'puback', messageId: publishes(sub)[0]?.messageId as number });
  await waitFor(() => listener?.broker?.sessionStats('keeper')?.waiting === 1, 'm4 admitted');
  await pinged(pub);
  expect(pubacks()).toBe(3);
  release();
  await waitFor(() => pubacks() === 4, 'the PUBACK of m4');
  const stored = [...store.records.values()].map((v) => v.toString('latin1'));
  expect(stored.some((v) => v.includes('m4'))).toBe(true);
});

it('MQTT 5 §4.4: a message in flight at the restart is resent with its packet id and DUP; a QoS 2 one past PUBREC gets PUBREL', async () => {
  const sub = await connect('inflight', 5, { clean: true, expiry: 600 });
  await subscribe(sub, 'q/#', 2);
  const pub = await connect('pub5', 5, { clean: true });
  pub.send({ cmd: 'publish', topic: 'q/1', payload: Buffer.from('one'), qos: 1, messageId: 1, retain: false, dup: false });
  pub.send({ cmd: 'publish', topic: 'q/2', payload: Buffer.from('two'), qos: 2, messageId: 2, retain: false, dup: false });
  await waitFor(() => publishes(sub).length === 2, 'both delivered');
  const [one, two] = publishes(sub) as [IPublishPacket, IPublishPacket];
  // QoS 2: PUBREC answered by PUBREL; the subscriber never sends PUBCOMP, nor PUBACK for QoS 1
  sub.send({ cmd: 'pubrec', messageId: two.messageId as number });
  await waitFor(() => find(sub, 'pubrel') !== undefined, 'PUBREL');
  await waitFor(() => store.batches > 0 && [...store.records.keys()].filter((k) => k.startsWith('m\0inflight\0')).length === 2, 'both stored');

  await restart();
  const back = await connect('inflight', 5, { clean: false, expiry: 600 });
  expect(find(back, 'connack')).toMatchObject({ sessionPresent: true });
  await waitFor(() => publishes(back).length === 1 && find(back, 'pubrel') !== undefined, 'resend and PUBREL');
  expect(publishes(back)[0]).toMatchObject({ messageId: one.messageId, dup: true, qos: 1, topic: 'q/1' });
  expect(publishes(back)[0]?.payload.toString()).toBe('one');
  expect(find(back, 'pubrel')).toMatchObject({ messageId: two.messageId });
});

it('retained messages survive a restart; a cleared one does not come back', async () => {
  const pub = await connect('ret', 4, { clean: true });
  pub.send({ cmd: 'publish', topic: 'r/keep', payload: Buffer.from([0, 1, 2, 255]), qos: 1, messageId: 1, retain: true, dup: false });
  pub.send({ cmd: 'publish', topic: 'r/gone', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: true, dup: false });
  pub.send({ cmd: 'publish', topic: 'r/gone', payload: Buffer.alloc(0), qos: 1, messageId: 3, retain: true, dup: false });
  await waitFor(() => pub.packets.filter((p) => p.cmd === 'puback').length === 3, '3 PUBACKs');
  await restart();
  const sub = await connect('reader', 4, { clean: true });
  await subscribe(sub, 'r/#', 1);
  await waitFor(() => publishes(sub).length === 1, 'the retained message');
  expect(publishes(sub)[0]).toMatchObject({ topic: 'r/keep', retain: true });
  expect(publishes(sub)[0]?.payload).toEqual(Buffer.from([0, 1, 2, 255]));
});

it('the session expiry clock runs on across a restart: an expired session is gone, its records deleted', async () => {
  const sub = await connect('brief', 5, { clean: true, expiry: 1 });
  await subscribe(sub, 'e/#', 1);
  await leave(sub, 'brief');
  await listener?.broker?.written();
  expect(store.records.has('s\0brief')).toBe(true);
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.stop();
  const ended = Date.now() + 1100;
  await waitFor(() => Date.now() > ended, 'the expiry passed while stopped');
  await startListener();
  await listener?.broker?.written();
  expect(store.records.has('s\0brief')).toBe(false);
  const back = await connect('brief', 5, { clean: false, expiry: 1 });
  expect(find(back, 'connack')).toMatchObject({ sessionPresent: false });
});

it('an unreadable record is an error naming it; the rest is restored', async () => {
  const sub = await connect('good', 4, { clean: false });
  await subscribe(sub, 'g/#', 1);
  const pub = await connect('pubc', 4, { clean: true });
  pub.send({ cmd: 'publish', topic: 'g/ret', payload: Buffer.from('r'), qos: 1, messageId: 1, retain: true, dup: false });
  await waitFor(() => find(pub, 'puback') !== undefined, 'PUBACK');
  await listener?.broker?.written();
  store.records.set('r\0g/broken', Buffer.from('not a record'));
  await restart();
  const err = lines.find((l) => l.level === 'error' && l.message === 'skipped an unreadable listener record');
  expect(err?.fields['key']).toBe('r\0g/broken');
  expect(String(err?.fields['error'])).toContain('"r\\u0000g/broken"');
  expect(lines.find((l) => l.message === 'listener state restored')?.fields).toMatchObject({ sessions: 1, retained: 1, unreadable: 1 });
  const back = await connect('good', 4, { clean: false });
  expect(find(back, 'connack')).toMatchObject({ sessionPresent: true });
});
