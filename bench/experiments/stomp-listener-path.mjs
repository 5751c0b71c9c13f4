// The stomp-listener's own work per message on path D, without the route, the sink and the network.
// CASE=send (the default): a StompSession (packages/stomp/src/server/session.ts) on an in-memory
// stream reads SEND frames as @stomp/stompjs writes them (destination, receipt, content-type,
// content-length, a 256-byte body), maps each to the GatewayMessage (mapping.ts sendToMessage) as
// the listener connector does, and writes one RECEIPT per SEND once the batch settled (as one
// `basic.ack multiple` from RabbitMQ settles it).
// CASE=send-listener: the same SENDs through the stomp-listener connector itself (its session
// hooks: the count, sendToMessage, the settlement it hands the engine and the RECEIPT on its
// accept), its server's session attached to the in-memory stream; the engine is a function that
// keeps each delivery's settlement and accepts them once the batch is read.
// CASE=auto, client or client-individual: the delivery side. A session subscribed to
// DESTINATION (/queue/bench) with that ack mode; the sink's work per message (mapping.ts
// messageToBroker of a GatewayMessage as amqp091's consumer makes it, a 256-byte body, then
// StompBroker.publish) writes one MESSAGE frame each; after each turn the client answers what it
// got: nothing (auto), one ACK of the turn's last MESSAGE (client, cumulative) or one ACK per
// MESSAGE (client-individual), in one chunk, as @stomp/stompjs writes them.
// RETAINED=<K> (with CASE=send-listener, under `node --expose-gc`): what one SEND in flight
// retains, the heap with K SENDs read and their deliveries (message and settlement) held by the
// engine, minus the heap once they were accepted and collected, divided by K; ROUNDS rounds a
// build, the median.
// BATCH frames (or deliveries) a turn, ITER messages a round, ROUNDS rounds; with
// FERRY_BEFORE=<another built checkout> the two builds take turns round by round in this one
// process (the same machine load for both) and must write the same bytes (message ids aside).
// Run after `npx tsc -b`:
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
const CASE = process.env.CASE ?? 'send';
const DESTINATION = process.env.DESTINATION ?? '/queue/bench';
if (!['send', 'send-listener', 'auto', 'client', 'client-individual'].includes(CASE)) throw new Error(`CASE=${CASE}: send, send-listener, auto, client or client-individual`);
const SENDS = CASE === 'send' || CASE === 'send-listener';

const builds = comparedBuilds();
for (const b of builds) {
  const dist = `${b.dir}/packages/stomp/dist/server`;
  b.session = await import(pathToFileURL(`${dist}/session.js`).href);
  b.broker = await import(pathToFileURL(`${dist}/broker.js`).href);
  b.mapping = await import(pathToFileURL(`${dist}/mapping.js`).href);
  b.core = await import(pathToFileURL(`${b.dir}/node_modules/@ferry/core/dist/index.js`).href);
  b.server = await import(pathToFileURL(`${dist}/server.js`).href);
  b.stomp = await import(pathToFileURL(`${b.dir}/packages/stomp/dist/index.js`).href);
}

const body = Buffer.alloc(256, 0x61);
const sendFrame = (seq) =>
  Buffer.concat([Buffer.from(`SEND\ndestination:/topic/bench\nreceipt:r${seq}\ncontent-type:application/octet-stream\ncontent-length:${body.length}\n\n`), body, Buffer.from([0])]);

const turn = () => new Promise((r) => setImmediate(r));

