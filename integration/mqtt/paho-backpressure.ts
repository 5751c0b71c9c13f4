/**
 * Runs paho_backpressure.py (Eclipse Paho, Debian's python3-paho-mqtt 1.6.1), the fast publisher
 * and the deliberately slow subscriber of the listener's backpressure tests.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const script = join(here, 'paho_backpressure.py');
const python = '/usr/bin/python3';

/** Fails with how to install it when Debian's paho is missing: these tests never skip. */
export function requirePaho(): void {
  if (!existsSync('/usr/lib/python3/dist-packages/paho/mqtt/client.py')) {
    throw new Error('python3-paho-mqtt (1.6.1, Debian) is missing: apt-get install -y python3-paho-mqtt, or run integration/brokers/install.sh');
  }
}

/** Run paho_backpressure.py; resolves with its last stdout line as JSON, `onReady` once it printed "ready". */
export function paho(args: readonly (string | number)[], onReady?: () => void): { done: Promise<Record<string, unknown>>; child: ChildProcessWithoutNullStreams } {
  const child = spawn(python, [script, ...args.map(String)]);
  let out = '';
  let err = '';
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (onReady !== undefined && /^ready$/m.test(out)) {
        const ready = onReady;
        onReady = undefined;
        ready();
      }
    });
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, unknown>);
      } catch {
        reject(new Error(`paho_backpressure.py ${args.join(' ')} exited ${code} without JSON:\n${out.slice(-2000)}\n${err}`));
      }
    });
  });
  return { done, child };
}

/** Start the slow subscriber; resolves once it is subscribed, with `done`: its result, to come. */
export async function slowPahoSubscriber(
  port: number,
  topic: string,
  count: number,
  delayMs: number,
  version: 4 | 5,
  children: ChildProcessWithoutNullStreams[],
): Promise<{ readonly done: Promise<Record<string, unknown>> }> {
  let ready!: () => void;
  const subscribed = new Promise<void>((r) => (ready = r));
  const sub = paho(['sub', '127.0.0.1', port, topic, count, delayMs, version], ready);
  children.push(sub.child);
  // a subscriber that exits before "ready" (no SUBACK) must fail the test, not hang it
  await Promise.race([subscribed, sub.done.then((r) => Promise.reject(new Error(`paho subscriber ended before subscribing: ${JSON.stringify(r)}`)))]);
  return { done: sub.done };
}
