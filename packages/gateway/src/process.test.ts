/**
 * `ferry start` and `npm start` as processes: all or nothing at start, signals reach the
 * gateway through npm, and nothing is left listening or running afterwards. The embedded
 * default (config/gateway.yaml) on free ports; no broker. (`npm start` builds first through its
 * prestart script; cli.test.ts needs `npx tsc -b` before it runs alone.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, listening, waitFor } from '@ferry/testkit';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const cli = join(here, '../dist/cli.js');

const servers: Server[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  // a test that failed half-way may leave npm's gateway running: SIGKILL to npm cannot be passed
  // on, so every process below each child goes first (else it holds its ports and keeps jest waiting)
  for (const c of children.splice(0)) {
    if (c.pid !== undefined) for (const pid of descendants(c.pid)) kill9(pid);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const dataDirs: string[] = [];
afterAll(() => {
  for (const d of dataDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-data-'));
  dataDirs.push(d);
  return d;
}

/** The embedded default's four ports, each a free one, as the environment variables it reads. */
async function ports(): Promise<{ env: NodeJS.ProcessEnv; all: number[]; http: number }> {
  const [mqtt, stomp, amqp, http] = [await freePort(), await freePort(), await freePort(), await freePort()] as [number, number, number, number];
  return {
    env: {
      ...process.env,
      FERRY_MQTT_PORT: String(mqtt),
      FERRY_STOMP_PORT: String(stomp),
      FERRY_AMQP_PORT: String(amqp),
      FERRY_HTTP_PORT: String(http),
      // its own data directory: one gateway per LevelDB store, and test runs may overlap
      FERRY_DATA_DIR: dataDir(),
    },
    all: [mqtt, stomp, amqp, http],
    http,
  };
}

interface Exited {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function started(cmd: string, args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; exited: Promise<Exited> } {
  const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  child.stdout.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<Exited>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, stderr: () => err, exited };
}

/** The shipped route file's text. */
const shipped = (): string => readFileSync(join(root, 'config/gateway.yaml'), 'utf8');

