// The consumer's batch of acks alone (packages/amqp091/src/ack-batch.ts), without amqplib or the
// engine: ITER deliveries in windows of WINDOW, each window's deliveries accepted in an order that
// holds every 10th one back to the next window (as a retry would), then flushed. Prints CPU ns per
// delivery. Run after `npx tsc -b`, one build at a time (BUILD=<a built checkout>, default this one):
//   BUILD=/path/to/before ITER=2000000 node bench/experiments/amqp091-ack-batch.mjs
// Instructions: the difference between ITER=2000000 and ITER=0 under
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node --single-threaded bench/experiments/amqp091-ack-batch.mjs
// divided by ITER (start-up and compilation cancel out).
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const ITER = Number(process.env.ITER ?? 2_000_000);
const WINDOW = Number(process.env.WINDOW ?? 100);
const dir = resolve(process.env.BUILD ?? resolve(import.meta.dirname, '../..'));
const { AckBatch } = await import(pathToFileURL(`${dir}/packages/amqp091/dist/ack-batch.js`).href);

const batch = new AckBatch();
let acked = 0;
let frames = 0;
const ack = () => {
  frames++;
};
let held = [];
const started = process.cpuUsage();
for (let tag = 1; tag <= ITER; ) {
  const end = Math.min(ITER, tag + WINDOW - 1);
  const window = [];
  for (; tag <= end; tag++) {
    const m = { fields: { deliveryTag: tag } };
    batch.delivered(m);
    window.push(m);
  }
  for (const m of held) batch.accept(m);
  held = [];
  for (const m of window) {
    if (m.fields.deliveryTag % 10 === 0) held.push(m);
    else batch.accept(m);
  }
  acked += batch.flush(ack);
}
for (const m of held) batch.accept(m);
acked += batch.flush(ack);
const cpu = process.cpuUsage(started);
if (acked !== ITER) throw new Error(`${acked} of ${ITER} deliveries acked`);
console.log(`ack batch, ${dir}: ${ITER} deliveries, ${frames} acks, ${ITER === 0 ? '-' : (((cpu.user + cpu.system) * 1000) / ITER).toFixed(0)} CPU ns per delivery`);
