/**
 * The bench's knobs, all from the environment so a run is one command line to reproduce.
 * Defaults are the method of docs/benchmarks.md
 * (256-byte payloads, 1,000 outstanding, round-robin rounds, median (min–max)).
 */
import { resolve } from 'node:path';

function int(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}=${v} is not a positive integer`);
  return n;
}

/** a count that may be 0 (WARM_N=0: no warm-up) */
function count(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v} is not a whole number`);
  return n;
}

/**
 * `--quick` (`npm run bench -- --quick`): a developer's loop of under two minutes on a quiet
 * machine: one round of the main cases beside their baselines with a small N, then the ratios.
 * Any variable set in the environment still wins.
 */
const quick = process.argv.includes('--quick');
const QUICK_CASES = '^(A|C|C2|C4|D|G|J|K)\\.';

export const options = Object.freeze({
  quick,
  /** messages per throughput run */
  n: int('N', quick ? 5_000 : 50_000),
  rounds: int('ROUNDS', quick ? 1 : 3),
  /** msg/s of the latency cases */
  rate: int('RATE', 1_000),
  /** seconds measured in the latency cases (after WARMUP seconds at the same rate, not counted) */
  latencySeconds: int('LAT_SECONDS', 10),
  warmupSeconds: Number(process.env.WARMUP ?? 1),
  /**
   * SLICE_MS: the latency cases of a pair (F's Ferry path, the plugin's, a `@before` twin) run
   * together in turns of this many ms, after WARM_N messages each (bench/run.mjs
   * runLatencyGroup); LAT_SECONDS is then each path's measured time. 20 ms turns put both paths
   * in the same second of a shared machine (docs/benchmarks-log.md, "F: what makes the plugin's spikes, and a stable measure"). SLICE_MS=0: each latency
   * case its own run with a fresh Ferry and WARMUP seconds of warm-up at the rate (the method
   * before session 28)
   */
  sliceMs: count('SLICE_MS', 20),
  /**
   * messages a throughput case of the common size (A–E, G, H) sends before it measures, received
   * before the CPU window and the rate clock open, so its per-message figures are the steady
   * state's and not a fresh process's compilation and heap growth (docs/benchmarks.md, Method);
   * the warm-up's own CPU is reported beside them (`warmCpu`). 20,000 by default, `--quick`
   * included (after 10,000 or 15,000 a process is still warming: docs/benchmarks.md, `--quick`);
   * WARM_N=0 measures from the fresh process's first message (the cold figures)
   */
  warmN: count('WARM_N', 20_000),
  /**
   * the latency cases also report their window without its first LAT_SETTLE seconds: a Ferry
   * started for the run spends its first seconds of traffic compiling its hot path
   */
  settleSeconds: Number(process.env.LAT_SETTLE ?? 3),
  /** outstanding (unconfirmed) messages per publisher */
  window: int('WINDOW', 1_000),
  payloadBytes: int('PAYLOAD', 256),
  /** regex over case names */
  only: process.env.ONLY ? new RegExp(process.env.ONLY) : quick ? new RegExp(QUICK_CASES) : undefined,
  /** case I: messages per run of 1 MiB and of 16 MiB, and the bytes a publisher may have unconfirmed */
  largeN1: int('LARGE_N_1MIB', 200),
  largeN16: int('LARGE_N_16MIB', 20),
  largeWindowBytes: int('LARGE_WINDOW_BYTES', 32 * 1024 * 1024),
  /** case J: subscribers of the one topic, messages published, publisher window */
  fanoutSubscribers: int('FANOUT_SUBS', quick ? 200 : 1_000),
  fanoutN: int('FANOUT_N', quick ? 100 : 1_000),
  fanoutWindow: int('FANOUT_WINDOW', 100),
  /** case K: devices opened at once and held, and for how long they are held before the message to all */
  devices: int('DEVICES', quick ? 1_000 : 10_000),
  holdSeconds: int('HOLD_SECONDS', quick ? 2 : 10),
  /** FERRY_PROF=1: run Ferry under `node --cpu-prof`; the profiles land in the results folder */
  prof: process.env.FERRY_PROF === '1',
  /** FERRY_IMPORT=<file>: preload a module into Ferry's process (`node --import`), e.g. bench/experiments/autocork.mjs */
  preload: process.env.FERRY_IMPORT ? resolve(process.env.FERRY_IMPORT) : undefined,
  /**
   * FERRY_DIAG=1: Ferry's event-loop delay, GC pauses, CPU and loop utilization per second
   * (bench/lib/ferry-diag.mjs), laid beside the latency cases' seconds; a diagnostic, not a figure
   */
  diag: process.env.FERRY_DIAG === '1',
  /** FERRY_NODE_ARGS='--max-semi-space-size=32': extra node flags for Ferry's process (runtime tuning experiments) */
  ferryNodeArgs: (process.env.FERRY_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  /**
   * FERRY_BEFORE=<dir>: a checkout (or a copy of the built packages and node_modules) of another
   * Ferry, e.g. main before a change. Every selected Ferry case also runs with that build, as
   * `<case>@before`, just before the case itself in every round: before and after in one run.
   */
  before: process.env.FERRY_BEFORE ? resolve(process.env.FERRY_BEFORE) : undefined,
  /** FERRY_BEFORE_NODE_ARGS: node flags for the `@before` twin (FERRY_NODE_ARGS for the case itself) */
  /**
   * FERRY_BEFORE_NO_LAUNCH_FLAGS=1: the twin runs without the V8 flags Ferry's launchers pass
   * (packages/gateway/src/node-flags.ts), to measure what they pay (FERRY_BEFORE may name this checkout)
   */
  beforeNoLaunchFlags: process.env.FERRY_BEFORE_NO_LAUNCH_FLAGS === '1',
  beforeNodeArgs: (process.env.FERRY_BEFORE_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  /**
   * FERRY_NODE=<node binary>: the Node.js that runs Ferry's process (the bench's own by default),
   * e.g. the 22 of the Dockerfile beside the 20 of the bench: `$(npx -y node@22 -p process.execPath)`
   */
  ferryNode: process.env.FERRY_NODE ? resolve(process.env.FERRY_NODE) : process.execPath,
  /**
   * FERRY_LAUNCH='nice -n -5' (or 'setsid', 'chrt -f 10', 'taskset -c 1'): a command Ferry's
   * process is started through, which then execs node (same pid), to test how Ferry's latency
   * depends on the scheduler; FERRY_BEFORE_LAUNCH for the `@before` twin
   */
  ferryLaunch: (process.env.FERRY_LAUNCH ?? '').split(/\s+/).filter(Boolean),
  beforeLaunch: (process.env.FERRY_BEFORE_LAUNCH ?? '').split(/\s+/).filter(Boolean),
  /** FERRY_BEFORE_NODE: the Node.js of the `@before` twin (FERRY_NODE for the case itself) */
  beforeNode: process.env.FERRY_BEFORE_NODE ? resolve(process.env.FERRY_BEFORE_NODE) : process.execPath,
  /** seconds to wait for the last messages after the publisher is done */
  drainSeconds: int('DRAIN_SECONDS', 60),
});
