import { createMessage, FerryError, type InboundDelivery } from '@ferry/core';
import { brokerPorts, delay, freePort, RecordingMetrics, Tally, waitFor } from '@ferry/testkit';
import { MqttClientConnector, MqttListenerConnector, mqttListenerOptions, mqttOptions } from '@ferry/mqtt';
import type { IPublishPacket, MqttClient } from 'mqtt';
import { context, CuttableProxy, device, end, prefix } from './helpers.js';

const mosquitto = `mqtt://127.0.0.1:${brokerPorts().mosquitto}`;

describe('mqtt client connector against Mosquitto', () => {
  const clients: MqttClient[] = [];
  const connectors: { stop(): Promise<void> }[] = [];
  const proxies: CuttableProxy[] = [];

  afterEach(async () => {
    await end(...clients.splice(0));
    for (const c of connectors.splice(0)) await c.stop();
    for (const p of proxies.splice(0)) await p.stop();
  });

  const connector = (opts: Record<string, unknown>, metrics = new RecordingMetrics()): MqttClientConnector => {
    const c = new MqttClientConnector(
      context(metrics),
      'plant',
      mqttOptions.parse({ clientId: `ferry-it-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, reconnect: { initialMs: 50, maxMs: 200 }, ...opts }),
    );
    connectors.push(c);
    return c;
  };
  const client = async (url: string, opts: Parameters<typeof device>[1] = {}): Promise<MqttClient> => {
    const c = await device(url, opts);
    clients.push(c);
    return c;
  };
  const proxy = async (target: number, protocolVersion?: 4 | 5): Promise<CuttableProxy> => {
    const p = new CuttableProxy(target, protocolVersion);
    await p.start(await freePort());
    proxies.push(p);
    return p;
  };

  it('source (MQTT 5): properties and routes from subscription identifiers; overlapping filters deliver once per route', async () => {
    const p = prefix('src5');
    const c = connector({ url: mosquitto, protocolVersion: 5 });
    await c.start();
    const got: InboundDelivery[] = [];
    await c.openSources(
      [
        { route: 'all', from: { topic: `${p}/#`, qos: 1 } },
        { route: 'temps', from: { topic: `${p}/+/temp`, qos: 1 } },
      ],
      (d) => {
        got.push(d);
        d.settlement.accept();
      },
    );
    const pub = await client(mosquitto, { protocolVersion: 5 });
    await pub.publishAsync(`${p}/k1/temp`, Buffer.from([1, 2, 250]), {
      qos: 1,
      properties: {
        userProperties: { unit: 'C', tag: ['a', 'b'] },
        contentType: 'application/octet-stream',
        correlationData: Buffer.from('c-1'),
        responseTopic: `${p}/reply`,
        messageExpiryInterval: 100,
      },
    });
    await waitFor(() => got.flatMap((d) => d.routes ?? []).length >= 2, 'deliveries for both routes');
    // a fence behind it from the same publisher: the broker forwards one publisher's messages in
    // order, so a further copy of the first would have come before the fence
    await pub.publishAsync(`${p}/fence`, 'fence', { qos: 1 });
    await waitFor(() => got.some((d) => d.message.body.toString() === 'fence'), 'the fence');
    const routes = got.filter((d) => d.message.body.toString() !== 'fence').flatMap((d) => d.routes ?? []).sort();
    expect(routes).toEqual(['all', 'temps']);
    const m = got[0]!.message;
    expect(m.body).toEqual(Buffer.from([1, 2, 250]));
    expect(Object.fromEntries(m.headers)).toEqual({ unit: 'C', tag: ['a', 'b'] });
    expect(m.contentType).toBe('application/octet-stream');
    // valid UTF-8 correlation data is a text id (docs/mapping.md, Request/reply)
    expect(m.correlationId).toBe('c-1');
    expect(m.replyTo).toBe(`${p}/reply`);
    expect(m.expiresAt).toBeGreaterThan(Date.now() + 90_000);
    expect(m.source.address).toBe(`${p}/k1/temp`);
  });

  it('source: PUBACK goes upstream only after accept, out of order (proved by cutting the connection)', async () => {
    const p = prefix('ack');
    const px = await proxy(brokerPorts().mosquitto, 5);
    const pubacks = (): number => px.sent.filter((packet) => packet.cmd === 'puback').length;
    const c = connector({ url: `mqtt://127.0.0.1:${px.port}`, protocolVersion: 5 });
    await c.start();
    const got: InboundDelivery[] = [];
    await c.openSources([{ route: 'r', from: { topic: `${p}/#`, qos: 1 } }], (d) => got.push(d));
    const pub = await client(mosquitto, { protocolVersion: 5 });
    await pub.publishAsync(`${p}/t`, 'held', { qos: 1 });
    await pub.publishAsync(`${p}/t`, 'done', { qos: 1 });
    await waitFor(() => got.length === 2, 'two deliveries');
    // accept only the second; the first stays unacknowledged upstream
    got[1]!.settlement.accept();
    await waitFor(() => pubacks() >= 1, "the PUBACK of 'done' on its way to the broker");
    px.cut();
    // after reconnecting with the persistent session, the broker resends only what was not acked
    await waitFor(() => got.length === 3, 'redelivery of the held message', 10_000);
    // Mosquitto resends a resumed session's unacknowledged messages before newer ones, so a
    // resent 'done' would come before a message published now
    await pub.publishAsync(`${p}/t`, 'fence-1', { qos: 1 });
    await waitFor(() => got.length === 4, 'the first fence');
    expect(got.map((d) => d.message.body.toString())).toEqual(['held', 'done', 'held', 'fence-1']);
    got[2]!.settlement.accept();
    got[3]!.settlement.accept();
    // the settlement of the first copy, on the old connection, is harmless now
    got[0]!.settlement.accept();
    await waitFor(() => pubacks() >= 3, "the PUBACKs of the resent 'held' and 'fence-1' on their way to the broker");
    px.cut();
    await waitFor(() => px.connections === 1, 'reconnected');
    await pub.publishAsync(`${p}/t`, 'fence-2', { qos: 1 });
    await waitFor(() => got.length >= 5, 'the second fence');
    expect(got.map((d) => d.message.body.toString())).toEqual(['held', 'done', 'held', 'fence-1', 'fence-2']);
    got[4]!.settlement.accept();
  });

  it('source: release → reconnect → the broker redelivers', async () => {
    const p = prefix('release');
    const c = connector({ url: mosquitto, protocolVersion: 4 });
    await c.start();
    const got: InboundDelivery[] = [];
    await c.openSources([{ route: 'r', from: { topic: `${p}/#`, qos: 1 } }], (d) => got.push(d));
    const pub = await client(mosquitto, { protocolVersion: 4 });
    await pub.publishAsync(`${p}/t`, 'again', { qos: 1 });
    await waitFor(() => got.length === 1, 'delivery');
    // MQTT 3.1.1: no subscription identifiers, the engine matches
    expect(got[0]!.routes).toBeUndefined();
    got[0]!.settlement.release(new FerryError('NOT_CONNECTED', 'sink down'));
    await waitFor(() => got.length === 2, 'redelivery', 10_000);
    expect(got[1]!.message.body.toString()).toBe('again');
    got[1]!.settlement.accept();
  });

  it('source: a release waits for the other pending settlements before reconnecting', async () => {
    const p = prefix('release2');
    const c = connector({ url: mosquitto, protocolVersion: 5 });
    await c.start();
    const got: InboundDelivery[] = [];
    await c.openSources([{ route: 'r', from: { topic: `${p}/#`, qos: 1 } }], (d) => got.push(d));
    const pub = await client(mosquitto, { protocolVersion: 5 });
    await pub.publishAsync(`${p}/t`, 'released', { qos: 1 });
    await pub.publishAsync(`${p}/t`, 'accepted-later', { qos: 1 });
    await waitFor(() => got.length === 2, 'two deliveries');
    got[0]!.settlement.release(new FerryError('NOT_CONNECTED', 'sink down'));
    // still connected: the second message's settlement is pending. Had the connector reconnected,
    // Mosquitto would resend 'released' before a message published now.
    await pub.publishAsync(`${p}/t`, 'fence-1', { qos: 1 });
    await waitFor(() => got.length >= 3, 'the first fence');
    expect(got.map((d) => d.message.body.toString())).toEqual(['released', 'accepted-later', 'fence-1']);
    got[1]!.settlement.accept();
    got[2]!.settlement.accept();
    await waitFor(() => got.length === 4, 'redelivery of the released message', 10_000);
    // nothing else is resent: a further copy would come before a message published now
    await pub.publishAsync(`${p}/t`, 'fence-2', { qos: 1 });
    await waitFor(() => got.length >= 5, 'the second fence');
    expect(got.map((d) => d.message.body.toString())).toEqual(['released', 'accepted-later', 'fence-1', 'released', 'fence-2']);
    got[3]!.settlement.accept();
    got[4]!.settlement.accept();
  });

  it('source: at most receiveMaximum messages routed and unsettled at once, though Mosquitto 2.0.11 sends further ahead once PUBACKs flow', async () => {
    const p = prefix('window');
    const WINDOW = 10;
    const N = 300;
    const c = connector({ url: mosquitto, protocolVersion: 5, receiveMaximum: WINDOW });
    await c.start();
    const tally = new Tally();
    let unsettled = 0;
    let most = 0;
    await c.openSources([{ route: 'r', from: { topic: `${p}/#`, qos: 1 } }], (d) => {
      tally.received(d.message.body.toString());
      most = Math.max(most, ++unsettled);
      // a destination that confirms a few ms later, so PUBACKs flow while the publisher pushes
      setTimeout(() => {
        unsettled--;
        d.settlement.accept();
      }, 5);
    });
    const pub = await client(mosquitto, { protocolVersion: 5 });
    const ids = Array.from({ length: N }, (_, i) => `${p}-${i}`);
    for (const id of ids) tally.sent(id);
    await Promise.all(ids.map((id) => pub.publishAsync(`${p}/t`, id, { qos: 1 })));
    await waitFor(() => tally.complete && unsettled === 0, 'every message routed and settled', 20_000);
    expect(tally.counts).toMatchObject({ sent: N, unique: N, duplicated: 0, lost: 0 });
    expect(most).toBeLessThanOrEqual(WINDOW);
  });

  it('sink (MQTT 5): resolves on PUBACK; properties reach a separate subscriber', async () => {
    const p = prefix('sink5');
    const sub = await client(mosquitto, { protocolVersion: 5 });
    await sub.subscribeAsync(`${p}/#`, { qos: 1 });
    const got: IPublishPacket[] = [];
    sub.on('message', (_t, _pl, pkt) => got.push(pkt));
    const c = connector({ url: mosquitto, protocolVersion: 5 });
    await c.start();
    const msg = createMessage({
      body: Buffer.from([0, 1, 2, 3]),
      headers: new Map<string, import('@ferry/core').HeaderValue>([
        ['x-site', 'lisbon'],
        ['count', 3],
        ['multi', ['1', '2']],
      ]),
      contentType: 'application/x-test',
      correlationId: 'corr-42',
      replyTo: `${p}/replies`,
      expiresAt: Date.now() + 60_000,
      source: { connector: 'rabbit', protocol: 'amqp091', address: 'a.b' },
    });
    await c.sink.write(msg, { topic: `${p}/out`, qos: 1 });
    await waitFor(() => got.length === 1, 'subscriber');
    const pr = got[0]!.properties!;
    expect(got[0]!.payload).toEqual(Buffer.from([0, 1, 2, 3]));
    expect(pr.userProperties).toEqual({ 'x-site': 'lisbon', count: '3', multi: ['1', '2'] });
    expect(pr.contentType).toBe('application/x-test');
    expect(pr.correlationData).toEqual(Buffer.from('corr-42'));
    expect(pr.responseTopic).toBe(`${p}/replies`);
    expect(pr.messageExpiryInterval).toBeGreaterThan(55);
    expect(pr.messageExpiryInterval).toBeLessThanOrEqual(60);
    // QoS 2 resolves on PUBCOMP
    await c.sink.write(msg, { topic: `${p}/out2`, qos: 2 });
    await waitFor(() => got.length === 2, 'QoS 2 delivery');
  });

  it('sink: a PUBACK with a failure reason code → SINK_REJECTED (permanent)', async () => {
    // Ferry's own listener as the remote broker: its source rejects, so it answers PUBACK 0x80
    const port = await freePort();
    const remote = new MqttListenerConnector(context(), 'remote', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true }));
    connectors.push(remote);
    await remote.start();
    await remote.openSources([{ route: 'x', from: { topic: '#' } }], (d) => d.settlement.reject(new FerryError('SINK_REJECTED', 'refused', { permanent: true })));
    const c = connector({ url: `mqtt://127.0.0.1:${port}`, protocolVersion: 5 });
    await c.start();
    const msg = createMessage({ body: Buffer.from('x'), source: { connector: 's', protocol: 'mqtt', address: 'a' } });
    await expect(c.sink.write(msg, { topic: 'a/b', qos: 1 })).rejects.toMatchObject({ code: 'SINK_REJECTED', permanent: true });
  });

  it('sink: not connected → NOT_CONNECTED at once (transient), nothing queued', async () => {
    const c = connector({ url: `mqtt://127.0.0.1:${await freePort()}`, protocolVersion: 4 });
    await c.start();
    expect(c.state).not.toBe('up');
    const msg = createMessage({ body: Buffer.from('x'), source: { connector: 's', protocol: 'mqtt', address: 'a' } });
    await expect(c.sink.write(msg, { topic: 'a', qos: 1 })).rejects.toMatchObject({ code: 'NOT_CONNECTED', permanent: false });
  });

  it('reconnect: the connection is cut twice mid-stream; source and sink lose nothing (persistent session)', async () => {
    const p = prefix('reconnect');
    const px = await proxy(brokerPorts().mosquitto);
    const metrics = new RecordingMetrics();
    const c = connector({ url: `mqtt://127.0.0.1:${px.port}`, protocolVersion: 5 }, metrics);
    await c.start();
    const srcTally = new Tally();
    await c.openSources([{ route: 'r', from: { topic: `${p}/in/#`, qos: 1 } }], (d) => {
      srcTally.received(d.message.body.toString());
      setTimeout(() => d.settlement.accept(), Math.random() * 5);
    });
    const pub = await client(mosquitto, { protocolVersion: 5 });
    const sinkSub = await client(mosquitto, { protocolVersion: 5 });
    await sinkSub.subscribeAsync(`${p}/out`, { qos: 1 });
    const sinkTally = new Tally();
    sinkSub.on('message', (_t, payload) => sinkTally.received(payload.toString()));

    const N = 300;
    const writes: Promise<void>[] = [];
    // the engine's part for the sink: retry a write that failed for a transient reason
    const writeWithRetry = async (id: string): Promise<void> => {
      for (;;) {
        try {
          await c.sink.write(createMessage({ body: Buffer.from(id), source: { connector: 's', protocol: 'mqtt', address: 'a' } }), { topic: `${p}/out`, qos: 1 });
          return;
        } catch (err) {
          if (!FerryError.is(err) || err.permanent) throw err;
          // a retry policy's pause between attempts, not a wait for an event: no assertion rests on it
          await delay(20);
        }
      }
    };
    for (let i = 0; i < N; i++) {
      const id = `m${i}`;
      srcTally.sent(id);
      sinkTally.sent(id);
      await pub.publishAsync(`${p}/in/x`, id, { qos: 1 });
      writes.push(writeWithRetry(id));
      if (i === 100 || i === 200) {
        // cut a live connection each time: under load the first reconnect can still be under way
        await waitFor(() => c.state === 'up' && px.connections > 0, 'the connector connected before the cut');
        px.cut();
      }
      // pacing, not a wait for an event: the stream is still flowing when the cuts come
      if (i % 10 === 0) await delay(2);
    }
    await Promise.all(writes);
    await waitFor(() => srcTally.complete && sinkTally.complete, 'everything delivered', 20_000);
    console.log(srcTally.summary('mqtt client source across 2 cuts'));
    console.log(sinkTally.summary('mqtt client sink across 2 cuts'));
    expect(srcTally.counts.lost).toBe(0);
    expect(srcTally.counts.unexpected).toBe(0);
    expect(sinkTally.counts.lost).toBe(0);
    expect(sinkTally.counts.unexpected).toBe(0);
    expect(metrics.count('connector_reconnects_total', { connector: 'plant' })).toBeGreaterThanOrEqual(2);
  }, 30_000);

  it('start and stop are idempotent', async () => {
    const c = connector({ url: mosquitto });
    await Promise.all([c.start(), c.start()]);
    expect(c.state).toBe('up');
    await Promise.all([c.stop(), c.stop()]);
    expect(c.state).toBe('stopped');
  });
});
