// What one QoS 1 copy queued for a subscriber keeps alive (path C's steady state: the subscriber
// is the slower side, and its session queue holds up to sessionQueueLimit copies): an MqttBroker
// with a subscriber of devices/+/telemetry that never acknowledges, on in-memory streams, and a
// publisher that sends K QoS 1 PUBLISH packets. Its 100 in flight aside, the rest wait in the
// session's queue. The heap (after gc() twice) with them queued, minus the heap after the
// subscriber's session ended, divided by the queued count. ROUNDS rounds, the median; with
// FERRY_BEFORE=<another built checkout> both builds, round by round. Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node --expose-gc bench/experiments/mqtt-listener-queue.mjs
import { comparedBuilds, median } from './builds.mjs';
import { brokerConfig, loadBrokerBuilds, newBroker, packetOf, wireClient, wireSubscriber } from './mqtt-broker-setup.mjs';

if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const K = Number(process.env.K ?? 5000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);

const builds = comparedBuilds();
await loadBrokerBuilds(builds);
for (const b of builds) b.bytes = [];
const turn = () => new Promise((r) => setImmediate(r));
// the whole run queued: nothing waits for room
const config = brokerConfig({ receiveMaximum: 65535 }, { queueMessages: 100_000, queueBytes: 1024 * 1024 * 1024 });
const payload = Buffer.alloc(256, 0x61);
const heap = async () => {
  await turn();
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};

/** K QoS 1 publishes from `pub`, 500 a read */
async function publishAll(pub, gen) {
  for (let i = 0; i < K; i += 500) {
    const part = [];
    for (let j = i; j < Math.min(K, i + 500); j++) part.push(gen({ cmd: 'publish', topic: 'devices/d1/telemetry', payload, qos: 1, messageId: 1 + (j % 65535), retain: false, dup: false }));
    pub.emit('data', Buffer.concat(part));
    await turn();
    pub.take();
  }
}

async function round(b) {
  const broker = newBroker(b, config);
  const gen = (p) => packetOf(b, p);
  const sub = await wireSubscriber(b, broker, 'sub');
  const pub = await wireClient(b, broker, 'pub');
  // the packets are the publisher's: made and let go of inside this call, before the first figure
  await publishAll(pub, gen);
  sub.take();
  const stats = broker.sessionStats('sub');
  const held = await heap();
  // the subscriber leaves with a clean session: its session and what it held end
  sub.emit('data', gen({ cmd: 'disconnect' }));
  sub.emit('end');
  sub.destroy();
  await turn();
  await turn();
  const after = await heap();
  await broker.close();
  return (held - after) / stats.queued;
}

for (let r = 0; r < ROUNDS; r++) for (const b of builds) b.bytes.push(await round(b));
console.log(`mqtt-listener, ${K} QoS 1 copies for a subscriber that does not acknowledge (100 in flight, the rest queued), ${ROUNDS} rounds`);
for (const b of builds) console.log(`${b.name.padEnd(7)} bytes kept per queued copy: median ${median(b.bytes).toFixed(0)} (min ${Math.min(...b.bytes).toFixed(0)}, max ${Math.max(...b.bytes).toFixed(0)})`);
