/**
 * Backpressure through a real gateway: devices flood the mqtt-listener with QoS 1
 * while RabbitMQ's publisher confirms are held back by a proxy (a slow destination). The route's
 * maxInFlight bounds what Ferry has in flight, the listener stops reading each device whose
 * publish waits for the full route (all four here: they all publish on it), and once the confirms flow again every message arrives: counted, 0 lost.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, delay, deleteVhost, freePort, rabbitUrl, Tally, TcpProxy, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(120_000);

const run = runId('bp');
const MAX = 50;
const DEVICES = 4;
const PER_DEVICE = 500;
const N = DEVICES * PER_DEVICE;

let vhost: string;
let gateway: Gateway;
let proxy: TcpProxy;
let plain: Plain;
let listenerPort: number;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('policy-bp');
  listenerPort = await freePort();
  proxy = new TcpProxy(brokerPorts().rabbitAmqp);
  const proxyPort = await proxy.start();
  const rabbitThroughProxy = rabbitUrl(vhost).replace(`:${brokerPorts().rabbitAmqp}`, `:${proxyPort}`);
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitThroughProxy}"
    topology:
      queues: [ { name: sink } ]
routes:
  - name: flood
    from: { connector: devices, topic: "${run}/#" }
    to: { connector: rabbit, exchange: "", routingKey: sink }
    maxInFlight: ${MAX}
`,
    captureLogger(),
  );
  await waitFor(() => gateway.connectorStates()['rabbit'] === 'up', 'RabbitMQ connected');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  ifAssigned(proxy)?.release();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(proxy)?.stop();
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it(`a slow destination: at most maxInFlight (${MAX}) in flight, each device held back, memory bounded; after release all ${N} arrive, 0 lost`, async () => {
  expect(rabbitUrl(vhost)).toContain(`:${brokerPorts().rabbitAmqp}`);
  const engine = gateway.engine;
  if (engine === undefined) throw new Error('gateway has no engine');
  const flow = engine.flow('devices');
  const tally = new Tally();
  const received = await collectQueue(plain.ch, 'sink');

  // the destination stops confirming
  proxy.holdDownstream();
  for (let d = 0; d < DEVICES; d++) clients.push(await device(listenerPort, `${run}-d${d}`));
  const rss: number[] = [process.memoryUsage().rss];
  const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 100);
  const publishing = Promise.all(
    clients.map((c, d) =>
      publishWindowed(c, PER_DEVICE, 100, (i) => {
        const id = `d${d}-m${i}`;
        tally.sent(id);
        return { topic: `${run}/dev${d}`, payload: Buffer.from(id), opts: {} };
      }),
    ),
  );

  // every device's next publish waits for room: each one's socket is no longer read
  await waitFor(() => engine.routeLoad('flood')?.inFlight === MAX && (engine.routeLoad('flood')?.waiting ?? 0) >= DEVICES, 'every device held back by the full route', 20_000);
  // hold the confirms a while longer: devices keep trying to publish, Ferry must not take more
  const loadWhileHeld: number[] = [];
  for (let i = 0; i < 20; i++) {
    // no event to wait for: a paused listener takes nothing, and what it does not take signals nothing
    await delay(100);
    const load = engine.routeLoad('flood');
    loadWhileHeld.push((load?.inFlight ?? 0) + (load?.waiting ?? 0));
  }
  const held = engine.routeLoad('flood');
  console.log(
    `held confirms 2 s: in flight ${held?.inFlight}, waiting ${held?.waiting}, taken-not-settled over time ${Math.min(...loadWhileHeld)}..${Math.max(...loadWhileHeld)}, ` +
      `received so far ${received.length}, flow paused ${flow.paused}`,
  );
  expect(held?.inFlight).toBe(MAX);
  // one waiting publish per device: a device is held back between two packets of one read
  expect(held?.waiting).toBe(DEVICES);
  // the paused listener stops taking: the load does not creep up while the destination is stuck
  expect(Math.max(...loadWhileHeld)).toBe(loadWhileHeld[0]);

  // confirms flow again
  proxy.release();
  await publishing;
  await waitFor(() => received.length >= N, `${N} messages in the queue`, 60_000);
  // one more after every PUBACK, not counted: Ferry publishes to RabbitMQ on one channel, in
  // order, so a copy of an earlier message is in the queue before it
  await (clients[0] as MqttClient).publishAsync(`${run}/dev0`, Buffer.from('fence'), { qos: 1 });
  await waitFor(() => received.some((m) => m.content.toString() === 'fence'), 'the fence in the queue', 60_000);
  received.splice(received.findIndex((m) => m.content.toString() === 'fence'), 1);
  clearInterval(sampler);
  for (const m of received) tally.received(m.content.toString());

  const load = engine.routeLoad('flood');
  const mb = (b: number): string => (b / 1024 / 1024).toFixed(1);
  console.log(tally.summary(`backpressure, ${DEVICES} devices × ${PER_DEVICE} QoS 1, maxInFlight ${MAX}`));
  console.log(
    `peak in flight ${load?.peakInFlight} (max ${MAX}), peak waiting ${load?.peakWaiting}; RSS ${mb(Math.min(...rss))}..${mb(Math.max(...rss))} MiB over ${rss.length} samples`,
  );
  expect(load?.peakInFlight).toBe(MAX);
  // Ferry holds less than the devices have outstanding (4 × 100): the rest waits in TCP and
  // in the devices, because the listener stopped reading (without the pause it takes all 400)
  expect((load?.peakInFlight ?? 0) + (load?.peakWaiting ?? Infinity)).toBeLessThan(DEVICES * 100);
  expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
  await waitFor(() => !flow.paused && engine.inFlight === 0, 'everything settled, flow resumed');
});
