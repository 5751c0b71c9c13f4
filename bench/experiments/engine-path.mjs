// The engine's share of paths A and E in one process, without sockets or brokers: the CPU time
// per message of the route, the engine and its settlement, for two builds side by side:
//   ROOT=<a built checkout> N=100000 PATH_CASE=A node bench/experiments/engine-path.mjs
// A: an MQTT message through a route to an amqp091 destination; E: an amqp091 delivery (the
// consumer's mapping, fromDelivery) through a route to an mqtt-listener destination. The sinks
// confirm at once (a resolved write), metrics are the gateway's PromMetrics. A first pass of N/4
// messages warms the JIT; the second is measured (process.cpuUsage, user + system).
import { pathToFileURL } from 'node:url';

const root = process.env.ROOT ?? process.cwd();
const load = (p) => import(pathToFileURL(`${root}/packages/${p}`).href);
const core = await load('core/dist/index.js');
const router = await load('router/dist/index.js');
const { amqp091Definition } = await load('amqp091/dist/index.js');
const { fromDelivery } = await import(pathToFileURL(`${process.env.MAP_ROOT ?? root}/packages/amqp091/dist/mapping.js`).href);
const { mqttListenerDefinition } = await load('mqtt/dist/index.js');
const { PromMetrics } = await load('gateway/dist/metrics.js');

const N = Number(process.env.N ?? 20000);
const pathCase = process.env.PATH_CASE ?? 'A';
const connectors = new Map([
  ['devices', { spec: { name: 'devices', type: 'mqtt-listener', options: { port: 1883 } }, definition: mqttListenerDefinition }],
  ['rabbit', { spec: { name: 'rabbit', type: 'amqp091', options: { url: 'amqp://x' } }, definition: amqp091Definition }],
]);
const routes =
  pathCase === 'A'
    ? [{ name: 'telemetry', from: { connector: 'devices', fields: { topic: 'devices/+/telemetry' } }, to: [{ connector: 'rabbit', fields: { exchange: 'amq.topic', routingKey: 'devices.{1}.telemetry' } }], headers: { set: {}, remove: [] } }]
    : [{ name: 'commands', from: { connector: 'rabbit', fields: { queue: 'bench.commands' } }, to: [{ connector: 'devices', fields: { topic: 'devices/d1/cmd', qos: 1 } }], headers: { set: {}, remove: [] } }];
const table = router.RouteTable.compile(routes, connectors);
// SINK=send: a sink that confirms through Sink.send's callback, as the amqp091 and listener
// sinks do (the engine's fast path); otherwise a resolved write promise. HOLD=<k> (with
// node --expose-gc): after the measured pass, k messages are held unconfirmed and the heap they
// keep alive is printed per message (what every scavenge copies while a broker confirms).
const held = [];
let holding = false;
const sink =
  process.env.SINK === 'send' || process.env.HOLD !== undefined
    ? { write: () => Promise.resolve(), send: (_m, _to, done) => (holding ? held.push(done) : done(undefined)) }
    : { write: () => Promise.resolve() };
const engine = new router.Engine({
  table,
  sinks: new Map([['rabbit', sink], ['devices', sink]]),
  logger: core.silentLogger,
  metrics: new PromMetrics('bench'),
});
const source = pathCase === 'A' ? 'devices' : 'rabbit';
const handler = engine.handler(source);
const body = Buffer.alloc(256, 1);
let tag = 0;
function message() {
  if (pathCase === 'A') {
    const source = { connector: 'devices', protocol: 'mqtt', address: 'devices/d1/telemetry' };
    // LITERAL=1: the message as one object literal, for comparing with createMessage's spread
    if (process.env.LITERAL === '1') return { body, headers: new Map(), contentType: undefined, contentEncoding: undefined, messageId: undefined, correlationId: undefined, replyTo: undefined, timestamp: undefined, expiresAt: undefined, priority: undefined, userId: undefined, guarantee: 'at-least-once', retain: false, source, meta: {} };
    return core.createMessage({ body, guarantee: 'at-least-once', source });
  }
  const msg = {
    content: body,
    fields: { deliveryTag: ++tag, redelivered: false, exchange: '', routingKey: 'bench.commands', consumerTag: 'ctag' },
    properties: { headers: {}, deliveryMode: 2, contentType: undefined, contentEncoding: undefined, correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined, priority: undefined },
  };
  return fromDelivery(msg, { connector: 'rabbit', queue: 'bench.commands', now: Date.now(), replyToTopicHeader: false });
}

let settled = 0;
const WINDOW = 500;
async function pass(n) {
  const base = settled;
  for (let sent = 0; sent < n; ) {
    const end = Math.min(n, sent + WINDOW);
    for (; sent < end; sent++) {
      handler({ message: message(), settlement: new core.Settlement(() => settled++), routes: pathCase === 'A' ? undefined : ['commands'] });
    }
    while (settled - base < end) await new Promise((r) => setImmediate(r));
  }
}
await pass(Math.floor(N / 4));
const before = process.cpuUsage();
await pass(N);
const used = process.cpuUsage(before);
console.log(JSON.stringify({ case: pathCase, root, n: N, usPerMsg: Math.round(((used.user + used.system) / N) * 100) / 100 }));
if (process.env.HOLD !== undefined) {
  const k = Number(process.env.HOLD);
  const heap = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((r) => setImmediate(r));
    }
    return process.memoryUsage().heapUsed;
  };
  const empty = await heap();
  // HOLD_SNAPSHOT=<prefix>: heap snapshots before and while holding, to see what is kept
  const { writeHeapSnapshot } = await import('node:v8');
  if (process.env.HOLD_SNAPSHOT) writeHeapSnapshot(`${process.env.HOLD_SNAPSHOT}-empty.heapsnapshot`);
  holding = true;
  const base = settled;
  for (let i = 0; i < k; i++) handler({ message: message(), settlement: new core.Settlement(() => settled++), routes: pathCase === 'A' ? undefined : ['commands'] });
  while (held.length < k) await new Promise((r) => setImmediate(r));
  const full = await heap();
  if (process.env.HOLD_SNAPSHOT) writeHeapSnapshot(`${process.env.HOLD_SNAPSHOT}-held.heapsnapshot`);
  holding = false;
  for (const done of held.splice(0)) done(undefined);
  while (settled - base < k) await new Promise((r) => setImmediate(r));
  const after = await heap();
  console.log(JSON.stringify({ case: pathCase, root, held: k, bytesPerHeld: Math.round((full - empty) / k), bytesLeftAfter: Math.round((after - empty) / k) }));
}
