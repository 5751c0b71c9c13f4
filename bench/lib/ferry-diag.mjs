/**
 * `FERRY_DIAG=1`: loaded into Ferry's process (`node --import`, before the CLI) to explain a
 * latency tail. Once a second it takes, from that second alone: the event loop's delay (perf_hooks
 * monitorEventLoopDelay, 1 ms resolution: how late a timer due then ran, i.e. how long the loop
 * was held by one piece of work or by the machine not running the process), the garbage
 * collector's pauses (PerformanceObserver 'gc': their sum, the longest, how many), the CPU time
 * the process used, the loop's utilization and how long its thread waited runnable for a core
 * (schedstat's run-queue wait). Each second is stamped with the wall clock, so the
 * bench can lay them beside the seconds of its own measured window. Written as JSON, when the
 * process exits, to the file named in this module's URL (`?out=<path>`).
 *
 * It observes: it costs a 1 ms timer inside the histogram and one callback per GC, nothing per
 * message. Runs with it are diagnostics, not the figures of a comparison.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const out = new URL(import.meta.url).searchParams.get('out');
const KINDS = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

const loop = monitorEventLoopDelay({ resolution: 1 });
loop.enable();
let gc = { ms: 0, maxMs: 0, count: 0, kinds: {} };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc.ms += e.duration;
    gc.count++;
    if (e.duration > gc.maxMs) gc.maxMs = e.duration;
    const kind = KINDS[e.detail?.kind] ?? 'other';
    gc.kinds[kind] = (gc.kinds[kind] ?? 0) + 1;
  }
}).observe({ entryTypes: ['gc'] });

const ms = (x) => Math.round(x * 100) / 100;

/**
 * The main thread's time on a core and waiting runnable for one, ns (the loop runs here, so
 * `thread-self` is the main thread); undefined without schedstat
 */
function sched() {
  try {
    const [run, wait, slices] = readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return { run, wait, slices };
  } catch {
    return undefined;
  }
}
let sched0 = sched();
const seconds = [];
let cpu = process.cpuUsage();
let elu = performance.eventLoopUtilization();
function sample() {
  const c = process.cpuUsage(cpu);
  const e = performance.eventLoopUtilization(elu);
  cpu = process.cpuUsage();
  elu = performance.eventLoopUtilization();
  const s1 = sched();
  const waitMs = s1 && sched0 ? ms((s1.wait - sched0.wait) / 1e6) : null;
  sched0 = s1;
  seconds.push({
    // the end of this second, ms since the epoch (the bench's clock is another process's)
    at: ms(performance.timeOrigin + performance.now()),
    loopP99Ms: loop.count > 0 ? ms(loop.percentile(99) / 1e6) : 0,
    loopMaxMs: loop.count > 0 ? ms(loop.max / 1e6) : 0,
    gcMs: ms(gc.ms),
    gcMaxMs: ms(gc.maxMs),
    gcCount: gc.count,
    gcKinds: gc.kinds,
    cpuPct: Math.round((c.user + c.system) / 1e4),
    elu: ms(e.utilization),
    // how long the loop was ready to run and not running: the machine's share of its delays
    runQueueWaitMs: waitMs,
  });
  loop.reset();
  gc = { ms: 0, maxMs: 0, count: 0, kinds: {} };
}
setInterval(sample, 1000).unref();
process.once('exit', () => {
  sample();
  if (out) writeFileSync(out, JSON.stringify({ pid: process.pid, seconds }));
});
