// The mqtt-listener's own work per QoS 1 message on path C, without sockets and without the
// clients: an MqttBroker (packages/mqtt/src/listener/broker.ts) with two connections on in-memory
// streams, a publisher and a subscriber of devices/+/telemetry at QoS 1. Each batch is BATCH
// PUBLISH packets (QoS 1, 256-byte payload, as mqtt.js writes them) in one chunk from the
// publisher, then one chunk with the subscriber's PUBACK for every PUBLISH the listener wrote to
// it; the listener answers the publisher with its PUBACKs. BATCH stays within the subscriber's
// in-flight window (maxInflightMessages 100), so nothing waits for room: this is the message
// path when no queue is full. ITER messages a round, ROUNDS rounds; with FERRY_BEFORE=<another
// built checkout> the two builds take turns round by round in this one process (the same machine
// load for both) and must write the same bytes. Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node bench/experiments/mqtt-listener-path.mjs
// Under callgrind (instruction counts, repeatable under load), one build at a time:
//   ONLY=this ROUNDS=3 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/mqtt-listener-path.mjs
import { loadavg } from 'node:os';
import { comparedBuilds, median } from './builds.mjs';
import { brokerConfig, loadBrokerBuilds, newBroker, packetOf, wireClient, wireSubscriber } from './mqtt-broker-setup.mjs';
import { publishIds } from './wire.mjs';

const ITER = Number(process.env.ITER ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const BATCH = Number(process.env.BATCH ?? 50);

const builds = comparedBuilds();
await loadBrokerBuilds(builds);

const turn = () => new Promise((r) => setImmediate(r));
const config = brokerConfig();
const payload = Buffer.alloc(256, 0x61);

async function open(b) {
  const broker = newBroker(b, config);
  const gen = (p) => packetOf(b, p);
  const sub = await wireSubscriber(b, broker, 'sub');
  const pub = await wireClient(b, broker, 'pub');
  let nextId = 1;
  return {
    sub,
    pub,
    /**
     * BATCH publishes in, the subscriber's PUBACKs in; the bytes the listener wrote to each, and
     * the CPU time (µs) of the listener's part alone (the chunks are made outside it)
     */
    async batch() {
      const chunk = [];
      for (let i = 0; i < BATCH; i++) {
        chunk.push(gen({ cmd: 'publish', topic: 'devices/d1/telemetry', payload, qos: 1, messageId: nextId, retain: false, dup: false }));
        nextId = nextId >= 65535 ? 1 : nextId + 1;
      }
      const publishes = Buffer.concat(chunk);
      let c0 = process.cpuUsage();
      pub.emit('data', publishes);
      await turn();
      let c = process.cpuUsage(c0);
      let us = c.user + c.system;
      const delivered = sub.take();
      const acks = Buffer.concat(publishIds(delivered).map((id) => Buffer.from([0x40, 2, id >> 8, id & 0xff])));
      c0 = process.cpuUsage();
      sub.emit('data', acks);
      await turn();
      c = process.cpuUsage(c0);
      us += c.user + c.system;
      return [delivered, pub.take(), us];
    },
  };
}

const sessions = [];
for (const b of builds) sessions.push({ b, s: await open(b), cpu: [] });
// the same bytes from every build (the first batch of each)
const firsts = [];
for (const x of sessions) firsts.push(await x.s.batch());
for (const f of firsts) if (!f[0].equals(firsts[0][0]) || !f[1].equals(firsts[0][1]) || f[0].length === 0) throw new Error('the builds wrote different bytes');
for (let r = 0; r < ROUNDS; r++) {
  for (const x of sessions) {
    let us = 0;
    for (let i = 0; i < ITER / BATCH; i++) us += (await x.s.batch())[2];
    x.cpu.push((us * 1000) / ITER);
  }
}
console.log(`mqtt-listener path C, ${ITER} QoS 1 messages a round in batches of ${BATCH}, ${ROUNDS} rounds, load ${loadavg()[0].toFixed(2)}`);
for (const x of sessions) console.log(`${x.b.name.padEnd(7)} ns of CPU per message: median ${median(x.cpu).toFixed(0)} (min ${Math.min(...x.cpu).toFixed(0)}, max ${Math.max(...x.cpu).toFixed(0)})`);
if (sessions.length === 2) console.log(`this ÷ before: ${(median(sessions[1].cpu) / median(sessions[0].cpu)).toFixed(2)}`);