async function open(b, subscribe) {
  const broker = new b.broker.StompBroker({ queueBufferMessages: 1000 });
  let held = [];
  const hooks = {
    authenticate: () => true,
    acceptingSends: () => true,
    // a build whose sessions hand the owner a SEND to settle (accepted / refused), or, before
    // that, one that waits for a promise
    onSend: (send) => {
      b.mapping.sendToMessage(send, 'bench');
      if (typeof send.accepted !== 'function') return new Promise((res) => held.push(res));
      held.push(send);
      return true;
    },
  };
  const opts = { ...b.session.DEFAULT_SESSION_OPTIONS, heartBeat: { sendMs: 0, receiveMs: 0 }, serverName: 'Ferry/bench' };
  const wire = new Wire();
  const s = new b.session.StompSession(wire, broker, hooks, opts, b.core.silentLogger);
  s.open();
  wire.emit('data', Buffer.from('CONNECT\naccept-version:1.2\nhost:bench\n\n\0'));
  await turn();
  if (subscribe !== undefined) {
    wire.emit('data', Buffer.from(`SUBSCRIBE\nid:sub-0\ndestination:${DESTINATION}\nack:${subscribe}\n\n\0`));
    await turn();
  }
  wire.written = [];
  return {
    wire,
    broker,
    settleAll() {
      const h = held;
      held = [];
      for (const r of h) if (typeof r === 'function') r();
      else r.accepted();
    },
  };
}

/** a session of a started stomp-listener connector on a Wire (its server does not listen: the port is never bound) */
async function openListener(b) {
  let server;
  const listen = b.server.StompServer.prototype.listen;
  b.server.StompServer.prototype.listen = function () {
    server = this;
    return Promise.resolve();
  };
  const ctx = { gatewayId: 'bench', logger: b.core.silentLogger, metrics: b.core.noopMetrics, baseDir: process.cwd() };
  const def = b.stomp.stompListenerDefinition;
  const connector = def.create(ctx, 'bench', def.options.parse({ port: 1, host: '127.0.0.1', anonymous: true, heartBeat: { sendMs: 0, receiveMs: 0 } }));
  try {
    await connector.start();
  } finally {
    b.server.StompServer.prototype.listen = listen;
  }
  let held = [];
  // the engine holds each delivery, its message as well as its settlement, until it is settled
  await connector.openSources([], (delivery) => held.push(delivery));
  const wire = new Wire();
  server.attach(wire);
  wire.emit('data', Buffer.from('CONNECT\naccept-version:1.2\nhost:bench\n\n\0'));
  await turn();
  await turn();
  if (!Buffer.concat(wire.written).toString().startsWith('CONNECTED')) throw new Error(`${b.name}: no CONNECTED from the listener`);
  wire.written = [];
  return {
    wire,
    settleAll() {
      const h = held;
      held = [];
      for (const d of h) d.settlement.accept();
    },
    stop() {
      // the session closes with its stream, so the connector's stop does not wait out its linger
      wire.destroy();
      return connector.stop();
    },
  };
}

async function round(b, seqBase) {
  const c = CASE === 'send' ? await open(b) : await openListener(b);
  const chunks = [];
  for (let i = 0; i < ITER; i += BATCH) {
    const frames = [];
    for (let j = 0; j < BATCH; j++) frames.push(sendFrame(seqBase + i + j));
    chunks.push(Buffer.concat(frames));
  }
  const us = await feedTimed(c.wire, chunks, () => c.settleAll(), ITER);
  const out = Buffer.concat(c.wire.written);
  await c.stop?.();
  return { us, out };
}

// a message as amqp091's consumer maps a delivery of path D's publisher (docs/mapping/amqp091.md)
const delivered = (core) =>
  core.createMessage({
    body,
    contentType: 'application/octet-stream',
    messageId: 'm-1',
    timestamp: 1764633600000,
    headers: new Map([['x-ferry-hops', 1]]),
    source: { connector: 'rabbit', protocol: 'amqp091', address: 'bench' },
  });

const ACK_ID = /\nack:([^\n]*)\n/g;

/** the delivery side: BATCH deliveries a turn through the sink's mapping and the broker, the client's ACKs after each turn */
async function deliveryRound(b) {
  const c = await open(b, CASE);
  const msg = delivered(b.core);
  const all = [];
  const t0 = process.cpuUsage();
  for (let i = 0; i < ITER; i += BATCH) {
    for (let j = 0; j < BATCH; j++) c.broker.publish(b.mapping.messageToBroker(msg, DESTINATION));
    await turn();
    if (CASE === 'auto') continue;
    const out = c.wire.take();
    all.push(out);
    const ids = [...out.toString('latin1').matchAll(ACK_ID)].map((m) => m[1]);
    const acked = CASE === 'client' ? ids.slice(-1) : ids;
    c.wire.emit('data', Buffer.from(acked.map((id) => `ACK\nid:${id}\n\n\0`).join('')));
  }
  await turn();
  const t = process.cpuUsage(t0);
  all.push(c.wire.take());
  if (c.broker.heldBytes !== 0) throw new Error(`${b.name}: ${c.broker.heldBytes} bytes still unacknowledged`);
  // the broker's message ids start with a random prefix of each broker
  const out = Buffer.from(Buffer.concat(all).toString('latin1').replace(/(message-id|ack):[^-\n]*-/g, '$1:'), 'latin1');
  return { us: (t.user + t.system) / ITER, out };
}

