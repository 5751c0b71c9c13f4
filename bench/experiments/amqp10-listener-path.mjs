// The amqp10-listener's own work per transfer on path G, without the route, the sink and the
// network: an Amqp10Listener (packages/amqp10/src/listener.ts) takes an in-memory connection
// (no SASL, anonymous), a client opens a session and a sending link (unsettled) to `telemetry`,
// then sends transfers as rhea's sender writes them for the bench (a data section of 256 bytes,
// one frame each). The engine's part is a handler that holds each delivery; once a chunk of BATCH
// transfers was read, every held delivery is accepted (as one `basic.ack multiple` from RabbitMQ
// settles them) and the listener writes its dispositions and flows in the next turn. ITER
// transfers a round, ROUNDS rounds; with FERRY_BEFORE=<another built checkout> the two builds take
// turns round by round in this one process, and must accept every transfer (the dispositions
// written are counted by delivery id, first..last). Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before node bench/experiments/amqp10-listener-path.mjs
// Under callgrind (instruction counts, repeatable under load), one build at a time, two sizes:
//   ONLY=this ROUNDS=2 ITER=10000 valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/amqp10-listener-path.mjs
// What one in-flight transfer retains (RETAINED=<K>, run with --expose-gc): the handler holds K
// deliveries (message and settlement, as the engine holds them while RabbitMQ confirms; 1,000 a
// connection), the
// heap is measured after two gc() calls, then with every one accepted, written and collected;
// the difference divided by K is the bytes per unsettled transfer:
//   RETAINED=10000 ROUNDS=5 FERRY_BEFORE=/path/to/main-before node --expose-gc bench/experiments/amqp10-listener-path.mjs
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { loadavg } from 'node:os';
import { comparedBuilds, median } from './builds.mjs';
import { feedTimed, Wire } from './wire.mjs';

const ITER = Number(process.env.ITER ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const BATCH = Number(process.env.BATCH ?? 20);
const RETAINED = Number(process.env.RETAINED ?? 0);
/** RETAINED's transfers are held PER_LINK on each of RETAINED / PER_LINK connections (a link's credit is at most 1,800) */
const PER_LINK = Math.min(RETAINED, 1000);

const builds = comparedBuilds();
for (const b of builds) {
  b.amqp10 = await import(pathToFileURL(`${b.dir}/packages/amqp10/dist/listener.js`).href);
  b.options = await import(pathToFileURL(`${b.dir}/packages/amqp10/dist/options.js`).href);
  b.core = await import(pathToFileURL(`${b.dir}/node_modules/@ferry/core/dist/index.js`).href);
  // the client's frames written with the rhea the build has (the same version, pinned)
  const require = createRequire(`${b.dir}/packages/amqp10/package.json`);
  b.frames = require('rhea/lib/frames.js');
  b.terminus = require('rhea/lib/terminus.js');
  b.message = require('rhea/lib/message.js');
}

const turn = () => new Promise((r) => setImmediate(r));
const amqpFrame = (b, performative, payload) => b.frames.write_frame(b.frames.amqp_frame(0, performative, payload));

/** every delivery id a disposition in `out` settles as accepted (descriptor 0x24), counted */
function acceptedIds(out) {
  let n = 0;
  for (let at = 0; at + 8 <= out.length; ) {
    const size = out.readUInt32BE(at);
    const frame = out.subarray(at, at + size);
    at += size;
    // a disposition: 00 53 15, list, role true (0x41), first, last ...; read with rhea's reader
    if (frame.length > 11 && frame[8] === 0x00 && frame[9] === 0x53 && frame[10] === 0x15) {
      const f = builds[0].frames.read_frame(frame);
      const p = f.performative;
      const state = p.state;
      if (p.role === true && p.settled === true && state?.value !== undefined && String(state.descriptor?.value) === '36') n += (p.last ?? p.first) - p.first + 1;
    }
  }
  return n;
}

async function open(b, credit = 100, connections = 1) {
  const core = b.core;
  const listener = new b.amqp10.Amqp10Listener(
    { gatewayId: 'bench', logger: core.silentLogger, metrics: core.noopMetrics, baseDir: '.' },
    'apps',
    b.options.amqp10ListenerOptions.parse({ port: 0, host: '127.0.0.1', allowAnonymous: true, anonymous: true, credit }),
  );
  await listener.start();
  // the engine holds each delivery (message and settlement) until it settles it
  let held = [];
  await listener.openSources([{ route: 'r', from: { address: 'telemetry' } }], (d) => held.push(d));
  const wires = [];
  for (let i = 0; i < connections; i++) {
    const wire = new Wire();
    listener.accept({ stream: wire, info: { transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1, remote: '127.0.0.1:1', authorized: false }, handshakeDone: () => undefined });
    const f = b.frames;
    wire.emit('data', Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]));
    wire.emit('data', amqpFrame(b, f.open({ container_id: 'bench-client', max_frame_size: 65536 })));
    wire.emit('data', amqpFrame(b, f.begin({ next_outgoing_id: 0, incoming_window: 2048, outgoing_window: 4294967295 })));
    wire.emit(
      'data',
      amqpFrame(b, f.attach({ name: 'sender', handle: 0, role: false, snd_settle_mode: 0, rcv_settle_mode: 0, source: b.terminus.source({}).described(), target: b.terminus.target({ address: 'telemetry' }).described(), initial_delivery_count: 0 })),
    );
    wires.push(wire);
  }
  await turn();
  await turn();
  for (const wire of wires) wire.take();
  return {
    wire: wires[0],
    wires,
    listener,
    settleAll() {
      const h = held;
      held = [];
      for (const d of h) d.settlement.accept();
    },
    get held() {
      return held.length;
    },
  };
}

