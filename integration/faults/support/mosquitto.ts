/**
 * A Mosquitto of the test's own with persistence, so it can be restarted in the middle of a
 * stream and keep its sessions (the shared test Mosquitto runs with `persistence false`).
 * Mosquitto writes its state on a clean shutdown (SIGTERM) and every `autosave_interval` s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, writeFile } from 'node:fs/promises';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { portOpen } from './rabbit.js';

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export class PersistentMosquitto {
  readonly #dir: string;
  readonly port: number;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #log: WriteStream | undefined;
  readonly logFile: string;

  constructor(
    dir: string,
    port: number,
    readonly maxInflight = Number(process.env['FERRY_FAULTS_MOSQ_INFLIGHT'] ?? 0),
  ) {
    this.#dir = dir;
    this.port = port;
    this.logFile = join(dir, 'mosquitto.log');
  }

  async start(): Promise<void> {
    if (this.#child) return;
    // As root Mosquitto drops to user `mosquitto`, which must be able to write its database here.
    await chmod(this.#dir, 0o777);
    const conf = join(this.#dir, 'mosquitto.conf');
    await writeFile(
      conf,
      [
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${this.#dir}/`,
        // also saved every 5 s (a save writes the whole database: every 1 s slowed it down with a
        // backlog of 20,000 messages); what a restart needs is the save at SIGTERM
        'autosave_interval 5',
        // unlimited queue for a persistent session that falls behind (the default 1000 drops the
        // rest: a loss Mosquitto is configured for, not one Ferry makes)
        'max_queued_messages 0',
        // in flight to a subscriber; Mosquitto's default is 20. 0 (unlimited) is the hard case:
        // Mosquitto pushes the whole backlog at Ferry, whose mqtt source must hold it back by
        // itself (route maxInFlight, flow control; docs/faults.md, "Findings")
        `max_inflight_messages ${this.maxInflight}`,
        'set_tcp_nodelay true',
        'log_dest stderr',
        // FERRY_FAULTS_MOSQ_LOG=all logs every packet (PUBLISH with its mid and DUP flag, PUBACK):
        // for reading what Mosquitto sends again to a session, not for normal runs
        ...(process.env['FERRY_FAULTS_MOSQ_LOG'] === 'all' ? ['log_type all', 'log_timestamp_format %H:%M:%S'] : ['log_type error', 'log_type warning', 'log_type notice']),
        '',
      ].join('\n'),
    );
    this.#log ??= createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    live.add(child);
    this.#exited = new Promise((resolve) =>
      child.once('exit', () => {
        live.delete(child);
        this.#child = undefined;
        resolve();
      }),
    );
    child.stdout.pipe(this.#log, { end: false });
    child.stderr.pipe(this.#log, { end: false });
    const end = Date.now() + 10_000;
    while (!(await portOpen(this.port))) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mosquitto exited at start; see ${this.logFile}`);
      if (Date.now() > end) throw new Error(`mosquitto not listening on ${this.port} after 10 s; see ${this.logFile}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGTERM: Mosquitto saves its sessions and queued messages, then exits. */
  async stop(): Promise<void> {
    const c = this.#child;
    if (!c) return;
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(timer);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.#log?.end();
    this.#log = undefined;
  }
}