const RETAINED = Number(process.env.RETAINED ?? 0);

/** heap bytes used after two full collections */
function heapAfterGc() {
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** bytes one SEND in flight retains: RETAINED SENDs read and held, then accepted and collected */
async function retainedRound(b, seqBase) {
  const c = await openListener(b);
  const chunks = [];
  for (let i = 0; i < RETAINED; i += BATCH) {
    const frames = [];
    for (let j = 0; j < BATCH; j++) frames.push(sendFrame(seqBase + i + j));
    chunks.push(Buffer.concat(frames));
  }
  const before = heapAfterGc();
  for (const chunk of chunks) {
    c.wire.emit('data', chunk);
    await turn();
  }
  chunks.length = 0;
  const held = heapAfterGc();
  c.settleAll();
  await turn();
  await turn();
  const receipts = c.wire.take().toString().split('RECEIPT\n').length - 1;
  if (receipts !== RETAINED) throw new Error(`${b.name}: ${receipts} RECEIPTs for ${RETAINED} SENDs`);
  const after = heapAfterGc();
  await c.stop();
  return { held: (held - after) / RETAINED, grown: (after - before) / RETAINED };
}

if (RETAINED > 0) {
  if (CASE !== 'send-listener' || typeof globalThis.gc !== 'function') throw new Error('RETAINED needs CASE=send-listener and node --expose-gc');
  const got = new Map(builds.map((b) => [b.name, []]));
  // the first round a build is warm-up (its code compiled, its caches filled)
  for (let r = 0; r <= ROUNDS; r++) for (const b of builds) {
    const x = await retainedRound(b, r * RETAINED);
    if (r > 0) got.get(b.name).push(x);
  }
  console.log(`stomp-listener: bytes retained per SEND in flight, ${RETAINED} held, ${ROUNDS} rounds a build`);
  for (const b of builds) {
    const a = got.get(b.name);
    console.log(`${b.name}: ${median(a.map((x) => x.held)).toFixed(0)} bytes (rounds ${a.map((x) => x.held.toFixed(0)).join(', ')}; heap left after settling ${median(a.map((x) => x.grown)).toFixed(0)} per SEND)`);
  }
  process.exit(0);
}

const per = new Map(builds.map((b) => [b.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  let first;
  for (const b of builds) {
    const { us, out } = SENDS ? await round(b, r * ITER) : await deliveryRound(b);
    if (r > 0) per.get(b.name).push(us);
    const answer = SENDS ? 'RECEIPT\n' : 'MESSAGE\n';
    if (out.toString().split(answer).length - 1 !== ITER) throw new Error(`round ${r}: ${b.name} wrote no ${answer.trim()} for every message`);
    if (first === undefined) first = out;
    else if (out.length === 0 || !first.equals(out)) throw new Error(`round ${r}: ${b.name} wrote other bytes than ${builds[0].name}`);
  }
}
const what = SENDS ? 'SENDs' : `MESSAGEs (ack ${CASE}, ${DESTINATION})`;
console.log(`stomp-listener path: ${ITER} ${what} a round, ${BATCH} a turn, ${ROUNDS - 1} measured rounds (the first is warm-up), load ${loadavg()[0].toFixed(2)}`);
for (const b of builds) {
  const a = per.get(b.name);
  console.log(`${b.name}: ${median(a).toFixed(2)} µs CPU per message (median; ${Math.min(...a).toFixed(2)}–${Math.max(...a).toFixed(2)})`);
}
if (builds.length === 2) console.log(`this ÷ before: ${(median(per.get('this')) / median(per.get('before'))).toFixed(2)}`);
