/**
 * The mqtt-listener obeys the engine's flow control: while paused it reads no device socket (a
 * publish waits in TCP, nothing is delivered), PUBACKs of what was already taken still go out,
 * and on resume the waiting publishes are delivered. Real TCP on localhost, no broker.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { silentLogger, noopMetrics, type InboundDelivery, type SourceFlow } from '@ferry/core';
import { delay, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';

class ManualFlow implements SourceFlow {
  paused = false;
  readonly #listeners = new Set<(p: boolean) => void>();
  onChange(l: (p: boolean) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  set(p: boolean): void {
    this.paused = p;
    for (const l of this.#listeners) l(p);
  }
}

let listener: MqttListenerConnector;
let port: number;
const clients: MqttClient[] = [];
const got: InboundDelivery[] = [];
const flow = new ManualFlow();

beforeEach(async () => {
  port = await freePort();
  got.length = 0;
  flow.set(false);
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics: noopMetrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1' }));
  await listener.start();
  await listener.openSources([{ route: 'r', from: { topic: '#' } }], (d) => got.push(d), flow);
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await listener.stop();
});

async function connect(protocolVersion: 4 | 5, clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, clientId, reconnectPeriod: 0 });
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

it('paused: publishes are not read; PUBACKs of taken messages still go out; resumed: the rest is delivered', async () => {
  const dev = await connect(5, 'flow-a');
  const acked: string[] = [];
  dev.publish('t/1', 'one', { qos: 1 }, () => acked.push('one'));
  await waitFor(() => got.length === 1, 'first delivery');

  flow.set(true);
  await delay(50);
  dev.publish('t/2', 'two', { qos: 1 }, () => acked.push('two'));
  dev.publish('t/3', 'three', { qos: 1 }, () => acked.push('three'));
  // settling what was taken before the pause answers the device although Ferry is not reading
  got[0]!.settlement.accept();
  await waitFor(() => acked.includes('one'), 'PUBACK of the first while paused');
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
  await delay(300);
  expect(got).toHaveLength(0);
  await listener.closeSources();
  // no longer taking: read again, but neither routed nor acknowledged (the device resends later)
  await delay(200);
  expect(got).toHaveLength(0);
  expect(dev.connected).toBe(true);
});
