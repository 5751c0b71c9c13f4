/**
 * MQTT end to end over real TCP with real clients: an MQTT 5 device publishes QoS 1
 * with properties to Ferry's MQTT listener, a route rewrites the topic, and both a subscriber
 * on the listener and a subscriber on a separate broker (Mosquitto) receive the body bytes and
 * every property intact. The device's PUBACK is held while a destination has not confirmed.
 */
import { randomBytes } from 'node:crypto';
import { jest } from '@jest/globals';
import type { Socket } from 'node:net';
import mqtt, { type IClientPublishOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { Tally, TcpProxy, brokerPorts, freePort, waitFor } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';

// jest's 5 s default was shorter than the waits inside the tests (20 s for 1,000 messages at two
// subscribers): on a busy machine the test ran out of time while the messages were still arriving
jest.setTimeout(30_000);

interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket & { properties?: Record<string, unknown> };
}

async function client(port: number, id: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: id, reconnectPeriod: 0 });
  (c.stream as unknown as Socket).setNoDelay(true);
  return c;
}

function collect(c: MqttClient): Received[] {
  const out: Received[] = [];
  c.on('message', (topic, payload, packet) => out.push({ topic, payload, packet }));
  return out;
}

describe('MQTT 5 device → Ferry listener → route → listener subscriber and Mosquitto peer', () => {
  const run = `e2e${Date.now().toString(36)}`;
  let gateway: Gateway;
  let proxy: TcpProxy;
  let listenerPort: number;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    listenerPort = await freePort();
    // Ferry reaches Mosquitto through a proxy so the test can hold Mosquitto's PUBACKs.
    proxy = new TcpProxy(brokerPorts().mosquitto);
    const proxyPort = await proxy.start();
    gateway = await startGateway(`
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  plant:   { type: mqtt, url: "mqtt://127.0.0.1:${proxyPort}", protocolVersion: 5, clientId: ${run}-plant }
routes:
  - name: rewrite
    from: { connector: devices, topic: "${run}/+/in" }
    to:
      - { connector: devices, topic: "${run}/{1}/out" }
      - { connector: plant, topic: "${run}/{1}/peer" }
    headers: { set: { x-device: "{1}" } }
`);
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await gateway.stop(1000);
    await proxy.stop();
  });

  it('carries body bytes and every MQTT 5 property to both subscribers', async () => {
    const local = await client(listenerPort, `${run}-local`);
    const peer = await client(brokerPorts().mosquitto, `${run}-peer`);
    const device = await client(listenerPort, `${run}-device`);
    clients.push(local, peer, device);
    await local.subscribeAsync(`${run}/+/out`, { qos: 1 });
    await peer.subscribeAsync(`${run}/+/peer`, { qos: 1 });
    const atLocal = collect(local);
    const atPeer = collect(peer);

    const body = Buffer.concat([Buffer.from([0, 255, 0, 10, 13]), randomBytes(64)]);
    const props: IClientPublishOptions['properties'] = {
      userProperties: { unit: 'celsius', tag: ['a', 'b'] },
      contentType: 'application/octet-stream',
      correlationData: Buffer.from([1, 2, 3, 0]),
      responseTopic: `${run}/reply`,
      messageExpiryInterval: 3600,
      payloadFormatIndicator: false,
    };
    await device.publishAsync(`${run}/kitchen/in`, body, { qos: 1, properties: props });
    await waitFor(() => atLocal.length === 1 && atPeer.length === 1, 'both subscribers');

    for (const [where, got, topic] of [
      ['listener', atLocal[0]!, `${run}/kitchen/out`],
      ['mosquitto', atPeer[0]!, `${run}/kitchen/peer`],
    ] as const) {
      expect({ where, topic: got.topic }).toEqual({ where, topic });
      expect(got.payload.equals(body)).toBe(true);
      const p = got.packet.properties ?? {};
      expect(p['userProperties']).toEqual({ unit: 'celsius', tag: ['a', 'b'], 'x-device': 'kitchen', 'x-ferry-hops': '1' });
      expect(p['contentType']).toBe('application/octet-stream');
      expect(Buffer.from(p['correlationData'] as Buffer).equals(Buffer.from([1, 2, 3, 0]))).toBe(true);
      expect(p['responseTopic']).toBe(`${run}/reply`);
      // sent explicitly as 0 (unspecified bytes): it must arrive, unaltered (§3.3.2.3.2)
      expect(p['payloadFormatIndicator']).toBe(false);
      // the interval counts down inside Ferry (MQTT 5 §3.3.2.3.3): what remains, never more
      expect(p['messageExpiryInterval']).toBeGreaterThan(3590);
      expect(p['messageExpiryInterval']).toBeLessThanOrEqual(3600);
      expect(got.packet.qos).toBe(1);
    }
  });

  it("holds the device's PUBACK until every destination confirmed", async () => {
    const peer = await client(brokerPorts().mosquitto, `${run}-peer2`);
    const device = await client(listenerPort, `${run}-device2`);
    clients.push(peer, device);
    await peer.subscribeAsync(`${run}/+/peer`, { qos: 1 });
    const atPeer = collect(peer);

    proxy.holdDownstream(); // Mosquitto's PUBACK to Ferry waits in the proxy
    let acked = false;
    const published = device.publishAsync(`${run}/hall/in`, Buffer.from('held'), { qos: 1 }).then(() => {
      acked = true;
    });
    // the message crossed Ferry and Mosquitto: the far side has it ...
    await waitFor(() => atPeer.length === 1, 'the peer subscriber');
    // ... but Mosquitto's confirmation has not reached Ferry, so the device has no PUBACK. The
    // listener writes to a connection in order: a PUBACK sent before the confirm would come
    // before the SUBACK of a SUBSCRIBE sent now.
    await device.subscribeAsync(`${run}/barrier`, { qos: 1 });
    expect(acked).toBe(false);
    proxy.release();
    await published;
    expect(acked).toBe(true);
  });

  it('delivers 1,000 QoS 1 messages to both subscribers: none lost, none duplicated', async () => {
    const local = await client(listenerPort, `${run}-local3`);
    const peer = await client(brokerPorts().mosquitto, `${run}-peer3`);
    const device = await client(listenerPort, `${run}-device3`);
    clients.push(local, peer, device);
    await local.subscribeAsync(`${run}/count/out`, { qos: 1 });
    await peer.subscribeAsync(`${run}/count/peer`, { qos: 1 });
    const atLocal = new Tally();
    const atPeer = new Tally();
    local.on('message', (_t, payload) => atLocal.received(payload.toString()));
    peer.on('message', (_t, payload) => atPeer.received(payload.toString()));
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = `m${i}`;
      atLocal.sent(id);
      atPeer.sent(id);
      pending.push(device.publishAsync(`${run}/count/in`, Buffer.from(id), { qos: 1 }));
    }
    await Promise.all(pending);
    // a last message after every PUBACK: Ferry writes to each subscriber's connection (the local
    // one, and its own to Mosquitto, which forwards in order) in order, so a copy of any earlier
    // message comes before this one
    atLocal.sent('last');
    atPeer.sent('last');
    await device.publishAsync(`${run}/count/in`, Buffer.from('last'), { qos: 1 });
    await waitFor(() => atLocal.complete && atPeer.complete, 'every message at both subscribers', 20_000);
    console.log(atLocal.summary('listener subscriber'));
    console.log(atPeer.summary('mosquitto subscriber'));
    expect(atLocal.counts).toMatchObject({ sent: 1001, unique: 1001, duplicated: 0, lost: 0, unexpected: 0 });
    expect(atPeer.counts).toMatchObject({ sent: 1001, unique: 1001, duplicated: 0, lost: 0, unexpected: 0 });
  });
});
