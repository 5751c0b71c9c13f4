/**
 * The client connectors' TLS and WebSocket URLs: the `stomp` connector over ws:// into
 * RabbitMQ's Web-STOMP plugin and back, over stomp+ssl:// into Ferry's own stomp-listener with a
 * client certificate (and down, not served, with the wrong CA) and over wss:// into its WebSocket
 * port; the `mqtt` connector over ws://
 * and wss:// into Ferry's own mqtt-listener, both directions; the `amqp10` connector over amqps://
 * with a client certificate into the amqp10-listener. Messages counted.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { createMessage, type Connector, type InboundDelivery } from '@ferry/core';
import { amqp10Definition, amqp10ListenerDefinition } from '@ferry/amqp10';
import { mqttDefinition, mqttListenerDefinition } from '@ferry/mqtt';
import { stompDefinition, stompListenerDefinition } from '@ferry/stomp';
import { brokerPorts, createVhost, deleteVhost, freePort, RecordingMetrics, testContext, waitFor } from '@ferry/testkit';
import { goodTls, mutualTls, tally, Taken, testPki } from './helpers.js';

jest.setTimeout(60_000);

const RABBIT_WEB = fileURLToPath(new URL('../brokers/rabbit-web.sh', import.meta.url));

const PKI = testPki();

const running: Connector[] = [];
afterEach(async () => {
  while (running.length > 0) await running.pop()?.stop();
});

function msg(body: string) {
  return createMessage({ body: Buffer.from(body), source: { connector: 'test', protocol: 'mqtt', address: 'x' } });
}

/** The connector's sink: every connector these tests write through has one. */
function sinkOf<C extends Connector>(c: C): NonNullable<C['sink']> {
  if (c.sink === undefined) throw new Error(`connector ${c.name} has no sink`);
  return c.sink;
}

async function started<C extends Connector>(c: C): Promise<C> {
  running.push(c);
  await c.start();
  return c;
}

describe('stomp connector over WebSocket: RabbitMQ Web-STOMP', () => {
  let vhost: string;
  beforeAll(async () => {
    // Web-STOMP on its private port, turned on online (idempotent)
    await promisify(execFile)('bash', [RABBIT_WEB], { timeout: 60_000 });
    vhost = await createVhost('stomp-ws');
  });
  afterAll(async () => {
    await deleteVhost(vhost);
  });

  it('ws://…/ws: 200 SENDs confirmed by RECEIPT, all read back from the queue over WebSocket, counted', async () => {
    const url = `ws://127.0.0.1:${brokerPorts().rabbitWebStomp}/ws`;
    const options = stompDefinition.options.parse({ url, login: 'guest', passcode: 'guest', host: vhost });
    const sink = await started(stompDefinition.create(testContext(), 'web-out', options));
    expect(sink.state).toBe('up');
    const queue = `/queue/ws-${Date.now().toString(36)}`;
    const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
    await Promise.all(ids.map((id) => sinkOf(sink).write(msg(id), stompDefinition.to!.parse({ destination: queue }))));
    const source = await started(stompDefinition.create(testContext(), 'web-in', options));
    const got: string[] = [];
    await source.openSources?.([{ route: 'r', from: stompDefinition.from!.parse({ destination: queue }) }], (d: InboundDelivery) => {
      got.push(d.message.body.toString());
      d.settlement.accept();
    });
    await waitFor(() => got.length >= 200, '200 messages back over WebSocket', 30_000);
    expect(tally(ids, got).counts).toMatchObject({ sent: 200, received: 200, lost: 0, duplicated: 0 });
  });
});

describe('stomp connector over stomp+ssl:// into the stomp-listener', () => {
  async function tlsListener(): Promise<{ port: number; taken: Taken; metrics: RecordingMetrics }> {
    const metrics = new RecordingMetrics();
    const port = await freePort();
    const o = stompListenerDefinition.options.parse({ port, host: '127.0.0.1', anonymous: true, ...mutualTls(PKI.get()) });
    const l = stompListenerDefinition.create(testContext([], metrics), 'stomp-tls', o);
    const taken = new Taken();
    await l.openSources?.([{ route: 'r', from: { destination: '/topic/#' } }], taken.handler);
    await started(l);
    return { port, taken, metrics };
  }

  it('with the CA and a client certificate: 100 writes confirmed, all taken by the listener', async () => {
    const { port, taken } = await tlsListener();
    const options = stompDefinition.options.parse({ url: `stomp+ssl://localhost:${port}`, tls: goodTls(PKI.get()) });
    const c = await started(stompDefinition.create(testContext(), 'ssl-out', options));
    expect(c.state).toBe('up');
    const ids = Array.from({ length: 100 }, (_, i) => `t${i}`);
    await Promise.all(ids.map((id) => sinkOf(c).write(msg(id), stompDefinition.to!.parse({ destination: '/topic/tls.in' }))));
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });

  it('with the wrong CA: the connector stays down and nothing reaches the listener', async () => {
    const { port, taken } = await tlsListener();
    const lines: import('@ferry/testkit').LogLine[] = [];
    const options = stompDefinition.options.parse({ url: `stomp+ssl://localhost:${port}`, tls: { ca: PKI.get().otherCa, cert: PKI.get().client.cert, key: PKI.get().client.key }, reconnect: { initialMs: 1000, maxMs: 1000 } });
    const c = await started(stompDefinition.create(testContext(lines), 'ssl-bad', options));
    expect(c.state).not.toBe('up');
    expect(lines.map((l) => JSON.stringify(l)).join('\n')).toMatch(/certificate/);
    expect(taken.bodies).toHaveLength(0);
  });
});

