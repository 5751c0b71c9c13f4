// The stomp-listener's own work per SEND on path D, without the route, the sink and the network:
// a StompSession (packages/stomp/src/server/session.ts) on an in-memory stream reads SEND frames
// as @stomp/stompjs writes them (destination, receipt, content-type, content-length, a 256-byte
// body), maps each to the GatewayMessage (mapping.ts sendToMessage) as the listener connector
// does, and writes one RECEIPT per SEND once the batch settled (as one `basic.ack multiple` from
// RabbitMQ settles it). BATCH frames arrive in one chunk, ITER messages a round, ROUNDS rounds;
// with FERRY_BEFORE=<another built checkout> the two builds take turns round by round in this one
// process (the same machine load for both) and must write the same bytes. Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node bench/experiments/stomp-listener-path.mjs
// Under callgrind (instruction counts, repeatable under load), one build at a time:
//   ONLY=this ROUNDS=3 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/stomp-listener-path.mjs
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { comparedBuilds, median } from './builds.mjs';
import { feedTimed, Wire } from './wire.mjs';

const ITER = Number(process.env.ITER ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const BATCH = Number(process.env.BATCH ?? 20);

const builds = comparedBuilds();
for (const b of builds) {
  const dist = `${b.dir}/packages/stomp/dist/server`;
  b.session = await import(pathToFileURL(`${dist}/session.js`).href);
  b.broker = await import(pathToFileURL(`${dist}/broker.js`).href);
  b.mapping = await import(pathToFileURL(`${dist}/mapping.js`).href);
  b.core = await import(pathToFileURL(`${b.dir}/node_modules/@ferry/core/dist/index.js`).href);
}

const body = Buffer.alloc(256, 0x61);
const sendFrame = (seq) =>
  Buffer.concat([Buffer.from(`SEND\ndestination:/topic/bench\nreceipt:r${seq}\ncontent-type:application/octet-stream\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])]);

const turn = () => new Promise((r) => setImmediate(r));

async function open(b) {
  const broker = new b.broker.StompBroker({ queueBufferMessages: 1000 });
  let held = [];
  const hooks = {
    authenticate: () => true,
    acceptingSends: () => true,
    onSend: (send) => {
      b.mapping.sendToMessage(send, 'bench');
      return new Promise((res) => held.push(res));
    },
  };
  const opts = { ...b.session.DEFAULT_SESSION_OPTIONS, heartBeat: { sendMs: 0, receiveMs: 0 }, serverName: 'Ferry/bench' };
  const wire = new Wire();
  const s = new b.session.StompSession(wire, broker, hooks, opts, b.core.silentLogger);
  s.open();
  wire.emit('data', Buffer.from('CONNECT\naccept-version:1.2\nhost:bench\n\n\0'));
  await turn();
  wire.written = [];
  return {
    wire,
    settleAll() {
      const h = held;
      held = [];
      for (const r of h) r();
    },
  };
}

async function round(b, seqBase) {
  const c = await open(b);
  const chunks = [];
  for (let i = 0; i < ITER; i += BATCH) {
    const frames = [];
    for (let j = 0; j < BATCH; j++) frames.push(sendFrame(seqBase + i + j));
    chunks.push(Buffer.concat(frames));
  }
  const us = await feedTimed(c.wire, chunks, () => c.settleAll(), ITER);
  const out = Buffer.concat(c.wire.written);
  return { us, out };
}

const per = new Map(builds.map((b) => [b.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  let first;
  for (const b of builds) {
    const { us, out } = await round(b, r * ITER);
    if (r > 0) per.get(b.name).push(us);
    if (out.toString().split("RECEIPT\n").length - 1 !== ITER) throw new Error(`round ${r}: ${b.name} wrote no RECEIPT for every SEND`);
    if (first === undefined) first = out;
    else if (out.length === 0 || !first.equals(out)) throw new Error(`round ${r}: ${b.name} wrote other bytes than ${builds[0].name}`);
  }
}
console.log(`stomp-listener path: ${ITER} SENDs a round in chunks of ${BATCH}, ${ROUNDS - 1} measured rounds (the first is warm-up), load ${loadavg()[0].toFixed(2)}`);
for (const b of builds) {
  const a = per.get(b.name);
  console.log(`${b.name}: ${median(a).toFixed(2)} µs CPU per SEND (median; ${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)})`);
}
if (builds.length === 2) console.log(`this ÷ before: ${(median(per.get('this')) / median(per.get('before'))).toFixed(2)}`);
