// The amqp091 sink's own work per publish on path A, without RabbitMQ: a Publisher
// (packages/amqp091/src/publisher.ts) on amqplib's own ConfirmChannel, whose connection is a stub
// that takes the frames, gets ITER writes of a 256-byte message with the hop header (as the engine
// gives on A) to amq.topic, mandatory and persistent (the defaults), through the sink's callback
// form (Sink.send) as the engine calls it. Each window of WINDOW publishes is confirmed by one
// basic.ack per publish, in order (MULTIPLE=1: one basic.ack with `multiple` for the window), given
// to the channel as amqplib's reader does (`accept`), so amqplib's confirm handling runs as it
// does in Ferry. Prints CPU ns per write. Run after `npx tsc -b`, one build at a time
// (BUILD=<a built checkout>, default this one):
//   BUILD=/path/to/before ITER=200000 node bench/experiments/amqp091-publisher.mjs
// Instructions (repeatable under load): the difference between ITER=200000 and ITER=0 under
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/amqp091-publisher.mjs
// divided by ITER (start-up and compilation cancel out). MUX=1: the channel's stream is amqplib's
// own (a PassThrough in object mode) read by amqplib's connection muxer (lib/mux.js) into the stub,
// as on a real connection, instead of the stub itself; SOCKET=1 as well: the muxer writes to a
// TurnWriter over a Writable with `writev`, as batchWrites makes it write to the socket.
// RETAINED=1 (with `node --expose-gc`): what one unconfirmed write retains instead, in bytes of V8
// heap: K writes (default 1,000), each with a done of its own that holds its message (as the
// engine's write holds the message it writes), unconfirmed; gc() twice, heapUsed then minus
// heapUsed once one basic.ack `multiple` confirmed them and they were collected, divided by K;
// ROUNDS rounds (default 5). OWN=1: one done for every write, and the message not held by it:
// only what the publisher and amqplib keep per write.
import { createRequire } from 'node:module';
import { PassThrough } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { loadavg } from 'node:os';

const ITER = Number(process.env.ITER ?? 200_000);
const WINDOW = Number(process.env.WINDOW ?? 500);
const MULTIPLE = process.env.MULTIPLE === '1';
const dir = resolve(process.env.BUILD ?? resolve(import.meta.dirname, '../..'));
const load = (p) => import(pathToFileURL(`${dir}/${p}`).href);
const { Publisher } = await load('packages/amqp091/dist/publisher.js');
const { amqp091To } = await load('packages/amqp091/dist/options.js');
const core = await load('node_modules/@ferry/core/dist/index.js');
const { PromMetrics } = await load('packages/gateway/dist/metrics.js');
const require = createRequire(`${dir}/packages/amqp091/package.json`);
// amqplib exports only its entry point: its channel classes are read from beside it
const amqplib = require.resolve('amqplib').replace(/channel_api\.js$/, 'lib/');
const { ConfirmChannel } = require(`${amqplib}channel_model.js`);
const defs = require(`${amqplib}defs.js`);

