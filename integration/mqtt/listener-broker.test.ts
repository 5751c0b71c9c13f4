import { connect as tcpConnect, type Socket } from 'node:net';
import { createMessage, FerryError, type GatewayMessage } from '@ferry/core';
import { freePort, RecordingMetrics, waitFor } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { context, device, end, prefix } from './helpers.js';

interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

function collect(c: MqttClient): Received[] {
  const out: Received[] = [];
  c.on('message', (topic, payload, packet) => out.push({ topic, payload, packet }));
  return out;
}

/** A raw TCP MQTT client that records every packet the server sends. */
async function rawClient(port: number, version: 4 | 5): Promise<{ socket: Socket; packets: Packet[]; closed: () => boolean }> {
  const socket = tcpConnect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.on('error', () => undefined);
  const parser = mqttPacket.parser({ protocolVersion: version });
  const packets: Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  socket.on('data', (b) => parser.parse(b));
  let isClosed = false;
  socket.on('close', () => (isClosed = true));
  return { socket, packets, closed: () => isClosed };
}

describe('mqtt-listener: the embedded broker', () => {
  let listener: MqttListenerConnector;
  let port: number;
  let url: string;
  let metrics: RecordingMetrics;
  const clients: MqttClient[] = [];

  const start = async (extra: Record<string, unknown> = {}): Promise<void> => {
    port = await freePort();
    metrics = new RecordingMetrics();
    listener = new MqttListenerConnector(context(metrics), 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, ...extra }));
    await listener.start();
    url = `mqtt://127.0.0.1:${port}`;
  };
  const connect = async (opts: Parameters<typeof device>[1] = {}): Promise<MqttClient> => {
    const c = await device(url, opts);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    await end(...clients.splice(0));
    await listener.stop();
  });

  /**
   * The barrier before "nothing more arrived": a device publishes a marker on `topic` and each
   * collector waits for it. The listener writes to a connection in the order messages reach it,
   * so a copy that was due before the marker has arrived once the marker has. The markers are
   * taken out again, so the assertions see only what the test sent. `publishOn` is where the
   * device publishes it, when a route takes it from there to `topic`.
   */
  const fence = async (into: Received[][], topic: string, publishOn = topic): Promise<void> => {
    const pub = await connect({ protocolVersion: 4 });
    await pub.publishAsync(publishOn, 'fence', { qos: 1 });
    await waitFor(() => into.every((got) => got.some((g) => g.topic === topic)), `the fence on ${topic}`);
    for (const got of into) got.splice(got.findIndex((g) => g.topic === topic), 1);
  };

  it('end to end: MQTT 5 device → route rewrites the topic → v5 subscriber gets every property, 3.1.1 subscriber the bytes', async () => {
    await start();
    const p = prefix('e2e');
    const sub5 = await connect({ protocolVersion: 5 });
    const sub4 = await connect({ protocolVersion: 4 });
    await sub5.subscribeAsync(`${p}/out/#`, { qos: 1 });
    await sub4.subscribeAsync(`${p}/out/#`, { qos: 1 });
    const got5 = collect(sub5);
    const got4 = collect(sub4);
    // the "engine": route in/+ → out/{1} through the listener's own sink, then accept
    await listener.openSources([{ route: 'rewrite', from: { topic: `${p}/in/+` } }], (d) => {
      const level = d.message.source.address.split('/').pop() ?? '';
      listener.sink.write(d.message, { topic: `${p}/out/${level}`, qos: 1 }).then(
        () => d.settlement.accept(),
        (err: unknown) => d.settlement.release(err as FerryError),
      );
    });
    const dev = await connect({ protocolVersion: 5 });
    const body = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
    const props = {
      userProperties: { a: '1', multi: ['x', 'y'] },
      contentType: 'application/cbor',
      correlationData: Buffer.from([1, 2, 3, 4]),
      responseTopic: `${p}/reply`,
      messageExpiryInterval: 300,
      payloadFormatIndicator: false,
    };
    await dev.publishAsync(`${p}/in/dev7`, body, { qos: 1, properties: props });
    await waitFor(() => got5.length >= 1 && got4.length >= 1, 'both subscribers');
    await fence([got5, got4], `${p}/out/fence`, `${p}/in/fence`);
    // the device publish itself does not match out/#, so each subscriber gets exactly one copy
    expect(got5).toHaveLength(1);
    expect(got4).toHaveLength(1);
    const m5 = got5[0]!;
    expect(m5.topic).toBe(`${p}/out/dev7`);
    expect(m5.payload).toEqual(body);
    expect(m5.packet.qos).toBe(1);
    const rp = m5.packet.properties!;
    expect(rp.userProperties).toEqual({ a: '1', multi: ['x', 'y'] });
    expect(rp.contentType).toBe('application/cbor');
    expect(rp.correlationData).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(rp.responseTopic).toBe(`${p}/reply`);
    expect(rp.payloadFormatIndicator).toBe(false);
    expect(rp.messageExpiryInterval).toBeGreaterThan(295);
    expect(rp.messageExpiryInterval).toBeLessThanOrEqual(300);
    expect(got4[0]!.payload).toEqual(body);
    expect(got4[0]!.packet.properties).toBeUndefined();
  });

  it('device publishes reach the listener’s own subscribers with QoS downgrade and subscription identifiers', async () => {
    await start();
    const p = prefix('local');
    const sub = await connect({ protocolVersion: 5 });
    await sub.subscribeAsync(`${p}/#`, { qos: 0, properties: { subscriptionIdentifier: 7 } });
    await sub.subscribeAsync(`${p}/a/+`, { qos: 1, properties: { subscriptionIdentifier: 9 } });
    const got = collect(sub);
    const dev = await connect({ protocolVersion: 4 });
    await dev.publishAsync(`${p}/a/b`, 'x', { qos: 1 });
    await waitFor(() => got.length === 1, 'one copy');
    await fence([got], `${p}/fence`);
    expect(got).toHaveLength(1);
    // §3.3.4: one copy at the highest granted QoS, carrying both identifiers
    expect(got[0]!.packet.qos).toBe(1);
    expect(got[0]!.packet.properties?.subscriptionIdentifier).toEqual([7, 9]);
  });

  it('sink: resolves once taken, retain kept; a late subscriber gets the retained message with RETAIN 1', async () => {
    await start();
    const p = prefix('retain');
    const live = await connect({ protocolVersion: 4 });
    await live.subscribeAsync(`${p}/#`, { qos: 1 });
    const gotLive = collect(live);
    const msg = createMessage({
      body: Buffer.from('state=on'),
      retain: true,
      headers: new Map([['origin', 'amqp']]),
      correlationId: 'abc',
      source: { connector: 'rabbit', protocol: 'amqp091', address: 'x.y' },
    });
    await listener.sink.write(msg, { topic: `${p}/lamp`, qos: 1 });
    await waitFor(() => gotLive.length === 1, 'live delivery');
    // 3.1.1 [MQTT-3.3.1-9]: an established subscription gets RETAIN 0
    expect(gotLive[0]!.packet.retain).toBe(false);
    const late = await connect({ protocolVersion: 5 });
    const gotLate = collect(late);
    await late.subscribeAsync(`${p}/#`, { qos: 1 });
    await waitFor(() => gotLate.length === 1, 'retained delivery');
    expect(gotLate[0]!.packet.retain).toBe(true);
    expect(gotLate[0]!.payload.toString()).toBe('state=on');
    expect(gotLate[0]!.packet.properties?.userProperties).toEqual({ origin: 'amqp' });
    expect(gotLate[0]!.packet.properties?.correlationData).toEqual(Buffer.from('abc'));
    // an empty retained message clears it (§3.3.1.3)
    await listener.sink.write(createMessage({ ...msg, body: Buffer.alloc(0) }), { topic: `${p}/lamp`, qos: 1 });
    const later = await connect({ protocolVersion: 5 });
    const gotLater = collect(later);
    await later.subscribeAsync(`${p}/#`, { qos: 1 });
    await fence([gotLater], `${p}/fence`);
    expect(gotLater).toHaveLength(0);
  });

  it('sink: an expired message is dropped and counted, not sent', async () => {
    await start();
    const p = prefix('expired');
    const sub = await connect({ protocolVersion: 5 });
    await sub.subscribeAsync(`${p}/#`, { qos: 1 });
    const got = collect(sub);
    const msg: GatewayMessage = createMessage({ body: Buffer.from('old'), expiresAt: Date.now() - 1, source: { connector: 'x', protocol: 'stomp', address: '/topic/a' } });
    await listener.sink.write(msg, { topic: `${p}/t`, qos: 1 });
    await fence([got], `${p}/fence`);
    expect(got).toHaveLength(0);
    expect(metrics.count('messages_dropped_total', { connector: 'devices', reason: 'expired' })).toBe(1);
  });

  it('sink: NOT_CONNECTED when the listener is not running', async () => {
    await start();
    await listener.stop();
    const msg = createMessage({ body: Buffer.from('x'), source: { connector: 'x', protocol: 'mqtt', address: 'a' } });
    await expect(listener.sink.write(msg, { topic: 'a', qos: 1 })).rejects.toMatchObject({ code: 'NOT_CONNECTED', permanent: false });
  });

  it('persistent session: QoS 1 messages queued while the subscriber is away arrive on reconnect (session present)', async () => {
    await start();
    const p = prefix('session');
    const clientId = `persist-${Date.now()}`;
    const sub = await device(url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync(`${p}/#`, { qos: 1 });
    await sub.endAsync();
    const pub = await connect({ protocolVersion: 4 });
    for (let i = 0; i < 5; i++) await pub.publishAsync(`${p}/m`, `q${i}`, { qos: 1 });
    const back = mqtt.connect(url, { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 0 });
    clients.push(back);
    const got = collect(back);
    let sessionPresent: boolean | undefined;
    back.on('connect', (ack) => (sessionPresent = ack.sessionPresent));
    await waitFor(() => got.length === 5, 'queued messages');
    expect(sessionPresent).toBe(true);
    expect(got.map((g) => g.payload.toString())).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
  });

  it('clean start discards the session (session present 0)', async () => {
    await start();
    const clientId = `clean-${Date.now()}`;
    const a = await device(url, { protocolVersion: 4, clientId, clean: false });
    await a.subscribeAsync('x/#');
    await a.endAsync();
    const b = mqtt.connect(url, { protocolVersion: 4, clientId, clean: true, reconnectPeriod: 0 });
    clients.push(b);
    const ack = await new Promise<{ sessionPresent: boolean }>((r) => b.once('connect', r));
    expect(ack.sessionPresent).toBe(false);
  });

  it('will message: published on an abnormal close, not on DISCONNECT', async () => {
    await start();
    const p = prefix('will');
    const watcher = await connect({ protocolVersion: 5 });
    await watcher.subscribeAsync(`${p}/#`, { qos: 1 });
    const got = collect(watcher);
    const polite = await device(url, { protocolVersion: 5, will: { topic: `${p}/polite`, payload: Buffer.from('gone'), qos: 1, retain: false } });
    await polite.endAsync();
    const rude = await device(url, { protocolVersion: 5, will: { topic: `${p}/rude`, payload: Buffer.from('lost'), qos: 1, retain: false, properties: { contentType: 'text/plain' } } });
    rude.stream.destroy();
    await waitFor(() => got.length === 1, 'will');
    await fence([got], `${p}/fence`);
    expect(got.map((g) => g.topic)).toEqual([`${p}/rude`]);
    expect(got[0]!.packet.properties?.contentType).toBe('text/plain');
    await end(rude);
  });

  it('authentication: bad password → CONNACK 0x04 (3.1.1) / 0x86 (5); anonymous → 0x05 / 0x87', async () => {
    await start({ users: [{ username: 'dev', password: 's3cret' }], anonymous: false });
    const attempt = async (opts: Parameters<typeof device>[1]): Promise<number | undefined> => {
      try {
        const c = await device(url, opts);
        clients.push(c);
        return 0;
      } catch (err) {
        return (err as { code?: number }).code;
      }
    };
    expect(await attempt({ protocolVersion: 4, username: 'dev', password: 'wrong' })).toBe(0x04);
    expect(await attempt({ protocolVersion: 5, username: 'dev', password: 'wrong' })).toBe(0x86);
    expect(await attempt({ protocolVersion: 4 })).toBe(0x05);
    expect(await attempt({ protocolVersion: 5 })).toBe(0x87);
    expect(await attempt({ protocolVersion: 5, username: 'dev', password: 's3cret' })).toBe(0);
  });

  it('keep alive limit: 3.1.1 above the limit → CONNACK 0x02; MQTT 5 is given Server Keep Alive', async () => {
    await start({ keepaliveLimit: 60 });
    let code: number | undefined;
    try {
      clients.push(await device(url, { protocolVersion: 4, keepalive: 120 }));
    } catch (err) {
      code = (err as { code?: number }).code;
    }
    expect(code).toBe(0x02);
    const ok = await connect({ protocolVersion: 4, keepalive: 60 });
    expect(ok.connected).toBe(true);
    const raw = await rawClient(port, 5);
    raw.socket.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'ka5', keepalive: 120, clean: true }, { protocolVersion: 5 }));
    await waitFor(() => raw.packets.length === 1, 'CONNACK');
    const ack = raw.packets[0] as mqttPacket.IConnackPacket;
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties?.serverKeepAlive).toBe(60);
    raw.socket.destroy();
  });

  it('keep alive timeout: a silent client is disconnected after 1.5 × keep alive', async () => {
    await start();
    const raw = await rawClient(port, 4);
    raw.socket.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: 'silent', keepalive: 1, clean: true }));
    await waitFor(() => raw.closed(), 'server closes the silent connection', 5000);
    expect(raw.packets[0]?.cmd).toBe('connack');
  });

  it('oversize packet → MQTT 5 DISCONNECT 0x95 / 3.1.1 close; the server keeps serving others', async () => {
    await start({ maxPacketSize: 1024 });
    const p = prefix('big');
    const other = await connect({ protocolVersion: 5 });
    await other.subscribeAsync(`${p}/#`, { qos: 1 });
    const got = collect(other);

    const raw5 = await rawClient(port, 5);
    raw5.socket.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'big5', keepalive: 30, clean: true }, { protocolVersion: 5 }));
    await waitFor(() => raw5.packets.length === 1, 'CONNACK');
    expect((raw5.packets[0] as mqttPacket.IConnackPacket).properties?.maximumPacketSize).toBe(1024);
    // only the fixed header of a 50 MB publish: refused from the header, nothing buffered
    raw5.socket.write(Buffer.from([0x32, 0x80, 0x80, 0x80, 0x18]));
    await waitFor(() => raw5.closed(), 'server closes');
    const disc = raw5.packets.find((x): x is mqttPacket.IDisconnectPacket => x.cmd === 'disconnect');
    expect(disc?.reasonCode).toBe(0x95);

    const raw4 = await rawClient(port, 4);
    raw4.socket.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: 'big4', keepalive: 30, clean: true }));
    await waitFor(() => raw4.packets.length === 1, 'CONNACK');
    raw4.socket.write(mqttPacket.generate({ cmd: 'publish', topic: `${p}/x`, payload: Buffer.alloc(2000), qos: 0, retain: false, dup: false }));
    await waitFor(() => raw4.closed(), 'server closes 3.1.1');
    expect(raw4.packets.filter((x) => x.cmd === 'disconnect')).toHaveLength(0);

    expect(metrics.count('protocol_errors_total', { connector: 'devices', code: 'packet-too-large' })).toBe(2);
    // still serving: a normal publish goes through
    const dev = await connect({ protocolVersion: 4 });
    await dev.publishAsync(`${p}/ok`, 'small', { qos: 1 });
    await waitFor(() => got.length === 1, 'delivery after the oversize clients');
    expect(got[0]!.topic).toBe(`${p}/ok`);
  });

  it('garbage and a non-CONNECT first packet close the connection without crashing', async () => {
    await start();
    const raw = await rawClient(port, 4);
    raw.socket.write(mqttPacket.generate({ cmd: 'pingreq' }));
    await waitFor(() => raw.closed(), 'closed after PINGREQ before CONNECT');
    const raw2 = await rawClient(port, 4);
    raw2.socket.write(Buffer.from([0xff, 0x00, 0x13, 0x37]));
    await waitFor(() => raw2.closed(), 'closed after garbage');
    const ok = await connect({ protocolVersion: 5 });
    expect(ok.connected).toBe(true);
  });

  it('session takeover: the first connection gets DISCONNECT 0x8E', async () => {
    await start();
    const first = await connect({ protocolVersion: 5, clientId: 'same-id' });
    let reason: number | undefined;
    first.on('disconnect', (pkt) => (reason = pkt.reasonCode));
    await connect({ protocolVersion: 5, clientId: 'same-id' });
    await waitFor(() => reason !== undefined, 'DISCONNECT on the first connection');
    expect(reason).toBe(0x8e);
  });

  it('wildcard subscriptions, $-topics and invalid filters', async () => {
    await start();
    const p = prefix('wild');
    const sub = await connect({ protocolVersion: 5 });
    const granted = await sub.subscribeAsync([`${p}/+/temp`, '#']);
    expect(granted.map((g) => g.qos)).toEqual([0, 0]);
    // mqtt.js refuses invalid filters itself, so send those raw: SUBACK 0x8F (5) / 0x80 (3.1.1), a share name with a wildcard 0x8F (§4.8.2)
    const raw = await rawClient(port, 5);
    raw.socket.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 5, clientId: 'rawsub', keepalive: 30, clean: true }, { protocolVersion: 5 }));
    raw.socket.write(
      mqttPacket.generate(
        { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${p}/bad#`, qos: 1 }, { topic: '$share/g+/x', qos: 1 }, { topic: '$share/g/x', qos: 1 }, { topic: `${p}/ok`, qos: 2 }] },
        { protocolVersion: 5 },
      ),
    );
    await waitFor(() => raw.packets.length === 2, 'SUBACK');
    expect((raw.packets[1] as mqttPacket.ISubackPacket).granted).toEqual([0x8f, 0x8f, 1, 2]);
    raw.socket.destroy();
    const got = collect(sub);
    const dev = await connect({ protocolVersion: 4 });
    await dev.publishAsync(`${p}/k1/temp`, '21', { qos: 1 });
    await dev.publishAsync('$internal/x', 'hidden', { qos: 1 });
    await waitFor(() => got.length >= 1, 'delivery');
    await fence([got], `${p}/fence`);
    // one copy despite two matching filters (§3.3.4), and '#' does not match '$internal/x' (§4.7.2)
    expect(got.map((g) => g.topic)).toEqual([`${p}/k1/temp`]);
  });

  it('maxClients: one more connection is refused with CONNACK 0x03 / 0x97', async () => {
    await start({ maxClients: 1 });
    await connect({ protocolVersion: 4 });
    const codeOf = async (v: 4 | 5): Promise<number | undefined> => {
      try {
        clients.push(await device(url, { protocolVersion: v }));
        return 0;
      } catch (err) {
        return (err as { code?: number }).code;
      }
    };
    expect(await codeOf(4)).toBe(0x03);
    expect(await codeOf(5)).toBe(0x97);
  });

  it('unsubscribe (3.1.1 and 5) stops delivery; UNSUBACK 0x11 for an unknown filter', async () => {
    await start();
    const p = prefix('unsub');
    const s4 = await connect({ protocolVersion: 4 });
    const s5 = await connect({ protocolVersion: 5 });
    await s4.subscribeAsync(`${p}/#`);
    await s5.subscribeAsync(`${p}/#`);
    await s4.unsubscribeAsync(`${p}/#`);
    const ack = await s5.unsubscribeAsync([`${p}/#`, `${p}/never`]);
    expect((ack as { reasonCode?: number; granted?: number[] } | undefined)?.granted ?? []).toEqual([0x00, 0x11]);
    // Both stay subscribed to a fence topic: the broker writes to each connection in publish
    // order, so once the fence message arrived, a message on the unsubscribed filter would have too.
    await s4.subscribeAsync(`${p}-fence`, { qos: 1 });
    await s5.subscribeAsync(`${p}-fence`, { qos: 1 });
    const got4 = collect(s4);
    const got5 = collect(s5);
    const dev = await connect({ protocolVersion: 4 });
    await dev.publishAsync(`${p}/x`, 'nobody', { qos: 1 });
    await dev.publishAsync(`${p}-fence`, 'fence', { qos: 1 });
    await waitFor(() => got4.length > 0 && got5.length > 0, 'the fence message at both');
    expect([got4.map((m) => m.topic), got5.map((m) => m.topic)]).toEqual([[`${p}-fence`], [`${p}-fence`]]);
  });

  it('respects an MQTT 5 subscriber’s Maximum Packet Size (§3.1.2.11.4): too-large messages are dropped and counted', async () => {
    await start();
    const p = prefix('clientmax');
    const small = await connect({ protocolVersion: 5, properties: { maximumPacketSize: 200 } });
    await small.subscribeAsync(`${p}/#`, { qos: 1 });
    const got = collect(small);
    const dev = await connect({ protocolVersion: 4 });
    await dev.publishAsync(`${p}/big`, Buffer.alloc(500), { qos: 1 });
    await dev.publishAsync(`${p}/small`, 'tiny', { qos: 1 });
    await waitFor(() => got.length === 1, 'small message');
    expect(got[0]!.topic).toBe(`${p}/small`);
    expect(metrics.count('messages_dropped_total', { connector: 'devices', reason: 'too-large-for-client' })).toBe(1);
  });

  it('start and stop are idempotent; stop sends MQTT 5 clients DISCONNECT 0x8B', async () => {
    await start();
    await listener.start();
    expect(listener.state).toBe('up');
    const c = await connect({ protocolVersion: 5 });
    let reason: number | undefined;
    c.on('disconnect', (pkt) => (reason = pkt.reasonCode));
    await Promise.all([listener.stop(), listener.stop()]);
    expect(listener.state).toBe('stopped');
    await waitFor(() => reason !== undefined, 'DISCONNECT');
    expect(reason).toBe(0x8b);
  });
});
