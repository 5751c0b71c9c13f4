/**
 * A server the bench starts as its own process (Ferry, aedes, Mosquitto): its output goes to a
 * log file and the last lines are kept for the error message of a failed run; it is killed when
 * the bench exits, and stopped with SIGTERM (SIGKILL after a time-out) so that it drains and,
 * when profiled, writes its profile.
 *
 * Each server starts in a session of its own (spawn's `detached`, setsid(2)), as a service under
 * an init system does. With the kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled)
 * CPU time is shared first between sessions, then between the processes of one session: a server
 * left in the bench's session would compete for one share with the bench's own clients, while
 * RabbitMQ, started by integration/brokers, has a session of its own. BENCH_SERVER_SESSION=shared
 * keeps the servers in the bench's session, to measure what that costs.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const live = new Set();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
// a bench stopped by a signal exits through 'exit' too, so no server outlives it (a server in a
// session of its own does not get a terminal's Ctrl-C)
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.once(signal, () => process.exit(code));

/** Whether servers start in a session of their own (the default) or in the bench's. */
export const OWN_SESSION = (process.env.BENCH_SERVER_SESSION ?? 'own') !== 'shared';
if (!['own', 'shared'].includes(process.env.BENCH_SERVER_SESSION ?? 'own')) {
  throw new Error(`BENCH_SERVER_SESSION must be 'own' or 'shared', not '${process.env.BENCH_SERVER_SESSION}'`);
}

export class ServerChild {
  /** @param {{ what: string, log: string, keepLines?: number }} opts */
  constructor(opts) {
    this.opts = opts;
    this.child = undefined;
    this.exited = Promise.resolve();
    this.exit = undefined;
    this.tail = [];
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawn `command args` (cwd `cwd`), then poll `ready()` every 50 ms until it answers true. */
  async spawnUntil(command, args, cwd, ready, timeoutMs) {
    const log = createWriteStream(this.opts.log);
    const keepLines = this.opts.keepLines ?? 50;
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd, detached: OWN_SESSION });
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exit = signal ?? `exit ${code}`;
        log.end();
        resolve();
      });
    });
    const keep = (b) => {
      log.write(b);
      this.tail.push(...b.toString('utf8').split('\n').filter(Boolean));
      if (this.tail.length > keepLines) this.tail.splice(0, this.tail.length - keepLines);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => this.tail.push(`spawn error: ${err.message}`));
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.opts.what} exited before it was ready (${this.exit})\n${this.diagnostics()}`);
      if (await ready()) return;
      if (Date.now() > end) throw new Error(`${this.opts.what} not ready after ${timeoutMs} ms\n${this.diagnostics()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000) {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  diagnostics() {
    return `--- ${this.opts.what}'s last log lines (${this.opts.log}) ---\n${this.tail.join('\n')}`;
  }
}
