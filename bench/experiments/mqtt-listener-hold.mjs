// What one QoS 1 PUBLISH taken by the mqtt-listener keeps alive while the engine settles it (path
// A holds about 1,000 of them while RabbitMQ confirms): a started MqttListenerConnector
// (packages/mqtt/src/listener/connector.ts) with a device on an in-memory stream (3.1.1, or
// VERSION=5) that sends K QoS 1 PUBLISH packets (256-byte payload, topic devices/d1/telemetry,
// no subscriber) in one chunk; the engine is a delivery handler that holds every delivery it is
// given, unsettled. With the K held, the heap (after gc() twice) minus the heap once they were
// accepted, their PUBACKs written and the deliveries let go of, divided by K: the bytes one
// in-flight message retains (what the listener and its mapping keep; the engine's own part is not
// in it). ROUNDS rounds, the median; each round checks the K PUBACKs. Run after `npx tsc -b`:
//   node --expose-gc bench/experiments/mqtt-listener-hold.mjs
//   BUILD=/path/to/other/checkout node --expose-gc bench/experiments/mqtt-listener-hold.mjs
// SNAPSHOT=1: besides, a heap snapshot with the K held and one after, and the objects the first
// holds beyond the second by kind (count and bytes per message): what the median is made of,
// without the collector's noise.
// HEAP=0: no heap figures (no gc() in the rounds), for the instructions of the listener's side
// of path A per message under callgrind: the slope between two ROUNDS counts, e.g.
//   HEAP=0 ROUNDS=4 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node --expose-gc bench/experiments/mqtt-listener-hold.mjs
import { Wire } from './wire.mjs';
import { startListener } from './listener-build.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const K = Number(process.env.K ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const VERSION = Number(process.env.VERSION ?? 4);
const HEAP = process.env.HEAP !== '0';
const { dir, load, listener } = await startListener({ receiveMaximum: 65535 });
const mqttPacket = (await load('node_modules/mqtt-packet/mqtt.js')).default;
let held = [];
await listener.openSources([], (delivery) => {
  held.push(delivery);
});
const turn = () => new Promise((r) => setImmediate(r));
const gen = (p) => mqttPacket.generate(p, { protocolVersion: VERSION });
const device = new Wire();
listener.broker.accept({ stream: device, info: { transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1, remote: '127.0.0.1:1', authorized: false }, handshakeDone: () => undefined });
device.emit('data', gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: VERSION, clean: true, clientId: 'd1', keepalive: 0 }));
await turn();
await turn();
device.take();

const payload = Buffer.alloc(256, 0x61);
let nextId = 1;
/** K publishes in one chunk, made before the heap is measured */
function chunk() {
  const parts = [];
  for (let i = 0; i < K; i++) {
    parts.push(gen({ cmd: 'publish', topic: 'devices/d1/telemetry', payload, qos: 1, messageId: nextId, retain: false, dup: false }));
    nextId = nextId >= 65535 ? 1 : nextId + 1;
  }
  return Buffer.concat(parts);
}
/** object kind -> [count, self bytes] in a heap snapshot taken now */
async function kinds() {
  const { getHeapSnapshot } = await import('node:v8');
  let text = '';
  for await (const c of getHeapSnapshot()) text += c;
  const snap = JSON.parse(text);
  const meta = snap.snapshot.meta;
  const width = meta.node_fields.length;
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => meta.node_fields.indexOf(f));
  const out = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = meta.node_types[0][snap.nodes[i + ti]];
    // small arrays by their size (a Map's table, an object's elements); large ones are not per message
    const size = type === 'array' && snap.nodes[i + si] < 1024 ? ` of ${snap.nodes[i + si]} bytes` : '';
    const k = `${type} ${snap.strings[snap.nodes[i + ni]]}${size}`.slice(0, 60);
    const e = out.get(k) ?? [0, 0];
    e[0]++;
    e[1] += snap.nodes[i + si];
    out.set(k, e);
  }
  return out;
}
let snapshot = process.env.SNAPSHOT === '1';
let withHeldKinds;
function heap() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}
async function round() {
  const bytes = chunk();
  device.emit('data', bytes);
  await turn();
  await turn();
  if (held.length !== K) throw new Error(`${held.length} deliveries held, ${K} expected`);
  const withHeld = HEAP ? heap() : 0;
  if (snapshot) withHeldKinds = await kinds();
  for (const d of held) d.settlement.accept();
  held = [];
  await turn();
  await turn();
  const acks = device.take();
  if (acks.length !== 4 * K) throw new Error(`${acks.length / 4} PUBACKs, ${K} expected`);
  const after = HEAP ? heap() : 0;
  if (snapshot) {
    snapshot = false;
    const afterKinds = await kinds();
    let total = 0;
    for (const [k, [n, bytes]] of withHeldKinds) {
      const [n0, bytes0] = afterKinds.get(k) ?? [0, 0];
      // the kinds with about one object per held message or more
      if (n - n0 < K * 0.9) continue;
      total += bytes - bytes0;
      console.log(`  ${((n - n0) / K).toFixed(2)} x ${k}: ${((bytes - bytes0) / K).toFixed(0)} bytes per message`);
    }
    console.log(`  snapshot: ${(total / K).toFixed(0)} bytes per message in these kinds`);
  }
  return (withHeld - after) / K;
}
await round();
await round();
const per = [];
for (let r = 0; r < ROUNDS; r++) per.push(await round());
per.sort((a, b) => a - b);
console.log(`mqtt-listener hold, MQTT ${VERSION === 5 ? '5' : '3.1.1'}, K=${K} QoS 1 publishes held unsettled, ${ROUNDS} rounds (${dir})`);
if (HEAP) console.log(`bytes retained per in-flight message: median ${per[Math.floor(per.length / 2)].toFixed(0)} (min ${per[0].toFixed(0)}, max ${per[per.length - 1].toFixed(0)})`);
await listener.closeSources();
await listener.stop();
