/**
 * What every fault scenario shares: a temp folder (kept when the scenario fails, for its logs),
 * a throw-away RabbitMQ vhost, the counts printed in one block, and timing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteVhost, type Tally } from '@ferry/testkit';

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `ferry-faults-${prefix}-`));
}

async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * The end of every scenario, after its clients and processes closed: the vhost goes, and the
 * temp folder with Ferry's logs goes too unless the scenario failed or FERRY_FAULTS_KEEP is set.
 */
export async function removeWorkspace(dir: string | undefined, vhost: string | undefined, passed: boolean): Promise<void> {
  if (vhost) await deleteVhost(vhost).catch(() => undefined);
  if (passed && process.env['FERRY_FAULTS_KEEP'] === undefined) await removeDir(dir);
  else if (dir) console.log(`[faults] logs kept in ${dir}`);
}

/** A short unique name for this run's topics, client ids, queues. */
export function runId(prefix: string): string {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** Print the counts (sent, received, unique, duplicated, lost, unexpected) and what else the scenario measured. */
export function printCounts(label: string, tally: Tally, extra: Record<string, string | number | boolean> = {}): void {
  const rest = Object.entries(extra)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  console.log(`[faults] ${tally.summary(label)}${rest ? `\n[faults]   ${rest}` : ''}`);
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1) + ' s';
}

/** Wait until `check` is true, polling; on timeout throw with `what` and `diagnostics()`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number, diagnostics: () => string = () => ''): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${diagnostics()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A check for `until` that answers true once `sample()` has kept one value for `quietMs`: what was
 * already on its way when the scenario froze something (packets in sockets, queued callbacks) has
 * arrived, so a snapshot taken then is the state the next step acts on.
 */
export function unchangedFor(sample: () => number, quietMs: number): () => boolean {
  let last = sample();
  let since = Date.now();
  return () => {
    const now = sample();
    if (now !== last) {
      last = now;
      since = Date.now();
      return false;
    }
    return Date.now() - since >= quietMs;
  };
}

/** `p`, or a failure with `what` and `diagnostics()` after `timeoutMs`. */
export async function within<T>(p: Promise<T>, what: string, timeoutMs: number, diagnostics: () => string = () => ''): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${diagnostics()}`)), timeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Like `until`, but answers false on timeout so the test can print its counts before asserting. */
export async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  return until(check, '', timeoutMs).then(
    () => true,
    () => false,
  );
}

/**
 * Samples progress once a second (what the consumer counted, what the senders got acknowledged)
 * so a failure or a stall shows when it happened.
 */
export class Progress {
  readonly #samples: string[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #t0 = Date.now();

  constructor(sample: () => string, everyMs = 1000) {
    this.#timer = setInterval(() => this.#samples.push(`${((Date.now() - this.#t0) / 1000).toFixed(0)}s ${sample()}`), everyMs);
    this.#timer.unref();
  }

  mark(event: string): void {
    this.#samples.push(`${((Date.now() - this.#t0) / 1000).toFixed(1)}s ** ${event}`);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  toString(): string {
    return `--- progress ---\n${this.#samples.join('\n')}`;
  }
}
