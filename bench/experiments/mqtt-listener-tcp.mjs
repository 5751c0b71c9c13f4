// Path C as mqtt-listener-path.mjs, over real TCP sockets on 127.0.0.1: the publisher's and the
// subscriber's sockets are this process's, so the figure is the whole process's CPU per message,
// the listener's socket reads and writes (Node's stream machinery, the system calls) included,
// with the clients' side of them. Each batch: BATCH QoS 1 PUBLISH packets in one write from the
// publisher; once the subscriber has them all, one write of its PUBACKs; once the publisher has
// its BATCH PUBACKs, the next batch (SINK=1: the batch comes from `broker.publish`, as path E's
// route writes do). With FERRY_BEFORE=<another built checkout> the two builds
// take turns round by round in this one process. Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node bench/experiments/mqtt-listener-tcp.mjs
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { loadavg } from 'node:os';
import { comparedBuilds, median } from './builds.mjs';
import { accepted, brokerConfig, loadBrokerBuilds, newBroker, packetOf } from './mqtt-broker-setup.mjs';
import { publishIds } from './wire.mjs';

const ITER = Number(process.env.ITER ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const BATCH = Number(process.env.BATCH ?? 50);
/** SINK=1: no publisher socket; the messages come from broker.publish, as a route's writes do (path E) */
const SINK = process.env.SINK === '1';

const builds = comparedBuilds();
await loadBrokerBuilds(builds);
const config = brokerConfig();
const payload = Buffer.alloc(256, 0x61);

/** a client socket that collects what it reads until `until(bytes)` is true */
function client(port) {
  const s = connect({ port, host: '127.0.0.1', noDelay: true });
  s.setNoDelay(true);
  let got = [];
  let want;
  s.on('data', (d) => {
    got.push(d);
    if (want !== undefined) {
      const all = Buffer.concat(got);
      if (want.until(all)) {
        got = [];
        const w = want;
        want = undefined;
        w.resolve(all);
      } else got = [all];
    }
  });
  s.collect = (until) =>
    new Promise((resolve) => {
      want = { until, resolve };
      if (got.length > 0) s.emit('data', Buffer.alloc(0));
    });
  return s;
}

async function open(b) {
  const broker = newBroker(b, config);
  const server = createServer({ noDelay: true }, (socket) => broker.accept(accepted(socket)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = server.address().port;
  const gen = (p) => packetOf(b, p);
  const connected = async (clientId) => {
    const s = client(port);
    await once(s, 'connect');
    s.write(gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 }));
    await s.collect((all) => all.length >= 4);
    return s;
  };
  const sub = await connected('sub');
  sub.write(gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/+/telemetry', qos: 1 }] }));
  await sub.collect((all) => all.length >= 5);
  const pub = await connected('pub');
  const publishSize = gen({ cmd: 'publish', topic: 'devices/d1/telemetry', payload, qos: 1, messageId: 1, retain: false, dup: false }).length;
  let nextId = 1;
  return {
    async batch() {
      const chunk = [];
      for (let i = 0; i < BATCH; i++) {
        chunk.push(gen({ cmd: 'publish', topic: 'devices/d1/telemetry', payload, qos: 1, messageId: nextId, retain: false, dup: false }));
        nextId = nextId >= 65535 ? 1 : nextId + 1;
      }
      const c0 = process.cpuUsage();
      if (SINK) {
        // as the listener's sink writes a route's messages (path E): one publish a message, in one turn
        for (let i = 0; i < BATCH; i++) broker.publish({ topic: 'devices/d1/telemetry', payload: Buffer.from(payload), qos: 1, retain: false });
        const delivered = await sub.collect((all) => all.length >= BATCH * publishSize);
        sub.write(Buffer.concat(publishIds(delivered).map((id) => Buffer.from([0x40, 2, id >> 8, id & 0xff]))));
        // the subscriber's PUBACKs read and settled before the next batch
        await new Promise((r) => setImmediate(r));
        const c = process.cpuUsage(c0);
        return c.user + c.system;
      }
      pub.write(Buffer.concat(chunk));
      const delivered = await sub.collect((all) => all.length >= BATCH * publishSize);
      sub.write(Buffer.concat(publishIds(delivered).map((id) => Buffer.from([0x40, 2, id >> 8, id & 0xff]))));
      await pub.collect((all) => all.length >= 4 * BATCH);
      const c = process.cpuUsage(c0);
      return c.user + c.system;
    },
  };
}

const sessions = [];
for (const b of builds) sessions.push({ b, s: await open(b), cpu: [] });
for (const x of sessions) for (let i = 0; i < 2 * ITER / BATCH; i++) await x.s.batch();
for (let r = 0; r < ROUNDS; r++) {
  for (const x of sessions) {
    let us = 0;
    for (let i = 0; i < ITER / BATCH; i++) us += await x.s.batch();
    x.cpu.push((us * 1000) / ITER);
  }
}
console.log(`mqtt-listener path C over TCP, ${ITER} QoS 1 messages a round in batches of ${BATCH}, ${ROUNDS} rounds, load ${loadavg()[0].toFixed(2)}`);
for (const x of sessions) console.log(`${x.b.name.padEnd(7)} ns of CPU per message (process): median ${median(x.cpu).toFixed(0)} (min ${Math.min(...x.cpu).toFixed(0)}, max ${Math.max(...x.cpu).toFixed(0)})`);
if (sessions.length === 2) console.log(`this ÷ before: ${(median(sessions[1].cpu) / median(sessions[0].cpu)).toFixed(2)}`);
process.exit(0);
