/**
 * Ferry as a real child process (`node packages/gateway/dist/cli.js start -c <file>`), so a
 * fault test can do to it what an operator's machine does: kill -9, restart, measure its RSS.
 * Its stderr (the log) goes to a file in the run's temp folder and the last lines stay in memory
 * for the failure message.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** the built CLI; FERRY_FAULTS_CLI points the suite at another build (docs/faults.md: checking that a test can fail) */
const CLI = process.env['FERRY_FAULTS_CLI'] ?? join(ROOT, 'packages/gateway/dist/cli.js');

/** Children still running when the test process exits are killed, never left behind. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Fail with a clear message when the build has not run (npm test runs `tsc -b` first). */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) {
    throw new Error(`${CLI} is missing: the fault suite runs the built gateway. Run \`npx tsc -b\` first (npm test does).`);
  }
}

export interface FerryProcessOptions {
  /** the route file's text; it must set gateway.http.port = adminPort */
  readonly yaml: string;
  /** folder for the route file and the log */
  readonly dir: string;
  readonly adminPort: number;
  readonly logLevel?: 'error' | 'warn' | 'info' | 'debug';
  /** lines of stderr kept in memory for diagnostics */
  readonly tailLines?: number;
  /** more `ferry start` options, e.g. `['--drain-timeout', '1000']` */
  readonly args?: readonly string[];
}

/**
 * What `start` waits for: 'ready' is /readyz = 200 (every connector up); 'live' is /healthz = 200
 * (the process answers; a destination may still be unreachable, as after a restart into an outage).
 */
export type StartedWhen = 'ready' | 'live';

export class FerryProcess {
  readonly #opts: FerryProcessOptions;
  readonly #file: string;
  readonly logFile: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log: WriteStream | undefined;
  #tail: string[] = [];
  #partial = '';
  /** how many processes were started (1 + restarts) */
  starts = 0;
  /** exit codes / signals of processes that ended, in order */
  readonly exits: string[] = [];

  constructor(opts: FerryProcessOptions) {
    this.#opts = opts;
    this.#file = join(opts.dir, 'ferry.yaml');
    this.logFile = join(opts.dir, 'ferry.log');
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Write the route file, spawn Ferry and wait until /readyz (or, with 'live', /healthz) answers 200. */
  async start(readyTimeoutMs = 30_000, when: StartedWhen = 'ready'): Promise<void> {
    if (this.running) return;
    requireBuiltCli();
    await writeFile(this.#file, this.#opts.yaml);
    this.#log ??= createWriteStream(this.logFile, { flags: 'a' });
    this.starts++;
    this.#log.write(`\n===== ferry start #${this.starts} at ${new Date().toISOString()} =====\n`);
    const args = [CLI, 'start', '-c', this.#file, '--log-level', this.#opts.logLevel ?? 'info', ...(this.#opts.args ?? [])];
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    this.#child = child;
    live.add(child);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exits.push(signal ?? `exit ${String(code)}`);
        this.#line(`===== ferry pid ${String(child.pid)} ended: ${signal ?? `exit ${String(code)}`} =====`);
        resolve();
      });
    });
    child.on('error', (err) => this.#line(`spawn error: ${err.message}`));
    child.stdout.on('data', (b: Buffer) => this.#chunk(b));
    child.stderr.on('data', (b: Buffer) => this.#chunk(b));
    await this.waitReady(readyTimeoutMs, when);
  }

  /** Poll /readyz (or /healthz) until 200; fails at once if the process ended. */
  async waitReady(timeoutMs = 30_000, when: StartedWhen = 'ready'): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`Ferry exited before it was ${when} (${this.exits.at(-1) ?? '?'})\n${this.diagnostics()}`);
      if (await (when === 'ready' ? this.ready() : this.live())) return;
      if (Date.now() > end) throw new Error(`Ferry not ${when} after ${timeoutMs} ms\n${this.diagnostics()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** /readyz = 200: every connector is up */
  ready(): Promise<boolean> {
    return this.#ok('/readyz');
  }

  /** /healthz = 200: the process answers (the admin endpoint starts once the gateway runs) */
  live(): Promise<boolean> {
    return this.#ok('/healthz');
  }

  async #ok(path: string): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.#opts.adminPort}${path}`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** The process's resident set size in KiB (Linux /proc), undefined when it is not running. */
  rssKiB(): number | undefined {
    const pid = this.pid;
    if (pid === undefined || !this.running) return undefined;
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** kill -9: no drain, no goodbye; in-flight messages are only where the peers still hold them. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM (graceful drain); SIGKILL if it has not ended after `timeoutMs`. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.#child?.kill('SIGTERM');
    const timer = setTimeout(() => this.#child?.kill('SIGKILL'), timeoutMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Stop whatever runs and close the log. */
  async dispose(): Promise<void> {
    await this.stop(5_000);
    await new Promise<void>((resolve) => (this.#log ? this.#log.end(() => resolve()) : resolve()));
    this.#log = undefined;
  }

  /** Lines of the log that match `re` (from the in-memory tail). */
  grep(re: RegExp): string[] {
    return this.#tail.filter((l) => re.test(l));
  }

  /** The last lines Ferry wrote, for a failure message. */
  diagnostics(): string {
    return `--- last ${this.#tail.length} lines of Ferry's log (all of it: ${this.logFile}) ---\n${this.#tail.join('\n')}`;
  }

  #chunk(b: Buffer): void {
    this.#log?.write(b);
    const text = this.#partial + b.toString('utf8');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const l of lines) this.#keep(l);
  }

  #line(l: string): void {
    this.#log?.write(l + '\n');
    this.#keep(l);
  }

  #keep(l: string): void {
    this.#tail.push(l);
    const max = this.#opts.tailLines ?? 200;
    if (this.#tail.length > max) this.#tail.splice(0, this.#tail.length - max);
  }
}

/** One sample of a Prometheus series from Ferry's /metrics (the first line whose name and labels match), or undefined. */
export async function metric(adminPort: number, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (Number.isFinite(v)) return v;
    }
    return undefined;
  } catch {
    return undefined;
  }
}
