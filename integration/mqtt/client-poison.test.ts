/**
 * The `mqtt` sink and a message its broker cannot take: Mosquitto closes
 * the connection on a PUBLISH whose topic has more than 201 levels, in 3.1.1 and 5. mqtt.js keeps
 * its stored copy and sends it first on every new connection, so one such message left in the
 * store would keep the link down for good. It is refused permanently before it is sent, and a publish the
 * broker still closes the connection on (a limit Ferry does not know) is taken out of the store
 * after two closes in a row and failed permanently, while the other messages go through.
 */
import { FerryError, createMessage, type GatewayMessage } from '@ferry/core';
import { brokerPorts, RecordingMetrics, Tally, waitFor } from '@ferry/testkit';
import { MqttClientConnector, mqttOptions } from '@ferry/mqtt';
import type { MqttClient } from 'mqtt';
import { context, device, end, prefix } from './helpers.js';

const mosquitto = `mqtt://127.0.0.1:${brokerPorts().mosquitto}`;

const msg = (id: string): GatewayMessage => createMessage({ body: Buffer.from(id), source: { connector: 'devices', protocol: 'mqtt', address: 'in' } });

describe('mqtt sink: a message the broker cannot take never keeps the link down', () => {
  const clients: MqttClient[] = [];
  const connectors: MqttClientConnector[] = [];

  afterEach(async () => {
    await end(...clients.splice(0));
    for (const c of connectors.splice(0)) await c.stop();
  });

  const connector = async (opts: Record<string, unknown>, metrics: RecordingMetrics): Promise<MqttClientConnector> => {
    const c = new MqttClientConnector(
      context(metrics),
      'plant',
      mqttOptions.parse({ url: mosquitto, clientId: `ferry-poison-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, reconnect: { initialMs: 50, maxMs: 200 }, ...opts }),
    );
    connectors.push(c);
    await c.start();
    expect(c.state).toBe('up');
    return c;
  };

  /** a Mosquitto subscriber counting what arrives under `p` */
  const subscriber = async (p: string, tally: Tally): Promise<void> => {
    const sub = await device(mosquitto, { protocolVersion: 4, clean: true });
    clients.push(sub);
    sub.on('message', (_topic, payload) => tally.received(payload.toString()));
    await sub.subscribeAsync(`${p}/#`, { qos: 1 });
  };

  const deep = (p: string, levels: number): string => `${p}${'/l'.repeat(levels - p.split('/').length)}`;

  for (const protocolVersion of [4, 5] as const) {
    it(`v${protocolVersion === 5 ? 5 : '3.1.1'}: a topic beyond the broker's level limit is refused permanently before it is sent; the link stays up`, async () => {
      const p = prefix(`poison-pre-${protocolVersion}`);
      const metrics = new RecordingMetrics();
      const c = await connector({ protocolVersion }, metrics);
      const tally = new Tally();
      await subscriber(p, tally);
      const good = async (id: string): Promise<void> => {
        tally.sent(id);
        await c.sink.write(msg(id), { topic: `${p}/ok`, qos: 1 });
      };
      await good('before');
      // 202 levels: Mosquitto closes the connection on it (201 it takes)
      const err = await c.sink.write(msg('poison'), { topic: deep(p, 202), qos: 1 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(FerryError.is(err, 'SINK_REJECTED')).toBe(true);
      expect((err as FerryError).permanent).toBe(true);
      expect((err as FerryError).message).toContain('202 levels');
      await Promise.all(Array.from({ length: 20 }, (_, i) => good(`after-${i}`)));
      await waitFor(() => tally.complete, 'every good message at the subscriber');
      expect(tally.counts).toMatchObject({ sent: 21, unique: 21, lost: 0, unexpected: 0 });
      expect(c.state).toBe('up');
      expect(metrics.count('connector_reconnects_total')).toBe(0);
      // 201 levels is within the limit and arrives
      tally.sent('deep-201');
      await c.sink.write(msg('deep-201'), { topic: deep(p, 201), qos: 1 });
      await waitFor(() => tally.complete, 'the 201-level message');
    });
  }

  it('a publish the broker keeps closing the connection on (a limit Ferry was not told) is failed permanently after two closes; the others arrive', async () => {
    const p = prefix('poison-run');
    const metrics = new RecordingMetrics();
    // maxTopicLevels above Mosquitto's limit: Ferry sends it, Mosquitto closes the connection
    const c = await connector({ protocolVersion: 4, maxTopicLevels: 1000 }, metrics);
    const tally = new Tally();
    await subscriber(p, tally);
    const writes: Promise<unknown>[] = [];
    const good = (id: string): void => {
      tally.sent(id);
      writes.push(c.sink.write(msg(id), { topic: `${p}/ok`, qos: 1 }));
    };
    for (let i = 0; i < 5; i++) good(`a-${i}`);
    const started = Date.now();
    const poison = c.sink.write(msg('poison'), { topic: deep(p, 202), qos: 1 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    for (let i = 0; i < 5; i++) good(`b-${i}`);
    const err = await poison;
    expect(FerryError.is(err, 'SINK_REJECTED')).toBe(true);
    expect((err as FerryError).permanent).toBe(true);
    await Promise.all(writes);
    await waitFor(() => tally.complete, 'every good message at the subscriber');
    const took = Date.now() - started;
    expect(tally.counts).toMatchObject({ sent: 10, unique: 10, lost: 0, unexpected: 0 });
    await waitFor(() => c.state === 'up', 'the link up again');
    // the first close makes it a suspect, the second convicts it
    expect(metrics.count('connector_reconnects_total')).toBeLessThanOrEqual(3);
    expect(metrics.count('messages_rejected_total', { reason: 'broker-closed-connection' })).toBe(1);
    // and the link keeps working
    tally.sent('later');
    await c.sink.write(msg('later'), { topic: `${p}/ok`, qos: 1 });
    await waitFor(() => tally.complete, 'a later message');
    console.log(`poison failed after ${took} ms; reconnects ${metrics.count('connector_reconnects_total')}; ${tally.summary('good messages')}`);
  });
});