/** `body` in a new temporary folder, given the path of a gateway.yaml there; the folder is removed after, whatever happened. */
async function inTempDir(prefix: string, body: (dir: string, file: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    await body(dir, join(dir, 'gateway.yaml'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `ferry start` with `args`: once it watches its route file, `change` (given what it logged so
 * far) changes the file; the gateway must reload it, the temperatures route changed, and stop
 * cleanly on SIGTERM.
 */
async function reloadedOnChange(args: string[], env: NodeJS.ProcessEnv, what: string, change: (stderr: string) => void): Promise<void> {
  const ferry = started(process.execPath, [cli, 'start', ...args], env);
  await waitFor(() => ferry.stderr().includes('watching the route file for changes'), 'the gateway to run and watch', 60_000, 50);
  change(ferry.stderr());
  await waitFor(() => /configuration reloaded .*routesChanged=temperatures/.test(ferry.stderr()), what, 30_000, 50);
  ferry.child.kill('SIGTERM');
  expect(await ferry.exited).toEqual({ code: 0, signal: null });
}

/** Every process below `pid` now (children, grandchildren), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // the command name is in parentheses and may hold spaces: the fields after it are fixed
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(name), Number(after[1]));
    } catch {
      // the process went away while we read
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

function kill9(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start', () => {
  it('SIGTERM to npm reaches the gateway: it drains and stops, every port closes, no process remains', async () => {
    const p = await ports();
    const npm = started('npm', ['start', '--silent'], p.env);
    await waitFor(() => npm.stderr().includes('gateway running'), 'the gateway to run under npm start', 120_000, 50);
    for (const port of p.all) expect(await listening(port)).toBe(true);
    // one wording for every listening line, the admin server's included
    const [mqtt, stomp, amqp, http] = p.all;
    for (const line of [
      `mqtt-listener listening on 127.0.0.1:${mqtt}`,
      `stomp-listener listening on 127.0.0.1:${stomp}`,
      `amqp10-listener listening on 127.0.0.1:${amqp}`,
      `admin server listening on 127.0.0.1:${http}`,
    ]) {
      expect(npm.stderr()).toContain(` info ${line}`);
    }
    const below = descendants(npm.child.pid!);
    expect(below.length).toBeGreaterThan(0);

    npm.child.kill('SIGTERM');
    const exit = await npm.exited;
    expect(npm.stderr()).toContain('SIGTERM: draining and stopping');
    expect(npm.stderr()).toContain('gateway stopped');
    expect(exit).toEqual({ code: 0, signal: null });
    await waitFor(() => below.every((pid) => !alive(pid)), `no process left below npm (${below.join(', ')})`, 10_000, 50);
    for (const port of p.all) expect(await listening(port)).toBe(false);
  }, 180_000);
});

describe('watching the route file (ferry start --watch, gateway.reload.watch)', () => {
  it('reloads when the route file changes, as SIGHUP would, and says what changed', async () => {
    const p = await ports();
    await inTempDir('ferry-watch-', async (_dir, file) => {
      writeFileSync(file, shipped());
      await reloadedOnChange(['-c', file, '--watch'], p.env, 'the reload after the change', () => writeFileSync(file, shipped().replace('ferry/{1}/temperature', 'ferry/{1}/temp')));
    });
  }, 90_000);

  it('gateway.reload.watch: a route file mounted like a ConfigMap (a ..data symlink swapped to a new folder) is reloaded without --watch', async () => {
    const p = await ports();
    await inTempDir('ferry-watch-cm-', async (dir, file) => {
      const original = shipped().replace(/^gateway:\n/m, 'gateway:\n  reload: { watch: true }\n');
      // the kubelet's layout: <dir>/gateway.yaml -> ..data/gateway.yaml, ..data -> ..<timestamp>
      const version = (name: string, text: string): void => {
        mkdirSync(join(dir, name));
        writeFileSync(join(dir, name, 'gateway.yaml'), text);
      };
      version('..v1', original);
      symlinkSync('..v1', join(dir, '..data'));
      symlinkSync('..data/gateway.yaml', file);
      await reloadedOnChange(['-c', file], p.env, 'the reload after the swap', (stderr) => {
        expect(stderr).toContain('gateway.reload.watch');
        version('..v2', original.replace('ferry/{1}/temperature', 'ferry/{1}/temp'));
        symlinkSync('..v2', join(dir, '..data_tmp'));
        renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      });
    });
  }, 90_000);
});

describe('ferry start is all or nothing', () => {
  it('admin port busy: one clear line, exit code 1, no port left open', async () => {
    const p = await ports();
    const busy = createServer();
    servers.push(busy);
    await new Promise<void>((r) => busy.listen(p.http, '127.0.0.1', () => r()));
    const ferry = started(process.execPath, [cli, 'start', '-c', 'config/gateway.yaml'], p.env);
    // a gateway that keeps running after its admin server failed never exits: the test times out
    const exit = await ferry.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    const errors = ferry.stderr().split('\n').filter((l) => l.includes(' error '));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`cannot start: admin server: cannot listen on 127.0.0.1:${p.http}`);
    expect(errors[0]).toContain('EADDRINUSE');
    for (const port of p.all.filter((x) => x !== p.http)) expect(await listening(port)).toBe(false);
  }, 60_000);

  it('a listener port busy: exit code 1, the admin server and the other listeners closed', async () => {
    const p = await ports();
    const busy = createServer();
    servers.push(busy);
    const stomp = p.all[1]!;
    await new Promise<void>((r) => busy.listen(stomp, '0.0.0.0', () => r()));
    const ferry = started(process.execPath, [cli, 'start', '-c', 'config/gateway.yaml'], p.env);
    const exit = await ferry.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(ferry.stderr()).toMatch(/error cannot start: .*web: .*EADDRINUSE/);
    for (const port of p.all.filter((x) => x !== stomp)) expect(await listening(port)).toBe(false);
  }, 60_000);
});