/** ITER transfers as rhea's sender writes them for the bench, in chunks of BATCH frames */
function transfers(b) {
  return transfersOf(b, ITER);
}

function transfersOf(b, count) {
  const body = b.message.encode({ body: b.message.data_section(Buffer.alloc(256, 0x61)) });
  const chunks = [];
  for (let i = 0; i < count; i += BATCH) {
    const frames = [];
    for (let j = i; j < i + BATCH; j++) {
      frames.push(amqpFrame(b, b.frames.transfer({ handle: 0, delivery_id: j, delivery_tag: Buffer.from(String(j)), message_format: 0, settled: false, more: false }), body));
    }
    chunks.push(Buffer.concat(frames));
  }
  return chunks;
}

async function round(b, chunks) {
  const c = await open(b);
  const us = await feedTimed(c.wire, chunks, () => c.settleAll(), ITER);
  await turn();
  const out = c.wire.take();
  await c.listener.stop();
  return { us, accepted: acceptedIds(out) };
}

/** V8's full collection, with node --expose-gc */
const collect = globalThis.gc;

/** bytes of heap one unsettled transfer keeps: K held, then accepted and collected */
async function retained(b, chunks) {
  const c = await open(b, PER_LINK, RETAINED / PER_LINK);
  for (const chunk of chunks) {
    for (const wire of c.wires) wire.emit('data', chunk);
    await turn();
  }
  if (c.held !== RETAINED) throw new Error(`${b.name} holds ${c.held} of ${RETAINED} transfers`);
  for (const wire of c.wires) wire.take();
  collect();
  collect();
  const holding = process.memoryUsage().heapUsed;
  c.settleAll();
  await turn();
  await turn();
  let accepted = 0;
  for (const wire of c.wires) accepted += acceptedIds(wire.take());
  if (accepted !== RETAINED) throw new Error(`${b.name} accepted ${accepted} of ${RETAINED} transfers`);
  collect();
  collect();
  const settled = process.memoryUsage().heapUsed;
  await c.listener.stop();
  return (holding - settled) / RETAINED;
}

if (RETAINED > 0) {
  if (typeof collect !== 'function') throw new Error('RETAINED needs node --expose-gc');
  const chunks = new Map(builds.map((b) => [b.name, transfersOf(b, PER_LINK)]));
  const bytes = new Map(builds.map((b) => [b.name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const b of builds) bytes.get(b.name).push(await retained(b, chunks.get(b.name)));
  console.log(`amqp10-listener path: bytes of heap per unsettled transfer, ${RETAINED} held (${PER_LINK} a link), ${ROUNDS} rounds`);
  for (const b of builds) {
    const a = bytes.get(b.name);
    console.log(`${b.name}: ${median(a).toFixed(0)} bytes per transfer (median; ${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)})`);
  }
  process.exit(0);
}

const chunksOf = new Map(builds.map((b) => [b.name, transfers(b)]));
const per = new Map(builds.map((b) => [b.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const b of builds) {
    const { us, accepted } = await round(b, chunksOf.get(b.name));
    if (r > 0 || ROUNDS === 1) per.get(b.name).push(us);
    if (accepted !== ITER) throw new Error(`round ${r}: ${b.name} accepted ${accepted} of ${ITER} transfers`);
  }
}
console.log(`amqp10-listener path: ${ITER} transfers a round in chunks of ${BATCH}, ${Math.max(1, ROUNDS - 1)} measured rounds (the first is warm-up), load ${loadavg()[0].toFixed(2)}`);
for (const b of builds) {
  const a = per.get(b.name);
  console.log(`${b.name}: ${median(a).toFixed(2)} µs CPU per transfer (median; ${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)})`);
}
if (builds.length === 2) console.log(`this ÷ before: ${(median(per.get('this')) / median(per.get('before'))).toFixed(2)}`);
