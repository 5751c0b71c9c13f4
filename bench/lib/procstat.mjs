/**
 * CPU and memory of processes, read from Linux /proc (no dependency, no sampling thread).
 * CPU is reported as % of ONE core over a window (the machine has nproc × 100 %).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

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
