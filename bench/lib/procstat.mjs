/**
 * CPU and memory of processes, read from Linux /proc (no dependency, no sampling thread).
 * CPU is reported as % of ONE core over a window (the machine has nproc × 100 %).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

let clkTck = 100;
try {
  clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // getconf missing: 100 is the Linux value on every common architecture
}

export const cores = cpus().length;

/** utime + stime of `pid` in seconds, or undefined when it is gone. */
function cpuSeconds(pid) {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: split after the last ')'
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields 14 and 15 of proc(5) are at index 11 and 12 after the state field
    return (Number(f[11]) + Number(f[12])) / clkTck;
  } catch {
    return undefined;
  }
}

/** A memory field of `pid`'s /proc status (given in kB there) in MiB, or undefined. */
function statusMiB(pid, field) {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set (VmHWM) of `pid` in MiB, or undefined. */
export function peakRssMiB(pid) {
  return statusMiB(pid, 'VmHWM');
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
function machineJiffies() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * A window over some processes (by name): `read(pid)` now and again when the returned function is
 * called, which answers `diff(early, late, wallS)` per process (null when a read found nothing)
 * and the wall time in between, in seconds.
 */
function processWindow(pids, read, diff) {
  const t0 = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, read(pid)]));
  return () => {
    const wall = (performance.now() - t0) / 1000;
    const out = {};
    for (const [k, pid] of Object.entries(pids)) {
      const a = start[k];
      const b = read(pid);
      out[k] = a === undefined || b === undefined || wall <= 0 ? null : diff(a, b, wall);
    }
    return { out, wall };
  };
}

/**
 * Start a CPU window over some processes (by name) plus the machine and this process;
 * `end()` answers % of one core for each, over the wall time in between.
 */
