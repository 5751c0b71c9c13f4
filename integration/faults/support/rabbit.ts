/**
 * Restarting the test RabbitMQ with the same scripts and ports env that started it
 * (integration/brokers: rabbit-stop.sh is a graceful SIGTERM, rabbit-start.sh + rabbit-wait.sh
 * boot it again with its state, about 7 s each here). Only the fault suite does this, and it runs
 * after every other integration test, in band.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerPorts } from '@ferry/testkit';
import { Socket } from 'node:net';

const BROKERS = fileURLToPath(new URL('../../brokers/', import.meta.url));

function script(name: string, args: string[] = [], timeoutMs = 150_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [join(BROKERS, name), ...args], { env: process.env, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name} failed: ${err.message}\n${stdout}\n${stderr}`));
      else resolve(stdout + stderr);
    });
  });
}

/** true when something accepts TCP connections on 127.0.0.1:port */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.connect(port, '127.0.0.1');
  });
}

export async function stopRabbit(): Promise<void> {
  await script('rabbit-stop.sh');
}

/** Launch the node (returns at once, it boots in the background). */
export async function launchRabbit(): Promise<void> {
  await script('rabbit-start.sh');
}

/** Until the node booted and every listener accepts connections. */
export async function waitRabbit(): Promise<void> {
  await script('rabbit-wait.sh', ['120']);
}

async function startRabbit(): Promise<void> {
  await launchRabbit();
  await waitRabbit();
}

/** Start RabbitMQ again if it is not answering (afterAll of a test that stopped it). */
export async function ensureRabbit(): Promise<void> {
  if (await portOpen(brokerPorts().rabbitAmqp)) return;
  await stopRabbit().catch(() => undefined); // clear a half-dead node's pid files first
  await startRabbit();
}