let written = 0;
const stream = {
  write(b) {
    written += b.length;
    return true;
  },
};
// what amqplib's Channel reads of its connection when it publishes (lib/connection.js)
let muxer;
let buffer = stream;
// SOCKET=1 (with MUX=1): the muxer's output goes through a TurnWriter (batched-writes.ts) to a
// Writable with `writev`, as a socket's does: the writes of a turn are corked and leave together
const SOCKET = process.env.SOCKET === '1';
if (process.env.MUX === '1') {
  const { Mux } = require(`${amqplib}mux.js`);
  let out = { write: stream.write, on() {} };
  if (SOCKET) {
    const { Writable } = await import('node:stream');
    const { TurnWriter } = await load('node_modules/@ferry/net/dist/index.js');
    // a high-water mark above a window's bytes: the harness acks every publish of a window, so
    // none may wait for the socket's 'drain'
    const socket = new Writable({
      highWaterMark: 1 << 20,
      writev(chunks, cb) {
        for (const c of chunks) written += c.chunk.length;
        cb();
      },
    });
    const writer = new TurnWriter(socket);
    out = { write: (chunk) => writer.write(chunk), on: (event, f) => socket.on(event, f) };
  }
  muxer = new Mux(out);
  // lib/connection.js freshChannel: DEFAULT_WRITE_HWM
  buffer = new PassThrough({ objectMode: true, highWaterMark: 1024 });
  muxer.pipeFrom(buffer);
}
const connection = {
  sentSinceLastCheck: false,
  muxer,
  channels: [undefined, { buffer }],
  on() {},
  sendMessage(_ch, _m, _f, _p, _props, content) {
    written += content.length;
    return true;
  },
};
const ch = new ConfirmChannel(connection);
ch.ch = 1;
const counters = new core.ConnectorCounters(new PromMetrics('bench'), 'rabbit');
const publisher = new Publisher(ch, {
  connector: 'rabbit',
  idPrefix: 'p1a2b.1',
  username: 'guest',
  replyToTopicHeader: false,
  logger: core.silentLogger,
  counters,
  checkExchange: () => Promise.resolve(),
  onLost: (reason) => {
    throw new Error(reason);
  },
});
const to = amqp091To.parse({ exchange: 'amq.topic', routingKey: 'devices.d1.telemetry' });
const body = Buffer.alloc(256, 1);
const source = { connector: 'devices', protocol: 'mqtt', address: 'devices/d1/telemetry' };
let confirmed = 0;
const onDone = (error) => {
  if (error !== undefined) throw error;
  confirmed++;
};
// the exchange check of the first write
const first = new Promise((res) => publisher.send(core.createMessage({ body, source }), to, res));
await new Promise((r) => setImmediate(r));
ch.accept({ id: defs.BasicAck, fields: { deliveryTag: 1, multiple: false } });
const firstError = await first;
if (firstError !== undefined) throw firstError;
let tag = 1;
if (process.env.RETAINED === '1') {
  const K = Number(process.env.K ?? 1000);
  const OWN = process.env.OWN === '1';
  const { retainedBytes } = await import('./retained.mjs');
  const figures = await retainedBytes(
    K,
    Number(process.env.ROUNDS ?? 5),
    async () => {
      for (let i = 0; i < K; i++) {
        const m = core.createMessage({ body: Buffer.from(body), headers: new Map([['x-ferry-hops', 1]]), guarantee: 'at-least-once', source });
        const done = OWN
          ? onDone
          : (error) => {
              if (m.body.length !== body.length) throw new Error('body');
              onDone(error);
            };
        publisher.send(m, to, done);
        tag++;
      }
      await new Promise((res) => setImmediate(res));
    },
    async () => {
      ch.accept({ id: defs.BasicAck, fields: { deliveryTag: tag, multiple: true } });
      await new Promise((res) => setImmediate(res));
    },
  );
  if (confirmed !== tag - 1) throw new Error(`${confirmed} of ${tag - 1} writes confirmed`);
  console.log(`amqp091 publisher, ${dir}: K=${K}${OWN ? ' (OWN)' : ''}, bytes retained per unconfirmed write ${figures}`);
  process.exit(0);
}
const started = process.cpuUsage();
for (let sent = 0; sent < ITER; ) {
  const end = Math.min(ITER, sent + WINDOW);
  const first = tag + 1;
  for (; sent < end; sent++) {
    publisher.send(core.createMessage({ body, headers: new Map([['x-ferry-hops', 1]]), guarantee: 'at-least-once', source }), to, onDone);
    tag++;
  }
  if (MULTIPLE) ch.accept({ id: defs.BasicAck, fields: { deliveryTag: tag, multiple: true } });
  else for (let t = first; t <= tag; t++) ch.accept({ id: defs.BasicAck, fields: { deliveryTag: t, multiple: false } });
  // let the engine's microtasks of a real process run between windows
  await new Promise((r) => setImmediate(r));
}
const cpu = process.cpuUsage(started);
if (confirmed !== ITER) throw new Error(`${confirmed} of ${ITER} writes confirmed`);
console.log(
  `amqp091 publisher, ${dir}: ${ITER} writes, acks ${MULTIPLE ? 'multiple' : 'one each'}, ${ITER === 0 ? '-' : (((cpu.user + cpu.system) * 1000) / ITER).toFixed(0)} CPU ns per write, ${written} bytes, load ${loadavg()[0].toFixed(2)}`,
);
