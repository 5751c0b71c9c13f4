/**
 * Third-party clients the listeners are proven with (clients Ferry does not itself use):
 * mosquitto_pub/sub, and Debian's python3 with paho-mqtt, stomp.py and qpid-proton.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Run a third-party client and collect its exit code and output. Never throws for a non-zero
 * exit: refusals are what these tests look at.
 */
export function runClient(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** Debian's python3 (the one with python3-paho-mqtt, python3-stomp and python3-qpid-proton). */
const PYTHON = '/usr/bin/python3';

/**
 * Run a python3 script file. Fails with how to get the module when it is missing
 * (integration/brokers/install.sh installs them), so a test never skips silently.
 */
export async function runPythonFile(path: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<Run> {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} missing: apt-get install -y python3 (integration/brokers/install.sh does)`);
  const r = await runClient(PYTHON, [path, ...args], { timeoutMs });
  if (/ModuleNotFoundError|ImportError/.test(r.stderr)) {
    throw new Error(`a Python module is missing: ${r.stderr.trim()}\ninstall: apt-get install -y python3-paho-mqtt python3-stomp python3-qpid-proton python3-websocket (integration/brokers/install.sh does)`);
  }
  return r;
}

/** Run a python3 script given as text (`python3 -c`), with the same missing-module check. */
export function runPython(script: string, args: readonly string[] = [], timeoutMs = 20_000): Promise<Run> {
  return runPythonFile('-c', [script, ...args], timeoutMs);
}
