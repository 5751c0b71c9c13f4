/**
 * What RabbitMQ spends per publish, by what the publisher asks of it: the mandatory flag, a header
 * table on every publish, persistent delivery mode, and confirm mode. amqplib alone (no Ferry), the
 * shape of Ferry's `amqp091` sink: a window of 1,000 unconfirmed publishes of 256 bytes to
 * `amq.topic`, the publisher's writes batched per turn as Ferry does (packages/amqp091
 * batchWrites), and the bench's consumer (exclusive queue, prefetch 1,000, one basic.ack per
 * message). RabbitMQ's CPU (beam.smp, /proc) is read over first publish → last delivery and
 * divided by N; the variants run interleaved, ROUNDS times, and each cell is the median.
 *
 *   export BROKERS_HOME=/work/main/.brokers; . integration/brokers/ports.env
 *   npx tsc -b && N=20000 ROUNDS=3 node bench/experiments/rabbit-publish-cost.mjs
 *
 * It uses the shared test broker's default vhost, with its own queue and a routing key no one
 * else binds; nothing is left behind.
 */
import amqp from 'amqplib';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { batchWrites } from '../../packages/amqp091/dist/batched-writes.js';
import { cpuSeconds } from '../lib/procstat.mjs';

const N = Number(process.env.N ?? 20000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const WINDOW = Number(process.env.WINDOW ?? 1000);
const PAYLOAD = Number(process.env.PAYLOAD ?? 256);
const url = `amqp://guest:guest@127.0.0.1:${process.env.RMQ_AMQP_PORT ?? 27672}`;
const home = process.env.BROKERS_HOME ?? join(import.meta.dirname, '../../.brokers');
const beam = Number(readFileSync(join(home, 'rabbit/rabbit.pid'), 'utf8').trim());

/** name → how the publisher publishes */
const variants = {
  // what Ferry's sink sends today for an MQTT QoS 1 message with no user properties
  'confirm+mandatory+header+persistent': { confirm: true, mandatory: true, header: true, persistent: true },
  'confirm+mandatory+persistent': { confirm: true, mandatory: true, header: false, persistent: true },
  'confirm+persistent': { confirm: true, mandatory: false, header: false, persistent: true },
  'confirm+mandatory': { confirm: true, mandatory: true, header: false, persistent: false },
  confirm: { confirm: true, mandatory: false, header: false, persistent: false },
  'no confirm': { confirm: false, mandatory: false, header: false, persistent: false },
};
const only = process.env.ONLY === undefined ? undefined : new RegExp(process.env.ONLY);
const selected = Object.entries(variants).filter(([name]) => only === undefined || only.test(name));

async function run(name, v) {
  const key = `perfa-exp.${randomBytes(4).toString('hex')}.t`;
  const cconn = await amqp.connect(url, { noDelay: true });
  const cch = await cconn.createChannel();
  await cch.prefetch(1000);
  const { queue } = await cch.assertQueue('', { exclusive: true, durable: false, autoDelete: true });
  await cch.bindQueue(queue, 'amq.topic', key);
  const pconn = await amqp.connect(url, { noDelay: true });
  if (!batchWrites(pconn)) throw new Error('batchWrites did not apply');
  const pch = v.confirm ? await pconn.createConfirmChannel() : await pconn.createChannel();
  let returned = 0;
  pch.on('return', () => returned++);
  const payload = Buffer.alloc(PAYLOAD, 7);

  let received = 0;
  let resolveAll;
  const all = new Promise((r) => (resolveAll = r));
  await cch.consume(queue, (msg) => {
    if (msg === null) return;
    cch.ack(msg);
    if (++received === N) resolveAll();
  });

  const load = loadavg()[0];
  const t0 = performance.now();
  const c0 = cpuSeconds(beam);
  let sent = 0;
  let inFlight = 0;
  let seq = 0;
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (sent < N && inFlight < WINDOW) {
        sent++;
        const options = { persistent: v.persistent, mandatory: v.mandatory };
        if (v.header) options.headers = { 'x-ferry-publish-id': `p1a2b3c4.${++seq}` };
        if (v.confirm) {
          inFlight++;
          pch.publish('amq.topic', key, payload, options, (err) => {
            if (err) return reject(err);
            inFlight--;
            if (sent === N && inFlight === 0) resolve();
            else pump();
          });
        } else if (!pch.publish('amq.topic', key, payload, options)) {
          pch.once('drain', pump);
          return;
        }
      }
      if (!v.confirm && sent === N) resolve();
    };
    pump();
  });
  await all;
  const c1 = cpuSeconds(beam);
  const seconds = (performance.now() - t0) / 1000;
  await pconn.close();
  await cconn.close();
  if (returned !== 0) throw new Error(`${returned} returned`);
  return { name, rate: N / seconds, rabbitUs: ((c1 - c0) * 1e6) / N, load };
}

const results = Object.fromEntries(selected.map(([name]) => [name, []]));
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, v] of selected) {
    const r = await run(name, v);
    results[name].push(r);
    console.log(`round ${round} ${name.padEnd(38)} ${r.rate.toFixed(0).padStart(6)} msg/s  RabbitMQ ${r.rabbitUs.toFixed(1).padStart(6)} µs/msg  load ${r.load.toFixed(2)}`);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`\nN=${N}, ${ROUNDS} rounds, window ${WINDOW}, ${PAYLOAD} B; medians (min–max)`);
console.log('| publisher | RabbitMQ µs/msg | msg/s | load |');
console.log('|---|---|---|---|');
for (const [name, rs] of Object.entries(results)) {
  const us = rs.map((r) => r.rabbitUs);
  const rates = rs.map((r) => r.rate);
  const loads = rs.map((r) => r.load);
  console.log(
    `| ${name} | ${median(us).toFixed(1)} (${Math.min(...us).toFixed(1)}–${Math.max(...us).toFixed(1)}) | ${median(rates).toFixed(0)} | ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)} |`,
  );
}