describe('stomp connector over wss:// into the stomp-listener', () => {
  it('with the CA: 100 writes confirmed by RECEIPT over TLS, all taken by the listener', async () => {
    const wsPort = await freePort();
    const o = stompListenerDefinition.options.parse({
      port: await freePort(),
      host: '127.0.0.1',
      anonymous: true,
      websocket: { port: wsPort, path: '/ws', tls: { cert: PKI.get().server.cert, key: PKI.get().server.key } },
    });
    const l = stompListenerDefinition.create(testContext(), 'stomp-wss', o);
    const taken = new Taken();
    await l.openSources?.([{ route: 'r', from: { destination: '/topic/#' } }], taken.handler);
    await started(l);
    const options = stompDefinition.options.parse({ url: `wss://localhost:${wsPort}/ws`, tls: { ca: PKI.get().ca } });
    const c = await started(stompDefinition.create(testContext(), 'wss-out', options));
    expect(c.state).toBe('up');
    const sink = c.sink;
    if (sink === undefined) throw new Error('the stomp connector has no sink');
    const ids = Array.from({ length: 100 }, (_, i) => `w${i}`);
    await Promise.all(ids.map((id) => sink.write(msg(id), stompDefinition.to!.parse({ destination: '/topic/wss.in' }))));
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });
});

describe('mqtt connector over WebSocket into the mqtt-listener', () => {
  async function wsListener(tls: boolean): Promise<{ url: string; conn: Connector; taken: Taken }> {
    const wsPort = await freePort();
    const o = mqttListenerDefinition.options.parse({
      port: await freePort(),
      host: '127.0.0.1',
      anonymous: true,
      websocket: { port: wsPort, path: '/mqtt', ...(tls ? { tls: { cert: PKI.get().server.cert, key: PKI.get().server.key } } : {}) },
    });
    const conn = mqttListenerDefinition.create(testContext(), 'devices', o);
    const taken = new Taken();
    await conn.openSources?.([{ route: 'r', from: { topic: 'up/#' } }], taken.handler);
    await started(conn);
    return { url: `${tls ? 'wss' : 'ws'}://localhost:${wsPort}/mqtt`, conn, taken };
  }

  it.each([
    ['ws://', false],
    ['wss:// with the CA', true],
  ])('%s: 100 QoS 1 publishes each way, counted', async (_what, tls) => {
    const { url, conn, taken } = await wsListener(tls);
    const options = mqttDefinition.options.parse({ url, protocolVersion: 5, clean: true, ...(tls ? { tls: { ca: PKI.get().ca } } : {}) });
    const client = await started(mqttDefinition.create(testContext(), 'edge', options));
    expect(client.state).toBe('up');
    // Ferry's client as a source: what the listener publishes comes down the WebSocket
    const down: string[] = [];
    await client.openSources?.([{ route: 'd', from: mqttDefinition.from!.parse({ topic: 'down/#', qos: 1 }) }], (d: InboundDelivery) => {
      down.push(d.message.body.toString());
      d.settlement.accept();
    });
    const ids = Array.from({ length: 100 }, (_, i) => `m${i}`);
    // up: the client connector publishes over the WebSocket into the listener
    await Promise.all(ids.map((id) => sinkOf(client).write(msg(id), mqttDefinition.to!.parse({ topic: `up/${id}`, qos: 1 }))));
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
    // down: the listener publishes, the client connector receives over the WebSocket
    await Promise.all(ids.map((id) => sinkOf(conn).write(msg(id), mqttListenerDefinition.to!.parse({ topic: `down/${id}`, qos: 1 }))));
    await waitFor(() => down.length >= 100, '100 messages down the WebSocket');
    expect(tally(ids, down).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });
});

describe('amqp10 connector over amqps:// into the amqp10-listener', () => {
  async function tlsListener(): Promise<{ port: number; taken: Taken }> {
    const port = await freePort();
    const o = amqp10ListenerDefinition.options.parse({ port, host: '127.0.0.1', anonymous: true, ...mutualTls(PKI.get()) });
    const l = amqp10ListenerDefinition.create(testContext(), 'amqp-tls', o);
    const taken = new Taken();
    await l.openSources?.([{ route: 'r', from: { address: 'tls.in' } }], taken.handler);
    await started(l);
    return { port, taken };
  }

  it('with the CA and a client certificate: 100 writes accepted, all taken by the listener', async () => {
    const { port, taken } = await tlsListener();
    const options = amqp10Definition.options.parse({ url: `amqps://localhost:${port}`, tls: goodTls(PKI.get()) });
    const c = await started(amqp10Definition.create(testContext(), 'amqps-out', options));
    expect(c.state).toBe('up');
    const ids = Array.from({ length: 100 }, (_, i) => `a${i}`);
    await Promise.all(ids.map((id) => sinkOf(c).write(msg(id), amqp10Definition.to!.parse({ address: 'tls.in' }))));
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });

  it('without a client certificate the listener requires: down, nothing taken', async () => {
    const { port, taken } = await tlsListener();
    const options = amqp10Definition.options.parse({ url: `amqps://localhost:${port}`, tls: { ca: PKI.get().ca }, reconnect: { initialMs: 1000, maxMs: 1000 } });
    const c = await started(amqp10Definition.create(testContext(), 'amqps-bad', options));
    expect(c.state).not.toBe('up');
    expect(taken.bodies).toHaveLength(0);
  });
});
