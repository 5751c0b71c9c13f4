/**
 * One scenario's scaffolding, opened in its test and closed in its `afterAll`: the temp folder
 * (route file, Ferry's log), a throw-away RabbitMQ vhost, Ferry's admin port, the Tally, and
 * whatever the scenario opens through it (counting consumers, proxies to RabbitMQ, a Mosquitto
 * of its own, the Ferry process, device fleets). `close()` closes those in the reverse order of
 * opening (the devices first, then Ferry, then what Ferry talked to), then removes the vhost and,
 * if the scenario passed, the temp folder (removeWorkspace in scenario.ts).
 */
import { Tally, TcpProxy, brokerPorts, createVhost, freePort, rabbitUrl } from '@ferry/testkit';
import { QueueCounter, type CounterOptions } from './counter.js';
import { FerryProcess, requireBuiltCli } from './ferry-process.js';
import { PersistentMosquitto } from './mosquitto.js';
import { removeWorkspace, tempDir } from './scenario.js';

export interface WorkspaceOptions {
  /** the temp folder is `ferry-faults-<dir>-…` */
  readonly dir: string;
  /** prefix of the throw-away RabbitMQ vhost; none for a scenario without RabbitMQ */
  readonly vhost?: string;
}

/** A counter on this workspace's vhost; it counts into the workspace's tally unless given another. */
export type WorkspaceCounterOptions = Omit<CounterOptions, 'vhost' | 'tally'> & { readonly tally?: Tally };

export class Workspace {
  readonly #opts: WorkspaceOptions;
  /** what `close()` closes, in the order it was opened */
  readonly #closers: (() => Promise<void> | void)[] = [];
  #dir: string | undefined;
  #vhost: string | undefined;
  #adminPort: number | undefined;
  #ferry: FerryProcess | undefined;
  /** the messages of the scenario, counted by id */
  readonly tally = new Tally();
  /** set as the scenario's last step: a passing scenario's temp folder goes (unless FERRY_FAULTS_KEEP) */
  passed = false;

  constructor(opts: WorkspaceOptions) {
    this.#opts = opts;
  }

  /** Check the build, make the temp folder and the vhost, pick Ferry's admin port. */
  async open(): Promise<void> {
    requireBuiltCli();
    this.#dir = await tempDir(this.#opts.dir);
    if (this.#opts.vhost !== undefined) this.#vhost = await createVhost(this.#opts.vhost);
    this.#adminPort = await freePort();
  }

  get dir(): string {
    return opened(this.#dir, 'dir');
  }

  get vhost(): string {
    return opened(this.#vhost, 'vhost');
  }

  /** Ferry's gateway.http.port (/readyz, /metrics) */
  get adminPort(): number {
    return opened(this.#adminPort, 'adminPort');
  }

  /** Another free port (a listener's, a Mosquitto's). */
  port(): Promise<number> {
    return freePort();
  }

  /** The AMQP 0-9-1 URL of this workspace's vhost: straight to the test RabbitMQ, or through `via`. */
  rabbitUrl(via?: TcpProxy): string {
    if (via === undefined) return rabbitUrl(this.vhost);
    return `amqp://guest:guest@127.0.0.1:${via.port}/${encodeURIComponent(this.vhost)}`;
  }

  /** A started QueueCounter on this vhost. */
  async counter(opts: WorkspaceCounterOptions): Promise<QueueCounter> {
    const counter = new QueueCounter({ ...opts, vhost: this.vhost, tally: opts.tally ?? this.tally });
    await counter.start();
    this.#closers.push(() => counter.close());
    return counter;
  }

  /** A started TcpProxy to the test RabbitMQ (its URL: `rabbitUrl(proxy)`). */
  async rabbitProxy(): Promise<TcpProxy> {
    const proxy = new TcpProxy(brokerPorts().rabbitAmqp);
    await proxy.start();
    this.#closers.push(() => proxy.stop());
    return proxy;
  }

  /** A started PersistentMosquitto of the scenario's own, on `port`, its state in the temp folder. */
  async mosquitto(port: number, maxInflight?: number): Promise<PersistentMosquitto> {
    const mosquitto = new PersistentMosquitto(this.dir, port, maxInflight);
    await mosquitto.start();
    this.#closers.push(() => mosquitto.dispose());
    return mosquitto;
  }

  /** The Ferry process for a route file (which must set gateway.http.port = adminPort), not yet started. */
  ferry(yaml: string, more: { readonly args?: readonly string[] } = {}): FerryProcess {
    const ferry = new FerryProcess({ dir: this.dir, adminPort: this.adminPort, yaml, ...more });
    this.#ferry = ferry;
    this.#closers.push(() => ferry.dispose());
    return ferry;
  }

  /** A client of the scenario's (a Fleet, a SlowSubscriber), closed at the end before what was opened before it. */
  own<T extends { close(): Promise<void> }>(client: T): T {
    this.#closers.push(() => client.close());
    return client;
  }

  /** Something more to do at the end, after what is opened later and before what was opened earlier. */
  atClose(fn: () => Promise<void> | void): void {
    this.#closers.push(fn);
  }

  /**
   * A failure message for `until` / `within`: the counts so far, then `extra()` (a progress
   * timeline, what the devices have), then the last lines of Ferry's log.
   */
  diag(extra: () => string = () => ''): () => string {
    return () => {
      const more = extra();
      return `${this.tally.summary('so far')}${more === '' ? '' : `\n${more}`}\n${this.#ferry?.diagnostics() ?? ''}`;
    };
  }

  /** Close what was opened, newest first, then remove the vhost and (if the scenario passed) the temp folder. */
  async close(): Promise<void> {
    let failure: unknown;
    for (const close of this.#closers.splice(0).reverse()) {
      try {
        await close();
      } catch (err) {
        failure ??= err;
      }
    }
    await removeWorkspace(this.#dir, this.#vhost, this.passed);
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error('a workspace closer failed', { cause: failure });
  }
}

function opened<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`workspace ${what}: open() it first${what === 'vhost' ? ' (with a vhost)' : ''}`);
  return value;
}
