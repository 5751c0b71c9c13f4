#!/usr/bin/env node
/**
 * Ferry's benchmark suite: `npm run bench` (builds, then runs this file).
 *
 * Ferry runs as its own process from the built CLI (packages/gateway/dist/cli.js), one fresh
 * process per run; publishers and consumers are public client libraries in THIS process, so
 * end-to-end times use one clock. Method, numbers and reading: docs/benchmarks.md.
 *
 *   N=50000 ROUNDS=3 node bench/run.mjs            # every case, round-robin
 *   ONLY='^A\.' ROUNDS=5 node bench/run.mjs          # a subset (regex over case names)
 *   ONLY='^F\.' RATE=2000 node bench/run.mjs         # latency at another rate
 *   FERRY_PROF=1 ONLY='^A\.ferry' ROUNDS=1 node bench/run.mjs   # + a CPU profile of Ferry
 *   node bench/profile.mjs bench/results/<ts>/prof/<case>-r1.cpuprofile
 *   FERRY_IMPORT=bench/experiments/autocork.mjs ONLY='^A\.ferry' node bench/run.mjs   # an experiment
 *   FERRY_NODE_ARGS='--max-semi-space-size=32' ONLY='^A\.ferry' node bench/run.mjs     # a runtime flag
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { brokerPorts, createVhost, deleteVhost, freePort, rabbitUrl } from '@ferry/testkit';
import { cases } from './lib/cases.mjs';
import { Counter, payloadFactory } from './lib/counter.mjs';
import { FerryChild, ROOT, requireBuiltCli } from './lib/ferry.mjs';
import { options } from './lib/options.mjs';
import { cores, cpuWindow, load, peakRssMiB, round1 } from './lib/procstat.mjs';
import { markdown } from './lib/report.mjs';
import { paced, windowed } from './lib/clients.mjs';

const brokers = brokerPorts();

/** Whether something accepts TCP connections on 127.0.0.1:port (2 s at most). */
function portOpen(port) {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.setTimeout(2000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

/** Fail early, with the command that fixes it, when the test brokers are not there. */
async function requireBrokers() {
  const need = [
    ['RabbitMQ AMQP 0-9-1', brokers.rabbitAmqp],
    ['RabbitMQ MQTT', brokers.rabbitMqtt],
    ['RabbitMQ STOMP', brokers.rabbitStomp],
    ['RabbitMQ management', brokers.rabbitManagement],
  ];
  const down = [];
  for (const [what, port] of need) {
    if (!(await portOpen(port))) down.push(`${what} on 127.0.0.1:${port}`);
  }
  if (down.length) {
    console.error(`The test brokers are not running (${down.join(', ')} not reachable).\nStart them with:\n\n  bash integration/brokers/all-start.sh\n`);
    process.exit(2);
  }
}

/** The beam.smp of the test RabbitMQ (integration/brokers keeps its pid file), for its CPU. */
function rabbitPid() {
  const home = process.env.BROKERS_HOME ?? join(ROOT, '.brokers');
  try {
    const pid = Number(readFileSync(join(home, 'rabbit/rabbit.pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const resultsDir = join(ROOT, 'bench/results');
const runDir = join(resultsDir, stamp);
const resultsFile = join(resultsDir, `${stamp}.jsonl`);
const write = (rec) => appendFileSync(resultsFile, JSON.stringify(rec) + '\n');

function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}

async function runOne(c, round) {
  const latency = c.latency === true;
  const warm = latency ? Math.round(options.rate * options.warmupSeconds) : 0;
  const total = latency ? warm + options.rate * options.latencySeconds : options.n;
  const id = `bench-${c.name.split('.')[0].toLowerCase()}-${round}-${Date.now().toString(36)}`;
  const vhost = await createVhost('bench');
  const ctx = {
    id,
    vhost,
    amqpUrl: rabbitUrl(vhost),
    brokers,
    ports: { mqtt: await freePort(), stomp: await freePort(), stompWs: await freePort(), amqp10: await freePort(), admin: await freePort() },
    payload: payloadFactory(options.payloadBytes),
    counter: new Counter(total, warm),
  };
  const name = `${c.name}-r${round}`;
  const rec = { type: 'run', case: c.name, round, path: c.path, latency, n: total, window: options.window, payloadBytes: options.payloadBytes, load: load() };
  if (latency) Object.assign(rec, { rate: options.rate, warmup: warm });
  if (options.prof && c.ferry) rec.profiled = true;
  if (options.preload && c.ferry) rec.ferryImport = options.preload;
  if (options.ferryNodeArgs.length > 0 && c.ferry) rec.ferryNodeArgs = options.ferryNodeArgs;
  let ferry;
  let setup;
  try {
    if (c.ferry) {
      ferry = new FerryChild({ yaml: c.ferry(ctx), dir: runDir, name, adminPort: ctx.ports.admin, profDir: options.prof ? join(runDir, 'prof') : undefined, preload: options.preload, nodeArgs: options.ferryNodeArgs });
      await ferry.start();
    }
    setup = await c.clients(ctx);
    const counter = ctx.counter;
    const window = cpuWindow({ ferry: ferry?.pid, rabbit: rabbitPid() });
    const publishing = latency ? paced(total, options.rate, options.window, setup.send) : windowed(total, options.window, setup.send);
    const guarded = setup.failed ? Promise.race([publishing, setup.failed]) : publishing;
    const budget = latency ? (options.latencySeconds + options.warmupSeconds) * 1000 + 60_000 : Math.max(120_000, total);
    const tPub = await withTimeout(guarded, budget, `the publisher's last confirmation (${counter.sent} sent)`);
    const complete = await counter.whenComplete(options.drainSeconds * 1000);
    const cpu = window.end();
    // room for late duplicates before counting
    await new Promise((r) => setTimeout(r, 300));
    const t0 = counter.firstSentAt;
    Object.assign(rec, {
      counts: counter.counts(),
      complete,
      e2eMs: complete ? round1(counter.lastUniqueAt - t0) : null,
      pubMs: round1(tPub - t0),
      e2eMsgsPerSec: complete ? Math.round((total / (counter.lastUniqueAt - t0)) * 1000) : null,
      pubMsgsPerSec: Math.round((total / (tPub - t0)) * 1000),
      cpu,
      ferryPeakRssMiB: ferry ? round1(peakRssMiB(ferry.pid) ?? NaN) : null,
      loadAfter: load(),
    });
    if (latency) rec.latencyMs = counter.latencyStats();
    if (ferry) {
      rec.ferryCounters = await ferry.counters([
        'messages_received_total',
        'messages_accepted_total',
        'messages_sent_total',
        'sink_confirm_seconds_count',
        'sink_failures_total',
        'messages_dropped_total',
      ]);
    }
    if (!complete) rec.error = `incomplete: ${JSON.stringify(counter.counts())} after ${options.drainSeconds} s`;
    const bad = setup.connections?.find((x) => x?.benchError);
    if (bad) rec.clientError = String(bad.benchError?.message ?? bad.benchError);
  } catch (err) {
    rec.error = err instanceof Error ? err.message : String(err);
    rec.counts = ctx.counter.counts();
    if (ferry) rec.ferryLog = ferry.diagnostics();
  } finally {
    for (const close of setup?.closers ?? []) await withTimeout(close(), 10_000, 'closing a client').catch(() => undefined);
    if (ferry) await ferry.stop();
    await deleteVhost(vhost).catch(() => undefined);
  }
  write(rec);
  return rec;
}

function line(rec) {
  if (rec.error) return `${rec.case} r${rec.round}: FAILED ${rec.error.split('\n')[0]}`;
  const c = rec.counts;
  const tally = `sent=${c.sent} received=${c.received} unique=${c.unique} duplicated=${c.duplicated} lost=${c.lost} unexpected=${c.unexpected}`;
  const cpu = `cpu ferry=${rec.cpu.ferry ?? '-'}% rabbit=${rec.cpu.rabbit ?? '-'}% bench=${rec.cpu.bench}% machine=${rec.cpu.machine}% load=${rec.load[0]}`;
  const perf = rec.latency
    ? `p50=${rec.latencyMs.p50} p99=${rec.latencyMs.p99} max=${rec.latencyMs.max} ms`
    : `e2e=${rec.e2eMsgsPerSec} msg/s pub=${rec.pubMsgsPerSec} msg/s`;
  return `${rec.case} r${rec.round}: ${perf} | ${cpu} | rss=${rec.ferryPeakRssMiB ?? '-'} MiB | ${tally}`;
}

/**
 * RabbitMQ's Web-STOMP plugin (the baseline of case H) is not among the plugins the test broker
 * boots with: integration/brokers/rabbit-web.sh turns it on, online, on a private port.
 */
async function requireWebStomp() {
  if (await portOpen(brokers.rabbitWebStomp)) return;
  console.log(`RabbitMQ Web-STOMP is not on 127.0.0.1:${brokers.rabbitWebStomp}; turning it on (integration/brokers/rabbit-web.sh)`);
  const r = spawnSync('bash', [join(ROOT, 'integration/brokers/rabbit-web.sh')], { stdio: 'inherit' });
  if (r.status !== 0 || !(await portOpen(brokers.rabbitWebStomp))) {
    console.error('RabbitMQ Web-STOMP could not be turned on; run  bash integration/brokers/rabbit-web.sh  and look at its output');
    process.exit(2);
  }
}

async function main() {
  requireBuiltCli();
  await requireBrokers();
  const selected = cases.filter((c) => !options.only || options.only.test(c.name));
  if (selected.length === 0) {
    console.error(`ONLY=${process.env.ONLY} matches no case. Cases:\n  ${cases.map((c) => c.name).join('\n  ')}`);
    process.exit(2);
  }
  if (selected.some((c) => c.needs === 'rabbitWebStomp')) await requireWebStomp();
  mkdirSync(runDir, { recursive: true });
  write({
    type: 'meta',
    startedAt: new Date().toISOString(),
    options: { ...options, only: process.env.ONLY ?? null },
    node: process.version,
    cpu: cpus()[0]?.model,
    cores,
    memGiB: Math.round(totalmem() / 2 ** 30),
    brokers,
    load: load(),
  });
  console.log(`ferry bench: ${selected.length} case(s) × ${options.rounds} round(s), N=${options.n}, window ${options.window}, ${options.payloadBytes}-byte payloads; results ${resultsFile}`);
  const records = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const c of selected) {
      const t = performance.now();
      const rec = await runOne(c, round);
      records.push(rec);
      console.log(`${line(rec)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
    }
  }
  console.log(`\n${markdown(records)}\n\nresults: ${resultsFile}${options.prof ? `\nprofiles: ${join(runDir, 'prof')}` : ''}`);
  const lost = records.reduce((a, r) => a + (r.counts?.lost ?? 0), 0);
  const failed = records.filter((r) => r.error).length;
  if (lost > 0 || failed > 0) {
    console.error(`\n${failed} run(s) failed, ${lost} message(s) lost`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
