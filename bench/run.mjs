#!/usr/bin/env node
/**
 * Ferry's benchmark suite: `npm run bench` (builds, then runs this file).
 *
 * Ferry runs as its own process from the built CLI (packages/gateway/dist/cli.js), one fresh
 * process per run; publishers and consumers are public client libraries in THIS process, so
 * end-to-end times use one clock. Method, numbers and reading: docs/benchmarks.md.
 *
 *   N=50000 ROUNDS=3 node bench/run.mjs            # every case, round-robin, each after 20,000 warm-up messages
 *   ONLY='^A\.' ROUNDS=5 node bench/run.mjs          # a subset (regex over case names)
 *   WARM_N=0 N=20000 node bench/run.mjs           # no warm-up: a fresh process's figures (the cold start)
 *   ONLY='^F\.' RATE=2000 node bench/run.mjs         # latency at another rate (Ferry's path and the plugin's in turns of 20 ms)
 *   SLICE_MS=0 ONLY='^F\.' node bench/run.mjs        # each latency case a run of its own, fresh Ferry, 1 s warm-up at the rate
 *   FERRY_PROF=1 ONLY='^A\.ferry' ROUNDS=1 node bench/run.mjs   # + a CPU profile of Ferry
 *   node bench/profile.mjs bench/results/<ts>/prof/<case>-r1.cpuprofile
 *   FERRY_IMPORT=bench/experiments/autocork.mjs ONLY='^A\.ferry' node bench/run.mjs   # an experiment
 *   FERRY_NODE_ARGS='--max-semi-space-size=32' ONLY='^A\.ferry' node bench/run.mjs     # a runtime flag
 *   node bench/run.mjs --quick                       # a developer's loop: small N, one round, the ratios
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
import { OWN_SESSION } from './lib/child.mjs';
import { FerryChild, ROOT, requireBuiltCli } from './lib/ferry.mjs';
import { options } from './lib/options.mjs';
import { anonRssMiB, cores, cpuWindow, load, openFilesLimit, peakRssMiB, round1, rssMiB, schedWindow, sliceProbe } from './lib/procstat.mjs';
import { histogram } from './lib/histogram.mjs';
import { interleaved } from './lib/interleave.mjs';
import { markdown, ratios } from './lib/report.mjs';
import { mqttClose, mqttConnect, paced, windowed } from './lib/clients.mjs';
import { ownBrokers } from './lib/brokers.mjs';
import { swarm } from './lib/swarm.mjs';

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

/** The scheduling group (autogroup) of a process, or undefined where the kernel has none. */
function autogroup(pid) {
  try {
    return readFileSync(`/proc/${pid}/autogroup`, 'utf8').split(/\s+/)[0];
  } catch {
    return undefined;
  }
}

/**
 * Where the servers run for the scheduler (bench/lib/child.mjs): in a session of their own or the
 * bench's, and whether RabbitMQ shares the bench's group, which would hand it a smaller share of
 * the cores than Ferry's and so tilt every RabbitMQ baseline.
 */
