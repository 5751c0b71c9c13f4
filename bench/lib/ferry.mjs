/**
 * Ferry as a child process, as in production: `node packages/gateway/dist/cli.js start -c <file>`
 * (the same way integration/faults/support/ferry-process.ts runs it). One fresh process per run,
 * so its CPU and peak RSS belong to that run alone.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'packages/gateway/dist/cli.js');

const live = new Set();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function requireBuiltCli() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (\`npx tsc -b\`; \`npm run bench\` does it)`);
}

export class FerryChild {
  /**
   * @param {{ yaml: string, dir: string, name: string, adminPort: number, profDir?: string, preload?: string, nodeArgs?: string[] }} opts
   */
  constructor(opts) {
    this.opts = opts;
    this.child = undefined;
    this.exited = Promise.resolve();
    this.tail = [];
  }

  get pid() {
    return this.child?.pid;
  }

  get running() {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async start(timeoutMs = 30_000) {
    const { dir, name, yaml, adminPort, profDir, preload } = this.opts;
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    const log = createWriteStream(join(dir, `${name}.log`));
    const nodeArgs = [...(this.opts.nodeArgs ?? [])];
    if (profDir) {
      await mkdir(profDir, { recursive: true });
      // written when the process exits normally, so stop() must be a SIGTERM drain, not a kill
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`);
    }
    // an experiment loaded into Ferry's process before the CLI (bench/experiments)
    if (preload) nodeArgs.push('--import', pathToFileURL(preload).href);
    const child = spawn(process.execPath, [...nodeArgs, CLI, 'start', '-c', file, '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: ROOT,
    });
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
      if (this.tail.length > 50) this.tail.splice(0, this.tail.length - 50);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => this.tail.push(`spawn error: ${err.message}`));
    const end = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`Ferry exited before it was ready (${this.exit})\n${this.diagnostics()}`);
      if (await this.#ready()) return;
      if (Date.now() > end) throw new Error(`Ferry not ready after ${timeoutMs} ms\n${this.diagnostics()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async #ready() {
    try {
      const res = await fetch(`http://127.0.0.1:${this.opts.adminPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * Sums of Ferry's own counters from /metrics (`ferry_<name>` over all label sets), so a run
   * can be checked against what Ferry says it did.
   */
  async counters(names) {
    try {
      const res = await fetch(`http://127.0.0.1:${this.opts.adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
      const text = await res.text();
      const out = {};
      for (const name of names) {
        let sum = 0;
        for (const line of text.split('\n')) {
          if (!line.startsWith(`ferry_${name}{`) && !line.startsWith(`ferry_${name} `)) continue;
          const v = Number(line.slice(line.lastIndexOf(' ') + 1));
          if (Number.isFinite(v)) sum += v;
        }
        out[name] = sum;
      }
      return out;
    } catch {
      return undefined;
    }
  }

  /** SIGTERM (Ferry drains and exits, writing its CPU profile when profiled); SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000) {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }

  diagnostics() {
    return `--- Ferry's last log lines (${join(this.opts.dir, `${this.opts.name}.log`)}) ---\n${this.tail.join('\n')}`;
  }
}
