import { FerryError } from '@ferry/core';
import { freePort, RecordingMetrics, Tally, waitFor } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import type { MqttClient } from 'mqtt';
import { context, Deliveries, device, end, prefix } from './helpers.js';

describe('mqtt-listener as a source', () => {
  let listener: MqttListenerConnector;
  let url: string;
  let got: Deliveries;
  let metrics: RecordingMetrics;
  const clients: MqttClient[] = [];

  beforeEach(async () => {
    const port = await freePort();
    metrics = new RecordingMetrics();
    listener = new MqttListenerConnector(context(metrics), 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true }));
    await listener.start();
    got = new Deliveries();
    await listener.openSources([{ route: 'r', from: { topic: '#' } }], got.handler);
    url = `mqtt://127.0.0.1:${port}`;
  });

  afterEach(async () => {
    await end(...clients.splice(0));
    await listener.stop();
  });

  const connect = async (opts: Parameters<typeof device>[1] = {}): Promise<MqttClient> => {
    const c = await device(url, opts);
    clients.push(c);
    return c;
  };

  it('holds the QoS 1 PUBACK until the settlement is accepted', async () => {
    const dev = await connect({ protocolVersion: 5 });
    const topic = `${prefix('hold')}/t`;
    let acked = false;
    dev.publish(topic, 'one', { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await waitFor(() => got.list.length === 1, 'delivery');
    // a round trip through the broker proves the device's traffic was processed meanwhile
    // (the listener writes to a connection in order: a PUBACK sent before would precede the SUBACK)
    await dev.subscribeAsync(`${topic}/none`);
    expect(acked).toBe(false);
    got.list[0]!.settlement.accept();
    await waitFor(() => acked, 'PUBACK after accept');
  });

  it('completes out of order: the second message is acked while the first is held', async () => {
    const dev = await connect({ protocolVersion: 4 });
    const topic = `${prefix('ooo')}/t`;
    const acked: string[] = [];
    dev.publish(topic, 'first', { qos: 1 }, () => acked.push('first'));
    dev.publish(topic, 'second', { qos: 1 }, () => acked.push('second'));
    await waitFor(() => got.list.length === 2, 'two deliveries');
    expect(got.list.map((d) => d.message.body.toString())).toEqual(['first', 'second']);
    got.list[1]!.settlement.accept();
    await waitFor(() => acked.includes('second'), 'second acked');
    // a third message, accepted at once: its PUBACK comes after any the listener sent before it
    dev.publish(topic, 'fence', { qos: 1 }, () => acked.push('fence'));
    await waitFor(() => got.list.length === 3, 'the fence delivered');
    got.list[2]!.settlement.accept();
    await waitFor(() => acked.includes('fence'), 'the fence acked');
    expect(acked).toEqual(['second', 'fence']);
    got.list[0]!.settlement.accept();
    await waitFor(() => acked.length === 3, 'first acked');
    expect(acked).toEqual(['second', 'fence', 'first']);
  });

  it('QoS 2: PUBREC only after accept, delivered once', async () => {
    const dev = await connect({ protocolVersion: 5 });
    const topic = `${prefix('qos2')}/t`;
    let done = false;
    dev.publish(topic, 'exactly', { qos: 2 }, () => (done = true));
    await waitFor(() => got.list.length === 1, 'delivery');
    // the listener writes to a connection in order: a PUBREC sent before would precede this SUBACK
    await dev.subscribeAsync(`${topic}/none`);
    expect(done).toBe(false);
    got.list[0]!.settlement.accept();
    await waitFor(() => done, 'PUBCOMP');
    expect(got.list).toHaveLength(1);
  });

  it('carries MQTT 5 properties into the GatewayMessage', async () => {
    const dev = await connect({ protocolVersion: 5 });
    const topic = `${prefix('props')}/sensor`;
    const before = Date.now();
    dev.publish(topic, Buffer.from([0, 1, 2, 3, 254, 255]), {
      qos: 1,
      retain: false,
      properties: {
        userProperties: { site: 'lisbon', tag: ['a', 'b'] },
        contentType: 'application/x-raw',
        correlationData: Buffer.from([0xca, 0xfe]),
        responseTopic: 'replies/1',
        messageExpiryInterval: 120,
        payloadFormatIndicator: false,
      },
    });
    await waitFor(() => got.list.length === 1, 'delivery');
    const m = got.list[0]!.message;
    expect(m.body).toEqual(Buffer.from([0, 1, 2, 3, 254, 255]));
    expect(Object.fromEntries(m.headers)).toEqual({ site: 'lisbon', tag: ['a', 'b'] });
    expect(m.contentType).toBe('application/x-raw');
    expect(m.correlationId).toEqual(Buffer.from([0xca, 0xfe]));
    expect(m.replyTo).toBe('replies/1');
    expect(m.expiresAt).toBeGreaterThanOrEqual(before + 120_000);
    expect(m.expiresAt).toBeLessThanOrEqual(Date.now() + 120_000);
    expect(m.guarantee).toBe('at-least-once');
    expect(m.source).toEqual({ connector: 'devices', protocol: 'mqtt', address: topic });
    expect(m.meta.mqtt).toMatchObject({ qos: 1, payloadFormatIndicator: false, clientId: dev.options.clientId });
    got.list[0]!.settlement.accept();
  });

  it('MQTT 5 reject → PUBACK with reason code 0x80; release → connection closed, message comes again', async () => {
    const dev = await connect({ protocolVersion: 5, clean: false, clientId: `rel-${Date.now()}`, properties: { sessionExpiryInterval: 60 }, reconnectPeriod: 100 });
    const topic = `${prefix('nack')}/t`;
    let rejectErr: (Error & { code?: number }) | undefined;
    dev.publish(topic, 'bad', { qos: 1 }, (err) => (rejectErr = err as Error & { code?: number }));
    await waitFor(() => got.list.length === 1, 'first delivery');
    got.list[0]!.settlement.reject(new FerryError('SINK_REJECTED', 'no way', { permanent: true }));
    await waitFor(() => rejectErr !== undefined, 'negative PUBACK');
    expect(rejectErr?.code).toBe(0x80);
    expect(metrics.count('messages_rejected_total', { connector: 'devices', reason: 'SINK_REJECTED' })).toBe(1);

    let acked = false;
    dev.publish(topic, 'retry-me', { qos: 1 }, (err) => (acked = !err));
    await waitFor(() => got.list.length === 2, 'second delivery');
    got.list[1]!.settlement.release(new FerryError('NOT_CONNECTED', 'later'));
    // the device reconnects (persistent session) and resends the unacknowledged publish (§4.4)
    await waitFor(() => got.list.length === 3, 'redelivery after release', 10_000);
    expect(got.list[2]!.message.body.toString()).toBe('retry-me');
    expect(acked).toBe(false);
    got.list[2]!.settlement.accept();
    await waitFor(() => acked, 'PUBACK of the redelivered message');
  });

  it('MQTT 3.1.1 reject → plain PUBACK (no negative ack exists); counted as rejected', async () => {
    const dev = await connect({ protocolVersion: 4 });
    let cbErr: Error | undefined | null = null;
    let called = false;
    dev.publish(`${prefix('rej3')}/t`, 'x', { qos: 1 }, (err) => {
      called = true;
      cbErr = err ?? null;
    });
    await waitFor(() => got.list.length === 1, 'delivery');
    got.list[0]!.settlement.reject(new FerryError('SINK_REJECTED', 'never', { permanent: true }));
    await waitFor(() => called, 'PUBACK');
    expect(cbErr).toBeNull();
    expect(metrics.count('messages_rejected_total', { connector: 'devices', reason: 'SINK_REJECTED' })).toBe(1);
  });

  it('closeSources: new publishes are neither delivered nor acknowledged', async () => {
    const dev = await connect({ protocolVersion: 5 });
    await listener.closeSources();
    let acked = false;
    dev.publish(`${prefix('closed')}/t`, 'late', { qos: 1 }, () => (acked = true));
    // the listener reads a connection in order and answers in order: the SUBACK comes after it
    // handled the PUBLISH, and after a PUBACK it would have sent
    await dev.subscribeAsync(`${prefix('closed')}/sync`);
    expect(got.list).toHaveLength(0);
    expect(acked).toBe(false);
  });

  it('1,000 QoS 1 messages: 0 lost, 0 duplicated, settled in random order', async () => {
    const dev = await connect({ protocolVersion: 5 });
    const topic = `${prefix('thousand')}/t`;
    const sent = new Tally();
    const acked = new Tally();
    const received = new Tally();
    const N = 1000;
    let pending: (() => void)[] = [];
    const flushRandom = (): void => {
      const batch = pending;
      pending = [];
      batch.sort(() => Math.random() - 0.5).forEach((f) => f());
    };
    const timer = setInterval(flushRandom, 5);
    // replace the collecting handler with one that settles asynchronously
    await listener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => {
      received.received(d.message.body.toString());
      pending.push(() => d.settlement.accept());
    });
    try {
      for (let i = 0; i < N; i++) {
        const id = `m${i}`;
        sent.sent(id);
        received.sent(id);
        acked.sent(id);
        dev.publish(topic, id, { qos: 1 }, (err) => {
          if (!err) acked.received(id);
        });
      }
      await waitFor(() => acked.complete, 'all PUBACKs', 30_000);
    } finally {
      clearInterval(timer);
    }
    console.log(received.summary('listener source 1000 x QoS 1 (engine side)'));
    console.log(acked.summary('listener source 1000 x QoS 1 (device PUBACKs)'));
    expect(received.counts).toMatchObject({ sent: N, received: N, unique: N, duplicated: 0, lost: 0, unexpected: 0 });
    expect(acked.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0 });
  });
});