export function cpuWindow(pids) {
  const processes = processWindow(pids, cpuSeconds, (a, b, wall) => round1(((b - a) / wall) * 100));
  const m0 = machineJiffies();
  const self0 = process.cpuUsage();
  return {
    end() {
      const { out, wall } = processes();
      const self = process.cpuUsage(self0);
      out.bench = round1(((self.user + self.system) / 1e6 / wall) * 100);
      const m1 = machineJiffies();
      out.machine = round1(((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * cores * 100);
      out.wallS = Math.round(wall * 1000) / 1000;
      return out;
    },
  };
}

export function load() {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

export function round1(x) {
  return Math.round(x * 10) / 10;
}

/** Resident set now (VmRSS) of `pid` in MiB, or undefined. */
export function rssMiB(pid) {
  return statusMiB(pid, 'VmRSS');
}

/**
 * Private memory now (RssAnon: anonymous pages, the heaps and buffers) of `pid` in MiB, or
 * undefined. VmRSS also counts file-backed pages (RssFile: the executable and its libraries,
 * about 43 MiB for `node`), which every process of the same binary shares; RssAnon is what one
 * more process, or one more device in it, costs.
 */
export function anonRssMiB(pid) {
  return statusMiB(pid, 'RssAnon');
}

/** This process's limit on open files: { soft, hard } (Infinity for unlimited). */
export function openFilesLimit() {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  const n = (x) => (x === 'unlimited' ? Infinity : Number(x));
  return m ? { soft: n(m[1]), hard: n(m[2]) } : { soft: Infinity, hard: Infinity };
}

/**
 * The scheduler's account of one task (/proc/<pid>/task/<tid>/): `schedstat` gives the time it
 * ran, the time it waited runnable on a run queue (ready, but another task had the core) and its
 * timeslices, in ns; `status` its voluntary context switches (it blocked: epoll, a futex) and
 * involuntary ones (preempted while it still had work).
 */
function taskSched(pid, tid) {
  try {
    const [run, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    return { run, wait, slices, voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
  } catch {
    return undefined;
  }
}

/** The main thread's account and every thread's, by thread id. */
function processSched(pid) {
  if (pid === undefined) return undefined;
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const threads = new Map();
  for (const tid of tids) {
    const t = taskSched(pid, tid);
    if (t !== undefined) threads.set(tid, t);
  }
  const main = threads.get(String(pid));
  return main === undefined ? undefined : { main, threads };
}

/**
 * Start a scheduling window over some processes (by name); `end()` answers, per process, over the
 * wall time in between: ms per second its main thread (the event loop of a Node process) waited
 * runnable for a core (`mainWaitMsPerS`), the mean of one such wait (`mainWaitPerSliceUs`, per
 * timeslice), its context switches per second (voluntary: it went to sleep; involuntary: it was
 * preempted), and the run-queue wait of all its threads together (`waitMsPerS`, GC helpers and
 * libuv's pool for Node, the schedulers for RabbitMQ). Linux only; a process without
 * /proc/<pid>/schedstat (no CONFIG_SCHED_INFO) reports null.
 */
export function schedWindow(pids) {
  const finish = processWindow(pids, processSched, schedDiff);
  return { end: () => finish().out };
}

function schedDiff(a, b, wall) {
  const m = (f) => b.main[f] - a.main[f];
  // the threads present at both ends (a thread gone meanwhile takes its account with it)
  let waitAll = 0;
  for (const [tid, late] of b.threads) {
    const early = a.threads.get(tid);
    if (early !== undefined) waitAll += late.wait - early.wait;
  }
  const slices = m('slices');
  return {
    mainRunMsPerS: round1(m('run') / 1e6 / wall),
    mainWaitMsPerS: round1(m('wait') / 1e6 / wall),
    mainWaitPerSliceUs: slices > 0 ? round1(m('wait') / 1e3 / slices) : null,
    mainVoluntaryPerS: Math.round(m('voluntary') / wall),
    mainInvoluntaryPerS: Math.round(m('involuntary') / wall),
    waitMsPerS: round1(waitAll / 1e6 / wall),
  };
}

/** bytes `pid` has caused to be written to storage (/proc/<pid>/io), or undefined when not readable */
function writeBytes(pid) {
  try {
    return Number(/^write_bytes:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  } catch {
    return undefined;
  }
}

/**
 * What the machine and the processes on a latency path did between two marks (one turn of an
 * interleaved latency window, bench/lib/interleave.mjs): the machine's busy % (of cores × 100),
 * RabbitMQ's CPU %, the run-queue wait of all its threads and its bytes written to storage (its
 * message store, its logs), the run-queue wait of the bench's main thread (the publisher and the
 * consumer) and of each Ferry's, the bench's longest event-loop delay and its GC pauses. Each
 * mark reads a few dozen /proc files, about a millisecond of the bench's time per turn.
 */
export function sliceProbe({ rabbit, ferries }) {
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  const read = () => ({
    t: performance.now(),
    machine: machineJiffies(),
    rabbitCpu: cpuSeconds(rabbit),
    rabbit: processSched(rabbit),
    rabbitWrite: rabbit === undefined ? undefined : writeBytes(rabbit),
    bench: taskSched(process.pid, process.pid),
    ferries: ferries.map((pid) => (pid === undefined ? undefined : taskSched(pid, pid))),
  });
  // RabbitMQ's threads by what they run: its schedulers (Erlang processes), the dirty CPU
  // schedulers (long native work, among it the collection of a large process heap), the dirty
  // I/O schedulers (file operations: the message store, the logs) and the rest
  const kinds = new Map();
  if (rabbit !== undefined) {
    try {
      for (const tid of readdirSync(`/proc/${rabbit}/task`)) {
        const comm = readFileSync(`/proc/${rabbit}/task/${tid}/comm`, 'utf8').trim();
        kinds.set(tid, /dirty_cpu/.test(comm) ? 'dirtyCpu' : /dirty_io/.test(comm) ? 'dirtyIo' : /_scheduler$/.test(comm) ? 'schedulers' : 'other');
      }
    } catch {
      // gone: no breakdown
    }
  }
  let prev = read();
  const runByKind = (a, b) => {
    const out = { schedulers: 0, dirtyCpu: 0, dirtyIo: 0, other: 0 };
    if (a === undefined || b === undefined) return undefined;
    for (const [tid, late] of b.threads) {
      const early = a.threads.get(tid);
      if (early !== undefined) out[kinds.get(tid) ?? 'other'] += late.run - early.run;
    }
    return out;
  };
  const waitAll = (a, b) => {
    if (a === undefined || b === undefined) return undefined;
    let w = 0;
    for (const [tid, late] of b.threads) {
      const early = a.threads.get(tid);
      if (early !== undefined) w += late.wait - early.wait;
    }
    return w;
  };
  return {
    mark() {
      const now = read();
      const wall = (now.t - prev.t) / 1000;
      const per = (x) => (x === undefined || Number.isNaN(x) ? null : round1(x / wall));
      const out = {
        machineBusyPct: round1(((now.machine.busy - prev.machine.busy) / Math.max(1, now.machine.total - prev.machine.total)) * cores * 100),
        rabbitCpuPct: per(now.rabbitCpu === undefined || prev.rabbitCpu === undefined ? undefined : (now.rabbitCpu - prev.rabbitCpu) * 100),
        rabbitWaitMsPerS: per(((waitAll(prev.rabbit, now.rabbit) ?? NaN) / 1e6)),
        rabbitWriteKiBPerS: per(now.rabbitWrite === undefined || prev.rabbitWrite === undefined ? undefined : (now.rabbitWrite - prev.rabbitWrite) / 1024),
        rabbitRunMsPerS: Object.fromEntries(Object.entries(runByKind(prev.rabbit, now.rabbit) ?? {}).map(([k, v]) => [k, per(v / 1e6)])),
        benchWaitMsPerS: per(now.bench === undefined || prev.bench === undefined ? undefined : (now.bench.wait - prev.bench.wait) / 1e6),
        ferryWaitMsPerS: now.ferries.map((f, i) => per(f === undefined || prev.ferries[i] === undefined ? undefined : (f.wait - prev.ferries[i].wait) / 1e6)),
        benchLoopMaxMs: round1(loop.max / 1e6),
        benchGcMs: round1(gcMs),
      };
      loop.reset();
      gcMs = 0;
      prev = now;
      return out;
    },
    stop() {
      loop.disable();
      gc.disconnect();
    },
  };
}
