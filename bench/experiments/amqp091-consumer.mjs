// The amqp091 source's own work per delivery on path E, with the engine, without RabbitMQ and
// without the device: a QueueConsumer (packages/amqp091/src/consumer.ts) on a channel stub gets
// ITER deliveries of a 256-byte message with no properties but persistent delivery mode (as the
// bench's publisher sends on E), in windows of WINDOW as a socket read gives them; each goes
// through fromDelivery, the engine and a route to a sink that confirms at once (its callback
// form, Sink.send, as the engine calls it), and back as the consumer's settlement and AckBatch,
// to the channel's basic.ack. Prints CPU ns per delivery. Run after `npx tsc -b`, one build at a
// time (BUILD=<a built checkout>, default this one):
//   BUILD=/path/to/before ITER=200000 node bench/experiments/amqp091-consumer.mjs
// Instructions (repeatable under load): the difference between ITER=200000 and ITER=0 under
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/amqp091-consumer.mjs
// divided by ITER (start-up and compilation cancel out).
// RETAINED=1 (with `node --expose-gc`): what one unsettled delivery retains instead, in bytes of
// V8 heap: K deliveries (default 1,000) whose writes the sink holds (the device's PUBACK not yet
// come), gc() twice, heapUsed with them held minus heapUsed once the sink confirmed them, their
// acks left and they were collected, divided by K; ROUNDS rounds (default 5), each printed, and
// their median.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { loadavg } from 'node:os';

const ITER = Number(process.env.ITER ?? 200_000);
const WINDOW = Number(process.env.WINDOW ?? 100);
const dir = resolve(process.env.BUILD ?? resolve(import.meta.dirname, '../..'));
const load = (p) => import(pathToFileURL(`${dir}/${p}`).href);
const { QueueConsumer } = await load('packages/amqp091/dist/consumer.js');
const { amqp091Definition } = await load('packages/amqp091/dist/index.js');
const { mqttListenerDefinition } = await load('packages/mqtt/dist/index.js');
const core = await load('node_modules/@ferry/core/dist/index.js');
const router = await load('packages/router/dist/index.js');
const { PromMetrics } = await load('packages/gateway/dist/metrics.js');

const metrics = new PromMetrics('bench');
const connectors = new Map([
  ['devices', { spec: { name: 'devices', type: 'mqtt-listener', options: { port: 1883 } }, definition: mqttListenerDefinition }],
  ['rabbit', { spec: { name: 'rabbit', type: 'amqp091', options: { url: 'amqp://x' } }, definition: amqp091Definition }],
]);
const routes = [{ name: 'commands', from: { connector: 'rabbit', fields: { queue: 'bench.commands' } }, to: [{ connector: 'devices', fields: { topic: 'devices/d1/cmd', qos: 1 } }], headers: { set: {}, remove: [] } }];
const table = router.RouteTable.compile(routes, connectors);
const RETAINED = process.env.RETAINED === '1';
/** the dones the sink holds in RETAINED mode */
const held = [];
const send = RETAINED ? (_m, _to, done) => held.push(done) : (_m, _to, done) => done(undefined);
const sink = { send, write: () => Promise.resolve() };
const engine = new router.Engine({ table, sinks: new Map([['devices', sink]]), logger: core.silentLogger, metrics });

let acked = 0;
let onDelivery;
// what QueueConsumer asks of amqplib's Channel
const ch = {
  on() {},
  prefetch: () => Promise.resolve(),
  consume(_queue, cb) {
    onDelivery = cb;
    return Promise.resolve({ consumerTag: 'ctag' });
  },
  ack(msg, multiple) {
    acked = multiple ? msg.fields.deliveryTag : acked + 1;
  },
  nack() {
    throw new Error('nacked');
  },
};
const consumer = new QueueConsumer(ch, {
  connector: 'rabbit',
  queue: 'bench.commands',
  routes: ['commands'],
  prefetch: 1000,
  replyToTopicHeader: false,
  deliver: engine.handler('rabbit'),
  logger: core.silentLogger,
  counters: new core.ConnectorCounters(metrics, 'rabbit'),
  onLost: (reason) => {
    throw new Error(reason);
  },
});
await consumer.start();
const body = Buffer.alloc(256, 1);
let tag = 0;
// a delivery as amqplib's channel gives it (lib/channel.js acceptDeliveryOrReturn, lib/codec decoding the properties)
function delivery() {
  return {
    fields: { consumerTag: 'ctag', deliveryTag: ++tag, redelivered: false, exchange: '', routingKey: 'bench.commands' },
    properties: { contentType: undefined, contentEncoding: undefined, headers: {}, deliveryMode: 2, priority: undefined, correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined },
    // in RETAINED mode a buffer of its own, as a socket read's slice is each delivery's own
    content: RETAINED ? Buffer.from(body) : body,
  };
}
if (RETAINED) {
  const K = Number(process.env.K ?? 1000);
  const tick = () => new Promise((res) => setImmediate(res));
  const { retainedBytes } = await import('./retained.mjs');
  const figures = await retainedBytes(
    K,
    Number(process.env.ROUNDS ?? 5),
    async () => {
      for (let i = 0; i < K; i++) onDelivery(delivery());
      await tick();
      if (held.length !== K) throw new Error(`${held.length} of ${K} writes held`);
    },
    async () => {
      for (const done of held.splice(0)) done(undefined);
      while (acked < tag) await tick();
    },
  );
  console.log(`amqp091 consumer, ${dir}: K=${K}, bytes retained per unsettled delivery ${figures}`);
  process.exit(0);
}
const started = process.cpuUsage();
for (let sent = 0; sent < ITER; ) {
  const end = Math.min(ITER, sent + WINDOW);
  for (; sent < end; sent++) onDelivery(delivery());
  while (acked < tag) await new Promise((r) => setImmediate(r));
}
const cpu = process.cpuUsage(started);
if (acked !== ITER) throw new Error(`${acked} of ${ITER} deliveries acked`);
console.log(`amqp091 consumer, ${dir}: ${ITER} deliveries, ${ITER === 0 ? '-' : (((cpu.user + cpu.system) * 1000) / ITER).toFixed(0)} CPU ns per delivery, load ${loadavg()[0].toFixed(2)}`);