function sessions() {
  const rabbit = rabbitPid();
  const out = { servers: OWN_SESSION ? 'own' : 'shared', bench: autogroup(process.pid), rabbit: rabbit === undefined ? undefined : autogroup(rabbit) };
  if (OWN_SESSION && out.bench !== undefined && out.bench === out.rabbit) {
    console.warn(`RabbitMQ runs in the bench's scheduling group (${out.bench}) while Ferry gets one of its own: restart the brokers (integration/brokers/all-stop.sh, all-start.sh), which start RabbitMQ in a session of its own`);
  }
  return out;
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

/** The run's context: ids, a throw-away vhost, free ports, payloads and the counter. */
async function context(c, round, total, warm, payloadBytes, copies) {
  const id = `bench-${c.name.split('.')[0].toLowerCase()}-${round}-${Date.now().toString(36)}`;
  const vhost = await createVhost('bench');
  return {
    id,
    vhost,
    amqpUrl: rabbitUrl(vhost),
    brokers,
    ports: { mqtt: await freePort(), stomp: await freePort(), stompWs: await freePort(), amqp10: await freePort(), admin: await freePort(), broker: await freePort() },
    payloadBytes,
    copies,
    payload: payloadFactory(payloadBytes),
    counter: new Counter(total, warm, copies),
  };
}

/** Ferry (when the case has a route file) and the case's own broker (when it names one), started for this run. */
async function startServers(c, ctx, name, rec) {
  const out = {};
  if (options.prof && c.ferry) rec.profiled = true;
  if (options.preload && c.ferry) rec.ferryImport = options.preload;
  const nodeArgs = c.before ? options.beforeNodeArgs : options.ferryNodeArgs;
  if (nodeArgs.length > 0 && c.ferry) rec.ferryNodeArgs = nodeArgs;
  const launch = c.before ? options.beforeLaunch : options.ferryLaunch;
  if (launch.length > 0 && c.ferry) rec.ferryLaunch = launch;
  const node = c.before ? options.beforeNode : options.ferryNode;
  if (node !== process.execPath && c.ferry) rec.ferryNode = node;
  if (c.before && c.ferry) rec.ferryBuild = options.before;
  if (c.before && c.ferry && options.beforeNoLaunchFlags) rec.ferryLaunchFlags = false;
  if (c.broker) {
    out.broker = await ownBrokers[c.broker](ctx.ports.broker, runDir, name);
    ctx.broker = { port: ctx.ports.broker, pid: out.broker.pid };
    rec.broker = c.broker;
  }
  if (c.ferry) {
    out.ferry = new FerryChild({ yaml: c.ferry(ctx), dir: runDir, name, adminPort: ctx.ports.admin, profDir: options.prof ? join(runDir, 'prof') : undefined, preload: options.preload, diag: options.diag, node, nodeArgs, launch, cli: c.before ? join(options.before, 'packages/gateway/dist/cli.js') : undefined, noLaunchFlags: c.before && options.beforeNoLaunchFlags });
    await out.ferry.start();
  }
  return out;
}

async function runOne(c, round) {
  if (c.kind === 'connections') return runConnections(c, round);
  const latency = c.latency === true;
  // a throughput case of the common size warms up first with WARM_N (not the large-message and
  // fan-out cases, whose sizes are their own)
  const warmThroughput = !latency && c.n === undefined ? options.warmN : 0;
  const warm = latency ? Math.round(options.rate * options.warmupSeconds) : warmThroughput;
  const total = latency ? warm + options.rate * options.latencySeconds : warmThroughput + (c.n?.(options) ?? options.n);
  const payloadBytes = c.payloadBytes ?? options.payloadBytes;
  const sendWindow = c.window?.(options) ?? options.window;
  const copies = c.copies?.(options) ?? 1;
  const ctx = await context(c, round, total, warm, payloadBytes, copies);
  const vhost = ctx.vhost;
  const name = `${c.name}-r${round}`;
  const rec = { type: 'run', case: c.name, pair: pairOf(c), round, path: c.path, latency, n: total - warmThroughput, window: sendWindow, payloadBytes, load: load() };
  // 0: measured from the fresh process's first message (records without `warm` were all cold)
  if (!latency) rec.warm = warmThroughput;
  if (copies > 1) rec.receivers = copies;
  if (latency) Object.assign(rec, { rate: options.rate, warmup: warm });
  let ferry;
  let broker;
  let setup;
  try {
    ({ ferry, broker } = await startServers(c, ctx, name, rec));
    setup = await c.clients(ctx);
    const counter = ctx.counter;
    if (warmThroughput > 0) {
      // the warm-up's messages are sent and received before anything is measured
      const warmWindow = cpuWindow({ ferry: ferry?.pid, rabbit: rabbitPid(), broker: broker?.pid, ...setup.processes });
      const warmed = windowed(warmThroughput, sendWindow, setup.send);
      await withTimeout(setup.failed ? Promise.race([warmed, setup.failed]) : warmed, Math.max(120_000, warmThroughput), `the warm-up's last confirmation (${counter.sent} sent)`);
      await withTimeout(counter.whenUnique(warmThroughput * copies), options.drainSeconds * 1000, `the warm-up's messages received (${counter.unique} of ${warmThroughput * copies})`);
      rec.warmCpu = warmWindow.end();
    }
    // a client in a process of its own (C4's subscriber) has its CPU beside the bench's
    const window = cpuWindow({ ferry: ferry?.pid, rabbit: rabbitPid(), broker: broker?.pid, ...setup.processes });
    const sched = latency ? schedWindow({ ferry: ferry?.pid, rabbit: rabbitPid(), bench: process.pid }) : undefined;
    const measured = total - warmThroughput;
    const publishing = latency
      ? paced(total, options.rate, sendWindow, setup.send)
      : windowed(measured, sendWindow, warmThroughput === 0 ? setup.send : (seq, done) => setup.send(seq + warmThroughput, done));
    const guarded = setup.failed ? Promise.race([publishing, setup.failed]) : publishing;
    const budget = latency ? (options.latencySeconds + options.warmupSeconds) * 1000 + 60_000 : Math.max(120_000, total);
    const tPub = await withTimeout(guarded, budget, `the publisher's last confirmation (${counter.sent} sent)`);
    const complete = await counter.whenComplete(options.drainSeconds * 1000);
    const cpu = window.end();
    if (sched) rec.sched = sched.end();
    // room for late duplicates before counting
    await new Promise((r) => setTimeout(r, 300));
    // after a warm-up the clock starts at the first measured message
    const t0 = warmThroughput > 0 ? counter.measureSentAt : counter.firstSentAt;
    const timed = latency ? total : measured;
    Object.assign(rec, {
      counts: counter.counts(),
      complete,
      e2eMs: complete ? round1(counter.lastUniqueAt - t0) : null,
      pubMs: round1(tPub - t0),
      e2eMsgsPerSec: complete ? rate(timed, counter.lastUniqueAt - t0) : null,
      pubMsgsPerSec: rate(timed, tPub - t0),
      cpu,
      ferryPeakRssMiB: ferry ? round1(peakRssMiB(ferry.pid) ?? NaN) : null,
      brokerPeakRssMiB: broker ? round1(peakRssMiB(broker.pid) ?? NaN) : null,
      loadAfter: load(),
    });
    if (complete && payloadBytes >= 1024 * 1024) rec.e2eMiBPerSec = round1((total * payloadBytes) / 2 ** 20 / ((counter.lastUniqueAt - t0) / 1000));
    if (copies > 1 && complete) rec.e2eDeliveriesPerSec = Math.round((counter.expected / (counter.lastUniqueAt - t0)) * 1000);
    if (latency) rec.latencyMs = counter.latencyStats(options.rate, options.settleSeconds);
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
    if (broker) await broker.stop();
    await deleteVhost(vhost).catch(() => undefined);
  }
  if (ferry && latency) {
    const seconds = await ferry.diagSeconds();
    if (seconds && ctx.counter.measureSentAt !== undefined) rec.ferryDiag = measuredSeconds(seconds, performance.timeOrigin + ctx.counter.measureSentAt, options.latencySeconds);
  }
  write(rec);
  return rec;
}

/**
 * The latency cases of one pair (F: Ferry's path, the plugin's, with FERRY_BEFORE the other
 * build's Ferry) measured together in one window, in turns of SLICE_MS each (20 ms by default;
 * bench/lib/interleave.mjs), so that every path meets the same second of a shared machine. Each
 * path has its own vhost, clients and (for a Ferry path) its own fresh Ferry; each first sends
 * WARM_N messages windowed at full speed (Ferry's steady state, as in the throughput cases; the
 * plugin's connection processes as well), then LAT_SECONDS × RATE measured messages at RATE in
 * its turns (after a first second not counted). The path that goes first changes with the round.
 * One record per path, as a separate latency run writes, with its seconds (`slices`: the p50, p99
 * and max of its messages in each and what the machine, RabbitMQ, the bench and each Ferry did
 * in it) and a histogram of its latencies for pooling.
 */
async function runLatencyGroup(group, round) {
  const order = group.map((_, i) => group[(i + round - 1) % group.length]);
  const warmN = options.warmN;
  const perPath = options.rate * options.latencySeconds;
  // each path's first second (at least one turn) is a lead-in at the rate, not counted: right
  // after the warm-ups it meets their aftermath (RabbitMQ's queues draining, the collectors' work)
  const perTurn = Math.max(1, Math.round((options.rate * options.sliceMs) / 1000));
  const lead = Math.ceil(options.rate / perTurn) * perTurn;
  const sendWindow = options.window;
  const paths = [];
  let probe;
  try {
    for (const c of order) {
      const ctx = await context(c, round, warmN + lead + perPath, warmN + lead, options.payloadBytes, 1);
      const name = `${c.name}-r${round}`;
      const rec = { type: 'run', case: c.name, pair: pairOf(c), round, path: c.path, latency: true, interleaved: { sliceMs: options.sliceMs, order: order.map((x) => x.name) }, n: perPath, window: sendWindow, payloadBytes: options.payloadBytes, rate: options.rate, warm: warmN, load: load() };
      const p = { c, ctx, rec, name };
      paths.push(p);
      ({ ferry: p.ferry } = await startServers(c, ctx, name, rec));
      p.setup = await c.clients(ctx);
    }
    for (const p of paths) {
      if (warmN === 0) continue;
      const w = cpuWindow({ ferry: p.ferry?.pid });
      const warmed = windowed(warmN, sendWindow, p.setup.send);
      await withTimeout(p.setup.failed ? Promise.race([warmed, p.setup.failed]) : warmed, Math.max(120_000, warmN), `${p.c.name}: the warm-up's last confirmation`);
      await withTimeout(p.ctx.counter.whenUnique(warmN), options.drainSeconds * 1000, `${p.c.name}: the warm-up's messages received`);
      p.rec.warmCpu = w.end();
    }
    const rabbit = rabbitPid();
    const ferries = paths.map((p) => p.ferry?.pid);
    const windows = paths.map((p) => cpuWindow({ ferry: p.ferry?.pid, rabbit }));
    const sched = paths.map((p) => schedWindow({ ferry: p.ferry?.pid, rabbit, bench: process.pid }));
    probe = sliceProbe({ rabbit, ferries });
    // the probe is read once a second at most (at the end of the turn that closes the second): a
    // path's "slice" is then its turns since the last reading, one turn when turns last a second
    const turns = paths.map(() => []);
    const pending = paths.map(() => []);
    const sends = paths.map((p) => (seq, done) => p.setup.send(seq + warmN, done));
    let since = performance.now();
    for (const p of paths) p.measureStart = since;
    const probeNow = (endMs) => {
      const probed = probe.mark();
      for (const [i, ranges] of pending.entries()) {
        if (ranges.length > 0) turns[i].push({ ranges, startMs: since, endMs, ...probed, ferryWaitMsPerS: probed.ferryWaitMsPerS[i] ?? null, anyFerryWaitMsPerS: probed.ferryWaitMsPerS });
        pending[i] = [];
      }
      since = endMs;
    };
    const run = interleaved(sends, lead + perPath, options.rate, options.sliceMs, sendWindow, (t) => {
      pending[t.path].push([t.from, t.to]);
      if (t.endMs - since >= 1000) probeNow(t.endMs);
    });
    const failed = paths.map((p) => p.setup.failed).filter(Boolean);
    const budget = (options.latencySeconds + 1) * paths.length * 1000 + 60_000;
    await withTimeout(failed.length ? Promise.race([run, ...failed]) : run, budget, 'the interleaved window');
    if (pending.some((r) => r.length > 0)) probeNow(performance.now());
    for (const [i, p] of paths.entries()) {
      const counter = p.ctx.counter;
      const complete = await counter.whenComplete(options.drainSeconds * 1000);
      p.rec.cpu = windows[i].end();
      p.rec.sched = sched[i].end();
      p.rec.complete = complete;
      const measured = counter.latency.subarray(warmN + lead);
      p.rec.latencyMs = counter.latencyStats(0, 0);
      p.rec.latencyHist = histogram(measured);
      // the lead-in's messages are not in `measured`: a range is cut at its end
      const clipped = (t) => t.ranges.map(([a, b]) => [Math.max(a, lead) - lead, b - lead]).filter(([a, b]) => b > a);
      p.rec.slices = turns[i]
        .filter((t) => clipped(t).length > 0)
        .map((t) => {
          const xs = clipped(t)
            .flatMap(([a, b]) => Array.from(measured.subarray(a, b)))
            .filter((x) => !Number.isNaN(x))
            .sort((a, b) => a - b);
          const q = (f) => (xs.length ? Math.round(xs[Math.min(xs.length - 1, Math.ceil(f * xs.length) - 1)] * 1000) / 1000 : null);
          // what the probe read, without the bookkeeping of the turns
          const probed = { ...t };
          for (const k of ['ranges', 'startMs', 'endMs', 'anyFerryWaitMsPerS']) delete probed[k];
          return { atS: round1((t.startMs - p.measureStart) / 1000), ms: Math.round(t.endMs - t.startMs), n: xs.length, p50: q(0.5), p99: q(0.99), max: q(1), ...probed, otherFerryWaitMsPerS: t.anyFerryWaitMsPerS.filter((_, j) => j !== i && ferries[j] !== undefined) };
        });
      p.rec.latencyMs.bySlice = p.rec.slices.map((x) => ({ p99: x.p99, max: x.max }));
    }
  } catch (err) {
    for (const p of paths) {
      p.rec.error = err instanceof Error ? err.message : String(err);
      p.rec.counts = p.ctx.counter.counts();
      if (p.ferry) p.rec.ferryLog = p.ferry.diagnostics();
    }
  } finally {
    probe?.stop();
    await new Promise((r) => setTimeout(r, 300));
    for (const p of paths) {
      if (!p.rec.error) {
        p.rec.counts = p.ctx.counter.counts();
        if (!p.rec.complete) p.rec.error = `incomplete: ${JSON.stringify(p.rec.counts)} after ${options.drainSeconds} s`;
        p.rec.ferryPeakRssMiB = p.ferry ? round1(peakRssMiB(p.ferry.pid) ?? NaN) : null;
        p.rec.loadAfter = load();
      }
      for (const close of p.setup?.closers ?? []) await withTimeout(close(), 10_000, 'closing a client').catch(() => undefined);
      if (p.ferry) await p.ferry.stop();
      await deleteVhost(p.ctx.vhost).catch(() => undefined);
      if (p.ferry) {
        const seconds = await p.ferry.diagSeconds();
        if (seconds && p.measureStart !== undefined) p.rec.ferryDiag = measuredSeconds(seconds, performance.timeOrigin + p.measureStart, (options.latencySeconds + 1) * paths.length + 1);
      }
      write(p.rec);
    }
  }
  return paths.map((p) => p.rec);
}

/**
 * FERRY_DIAG's seconds (bench/lib/ferry-diag.mjs) that overlap the measured window, each with
 * `t`: the time its second ended, in seconds from the window's start (both wall clocks, so
 * within a millisecond of each other on one machine).
 */
function measuredSeconds(seconds, startEpochMs, lengthS) {
  const end = startEpochMs + lengthS * 1000;
  return seconds.filter((s) => s.at > startEpochMs && s.at - 1000 < end).map((s) => ({ t: round1((s.at - startEpochMs) / 1000), ...s, at: undefined }));
}

/** per second, whole above 100, to a tenth below (16 MiB messages go a few per second) */
function rate(count, ms) {
  const r = (count / ms) * 1000;
  return r >= 100 ? Math.round(r) : round1(r);
}

function pairOf(c) {
  return c.pair ?? c.name.split('.')[0];
}

/**
 * Case K: DEVICES connections opened at once against one MQTT server (Ferry's listener or the
 * bench's Mosquitto), each subscribing once; held HOLD_SECONDS; then one QoS 1 message to the
 * topic all of them subscribed, timed until the last device has it. Every connection has one
 * outcome (bench/lib/swarm.mjs); anything but "subscribed", or a drop while held, fails the run.
 */
async function runConnections(c, round) {
  const count = options.devices;
  const ctx = await context(c, round, 1, 0, options.payloadBytes, 1);
  const name = `${c.name}-r${round}`;
  const rec = { type: 'run', kind: 'connections', case: c.name, pair: pairOf(c), round, path: c.path, devices: count, holdSeconds: options.holdSeconds, n: 1, load: load() };
  let ferry;
  let broker;
  let devices;
  let pub;
  try {
    ({ ferry, broker } = await startServers(c, ctx, name, rec));
    const server = ferry?.pid ?? broker?.pid;
    rec.serverRssBeforeMiB = round1(rssMiB(server) ?? NaN);
    const window = cpuWindow({ server });
    // the message is owed to the devices that subscribed; the others are counted as connection
    // failures, not as lost messages. receiver[i]: device i's place among the subscribed.
    let receiver;
    devices = await swarm({
      port: c.port(ctx),
      count,
      filter: 'devices/all/cmd',
      qos: 1,
      keepalive: 60,
      idPrefix: `${ctx.id}-dev`,
      onMessage: (i, payload) => ctx.counter.receive(payload, receiver?.[i] ?? -1),
    });
    rec.cpu = window.end();
    receiver = new Int32Array(count).fill(-1);
    devices.forEachSubscribed((i, k) => {
      receiver[i] = k;
    });
    ctx.counter = new Counter(1, 0, devices.outcome.subscribed);
    rec.outcome = devices.outcome;
    rec.connectMs = round1(devices.connectMs);
    rec.connectsPerSec = devices.outcome.subscribed > 0 ? Math.round(devices.outcome.subscribed / (devices.connectMs / 1000)) : 0;
    rec.serverRssConnectedMiB = round1(rssMiB(server) ?? NaN);
    // held: the keep alive timers run, nothing is sent (a measurement window, not a wait for an event)
    await new Promise((r) => setTimeout(r, options.holdSeconds * 1000));
    rec.serverRssHeldMiB = round1(rssMiB(server) ?? NaN);
    rec.serverAnonRssHeldMiB = round1(anonRssMiB(server) ?? NaN);
    rec.droppedWhileHeld = devices.dropped.count;
    pub = await mqttConnect(`mqtt://127.0.0.1:${c.port(ctx)}`, { clientId: `${ctx.id}-pub` });
    ctx.counter.markSent();
    await pub.publishAsync('devices/all/cmd', ctx.payload(0), { qos: 1 });
    const complete = await ctx.counter.whenComplete(options.drainSeconds * 1000);
    rec.complete = complete;
    rec.counts = ctx.counter.counts();
    rec.deliverAllMs = ctx.counter.lastUniqueAt !== undefined ? round1(ctx.counter.lastUniqueAt - ctx.counter.firstSentAt) : null;
    rec.serverPeakRssMiB = round1(peakRssMiB(server) ?? NaN);
    rec.droppedWhileHeld = devices.dropped.count;
    const failedConnections = count - devices.outcome.subscribed;
    if (failedConnections > 0 || rec.droppedWhileHeld > 0) {
      rec.connectionFailures = failedConnections + rec.droppedWhileHeld;
    }
    if (!complete) rec.error = `incomplete: ${JSON.stringify(rec.counts)} after ${options.drainSeconds} s`;
  } catch (err) {
    rec.error = err instanceof Error ? err.message : String(err);
    rec.counts = ctx.counter.counts();
    if (devices) rec.outcome = devices.outcome;
    if (ferry) rec.ferryLog = ferry.diagnostics();
  } finally {
    await mqttClose(pub);
    await devices?.close().catch(() => undefined);
    if (ferry) await ferry.stop();
    if (broker) await broker.stop();
    await deleteVhost(ctx.vhost).catch(() => undefined);
  }
  write(rec);
  return rec;
}

/**
 * Case K holds DEVICES sockets in this process and as many in the server's (children inherit
 * the limit). Node raises its soft open-file limit to the hard one when it starts, so what is
 * left to check is that limit; when it is too low the bench stops with the command to run.
 */
function requireOpenFiles(need) {
  const { soft, hard } = openFilesLimit();
  if (soft >= need) return;
  console.error(`Case K opens ${options.devices} connections: the open-file limit is ${soft} (hard ${hard}), it needs ${need}.\nRaise it in the shell that runs the bench:\n\n  ulimit -n ${need}\n\n(as root if the hard limit is lower), or run fewer devices (DEVICES=...).`);
  process.exit(2);
}

function line(rec) {
  if (rec.error) return `${rec.case} r${rec.round}: FAILED ${rec.error.split('\n')[0]}`;
  const c = rec.counts;
  if (rec.kind === 'connections') {
    const o = rec.outcome;
    return `${rec.case} r${rec.round}: ${o.subscribed}/${rec.devices} subscribed in ${rec.connectMs} ms (${rec.connectsPerSec}/s), refused=${o.refused} reset=${o.reset} rejected=${o.rejected} closed=${o.closed} timedOut=${o.timedOut} other=${JSON.stringify(o.otherErrors)} dropped=${rec.droppedWhileHeld} | rss ${rec.serverRssBeforeMiB} → ${rec.serverRssConnectedMiB} → ${rec.serverRssHeldMiB} MiB (private ${rec.serverAnonRssHeldMiB}), peak ${rec.serverPeakRssMiB} | one message to all in ${rec.deliverAllMs} ms | unique=${c.unique} duplicated=${c.duplicated} lost=${c.lost} | load=${rec.load[0]}`;
  }
  const tally = `sent=${c.sent} received=${c.received} unique=${c.unique} duplicated=${c.duplicated} lost=${c.lost} unexpected=${c.unexpected}`;
  const cpu = `cpu ferry=${rec.cpu.ferry ?? '-'}% rabbit=${rec.cpu.rabbit ?? '-'}% bench=${rec.cpu.bench}% machine=${rec.cpu.machine}% load=${rec.load[0]}`;
  const perf = rec.latency
    ? `p50=${rec.latencyMs.p50} p99=${rec.latencyMs.p99} max=${rec.latencyMs.max} ms${rec.latencyMs.settled ? ` (from second ${rec.latencyMs.settled.fromSecond + 1} on: p99=${rec.latencyMs.settled.p99})` : ''}`
    : `e2e=${rec.e2eMsgsPerSec} msg/s${rec.e2eMiBPerSec ? ` (${rec.e2eMiBPerSec} MiB/s)` : ''}${rec.e2eDeliveriesPerSec ? ` (${rec.e2eDeliveriesPerSec} deliveries/s to ${rec.receivers})` : ''} pub=${rec.pubMsgsPerSec} msg/s`;
  const broker = rec.broker ? ` ${rec.broker}=${rec.cpu.broker ?? '-'}%` : '';
  const warmCpu = rec.warmCpu?.ferry != null ? ` | warm-up ${rec.warm} msgs: ferry ${((rec.warmCpu.ferry / 100) * rec.warmCpu.wallS).toFixed(2)} s of CPU` : '';
  return `${rec.case} r${rec.round}: ${perf} | ${cpu}${broker}${warmCpu} | rss=${rec.ferryPeakRssMiB ?? rec.brokerPeakRssMiB ?? '-'} MiB | ${tally}`;
}

/** a latency run's seconds: the p99 of each, and with FERRY_DIAG what Ferry's process did in each */
function secondsLines(rec) {
  const out = [];
  const bySecond = rec.latencyMs?.bySecond;
  if (bySecond) out.push(`    p99 per second (ms): ${bySecond.map((s) => s?.p99 ?? '-').join(' ')}`);
  const slices = rec.slices;
  if (slices?.length) {
    out.push(`    p99 of each second of turns (${rec.interleaved.sliceMs} ms each), ms: ${slices.map((s) => s.p99 ?? '-').join(' ')}`);
    out.push(`    in each second of turns, machine busy % / bench main thread waiting ms/s / RabbitMQ threads waiting ms/s: ${slices.map((s) => `${Math.round(s.machineBusyPct)}/${Math.round(s.benchWaitMsPerS ?? NaN)}/${Math.round(s.rabbitWaitMsPerS ?? NaN)}`).join(' ')}`);
  }
  const sched = rec.sched;
  if (sched) {
    const one = (what, x) => (x ? `${what} ${x.mainWaitMsPerS}/${x.mainWaitPerSliceUs ?? '-'}/${x.mainVoluntaryPerS}/${x.mainInvoluntaryPerS}/${x.waitMsPerS}` : `${what} -`);
    out.push(`    run-queue wait, main thread ms/s / µs per slice / switches/s voluntary, involuntary / all threads ms/s: ${['ferry', 'rabbit', 'bench'].map((k) => one(k, sched[k])).join(' | ')}`);
  }
  const d = rec.ferryDiag;
  if (d?.length) {
    const row = (what, f) => `    Ferry ${what}: ${d.map(f).join(' ')}`;
    out.push(
      row('second ends at (s)', (s) => s.t),
      row('loop delay max (ms)', (s) => s.loopMaxMs),
      row('GC pauses (ms, count)', (s) => `${s.gcMs}/${s.gcCount}`),
      row('longest GC pause (ms)', (s) => s.gcMaxMs),
      row('CPU % / loop busy', (s) => `${s.cpuPct}/${s.elu}`),
      row('main thread waiting for a core (ms)', (s) => s.runQueueWaitMs ?? '-'),
    );
  }
  return out;
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
  // with FERRY_BEFORE, each Ferry case runs first with the other build (its `@before` twin, same pair)
  const selected = cases
    .filter((c) => !options.only || options.only.test(c.name))
    .flatMap((c) => (options.before && c.ferry ? [{ ...c, name: `${c.name}@before`, pair: pairOf(c), before: true }, c] : [c]));
  if (selected.length === 0) {
    console.error(`ONLY=${process.env.ONLY} matches no case. Cases:\n  ${cases.map((c) => c.name).join('\n  ')}`);
    process.exit(2);
  }
  if (selected.some((c) => c.needs === 'rabbitWebStomp')) await requireWebStomp();
  // the devices, the publisher and room for everything else the bench and its children open
  if (selected.some((c) => c.kind === 'connections')) requireOpenFiles(options.devices + 1024);
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
    sessions: sessions(),
  });
  console.log(`ferry bench${options.quick ? ' --quick' : ''}: ${selected.length} case(s) × ${options.rounds} round(s), N=${options.n} after ${options.warmN.toLocaleString('en-US')} warm-up messages${options.warmN === 0 ? ' (cold: WARM_N=0)' : ''}, window ${options.window}, ${options.payloadBytes}-byte payloads; results ${resultsFile}`);
  // SLICE_MS > 0: a pair's latency cases run together, in turns (runLatencyGroup), where its first case stands
  const steps = [];
  for (const c of selected) {
    if (!(c.latency && options.sliceMs > 0)) steps.push([c]);
    else if (!steps.some((s) => s.length > 0 && s[0].latency && pairOf(s[0]) === pairOf(c) && s.push(c))) steps.push([c]);
  }
  const records = [];
  for (let round = 1; round <= options.rounds; round++) {
    for (const step of steps) {
      const t = performance.now();
      const recs = step[0].latency && options.sliceMs > 0 ? await runLatencyGroup(step, round) : [await runOne(step[0], round)];
      for (const rec of recs) {
        records.push(rec);
        console.log(`${line(rec)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
        for (const l of secondsLines(rec)) console.log(l);
      }
    }
  }
  console.log(`\n${markdown(records)}\n\n${ratios(records)}\n\nresults: ${resultsFile}${options.prof ? `\nprofiles: ${join(runDir, 'prof')}` : ''}`);
  const lost = records.reduce((a, r) => a + (r.counts?.lost ?? 0), 0);
  const failed = records.filter((r) => r.error).length;
  const connections = records.reduce((a, r) => a + (r.connectionFailures ?? 0), 0);
  if (lost > 0 || failed > 0 || connections > 0) {
    console.error(`\n${failed} run(s) failed, ${lost} message(s) lost, ${connections} connection(s) refused, reset, rejected or dropped`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
