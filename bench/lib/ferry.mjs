/**
 * Ferry as a child process, as in production: `node packages/gateway/dist/cli.js start -c <file>`
 * (the same way integration/faults/support/ferry-process.ts runs it). One fresh process per run,
 * so its CPU and peak RSS belong to that run alone.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ServerChild } from './child.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(ROOT, 'packages/gateway/dist/cli.js');

export function requireBuiltCli() {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (\`npx tsc -b\`; \`npm run bench\` does it)`);
}

export class FerryChild extends ServerChild {
  /**
   * @param {{ yaml: string, dir: string, name: string, adminPort: number, profDir?: string, preload?: string, diag?: boolean, node?: string, nodeArgs?: string[], launch?: string[], cli?: string, noLaunchFlags?: boolean }} opts
   */
  constructor(opts) {
    super({ what: 'Ferry', log: join(opts.dir, `${opts.name}.log`) });
    this.ferry = opts;
  }

  async start(timeoutMs = 30_000) {
    const { dir, name, yaml, profDir, preload } = this.ferry;
    await mkdir(dir, { recursive: true });
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    // the V8 flags Ferry's launchers pass (packages/gateway/src/node-flags.ts), from the build
    // being run: a build from before they existed runs without
    const cli = this.ferry.cli ?? CLI;
    const flagsFile = join(dirname(cli), 'node-flags.js');
    const launch = existsSync(flagsFile) && !this.ferry.noLaunchFlags ? (await import(pathToFileURL(flagsFile).href)).NODE_FLAGS : [];
    const nodeArgs = [...launch, ...(this.ferry.nodeArgs ?? [])];
    if (profDir) {
      await mkdir(profDir, { recursive: true });
      // written when the process exits normally, so stop() must be a SIGTERM drain, not a kill
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}.cpuprofile`);
    }
    // an experiment loaded into Ferry's process before the CLI (bench/experiments)
    if (preload) nodeArgs.push('--import', pathToFileURL(preload).href);
    if (this.ferry.diag) {
      const diag = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'ferry-diag.mjs'));
      diag.searchParams.set('out', this.diagFile);
      nodeArgs.push('--import', diag.href);
    }
    const argv = [this.ferry.node ?? process.execPath, ...nodeArgs, cli, 'start', '-c', file, '--log-level', 'warn'];
    // a launcher (FERRY_LAUNCH: nice, setsid, chrt, taskset) execs node in the same process
    const [command, ...args] = [...(this.ferry.launch ?? []), ...argv];
    await this.spawnUntil(command, args, ROOT, () => this.#ready(), timeoutMs);
  }

  /** where FERRY_DIAG's seconds are written when the process exits (bench/lib/ferry-diag.mjs) */
  get diagFile() {
    return join(this.ferry.dir, `${this.ferry.name}.diag.json`);
  }

  /** FERRY_DIAG's seconds, once the process has exited; undefined without FERRY_DIAG or when it wrote none */
  async diagSeconds() {
    if (!this.ferry.diag) return undefined;
    try {
      return JSON.parse(await readFile(this.diagFile, 'utf8')).seconds;
    } catch {
      return undefined;
    }
  }

  async #ready() {
    try {
      const res = await fetch(`http://127.0.0.1:${this.ferry.adminPort}/readyz`, { signal: AbortSignal.timeout(1000) });
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
      const res = await fetch(`http://127.0.0.1:${this.ferry.adminPort}/metrics`, { signal: AbortSignal.timeout(2000) });
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
}
