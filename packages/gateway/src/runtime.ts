import { isDeepStrictEqual } from 'node:util';
import { describeError, type AnyConnectorDefinition, type Logger } from '@ferry/core';
import { loadConfig, type GatewayConfig } from '@ferry/config';
import { AdminHttp } from './admin-http.js';
import { DashboardHttp } from './dashboard/http.js';
import { RecentLog, recordingLogger } from './dashboard/recent-log.js';
import { StatusBoard } from './dashboard/status.js';
import { Gateway } from './gateway.js';
import { diffFields, isEmptyDiff } from './reload-diff.js';
import { PromMetrics } from './metrics.js';

export interface RuntimeOptions {
  readonly file: string;
  readonly registry: ReadonlyMap<string, AnyConnectorDefinition>;
  readonly logger: Logger;
  readonly drainTimeoutMs?: number;
}

/**
 * The `ferry start` process: the running gateway, its admin endpoint, and reload. A reload
 * whose file has any error keeps the running configuration; a valid one replaces it (sources
 * of the old configuration drain first, so nothing in flight is lost).
 */
export class Runtime {
  #gateway: Gateway | undefined;
  #admin: AdminHttp | undefined;
  #metrics: PromMetrics | undefined;
  #reloading: Promise<boolean> | undefined;
  #starting: Promise<boolean> | undefined;
  #stopping: Promise<void> | undefined;
  /** every log line goes to opts.logger; warn and error lines are also kept for the dashboard */
  readonly #logger: Logger;
  readonly #board: StatusBoard;

  constructor(private readonly opts: RuntimeOptions) {
    const recent = new RecentLog();
    this.#logger = recordingLogger(opts.logger, recent);
    this.#board = new StatusBoard({
      config: () => this.#gateway?.config,
      connectorStates: () => this.#gateway?.connectorStates() ?? {},
      ready: () => this.#gateway?.ready() ?? false,
      definition: (type) => opts.registry.get(type),
      spoolDepth: () => this.#gateway?.spoolDepth() ?? {},
      series: async (name) => (await this.#metrics?.series(name)) ?? [],
      recent,
    });
  }

  get gateway(): Gateway | undefined {
    return this.#gateway;
  }

  get adminPort(): number | undefined {
    return this.#admin?.address?.port;
  }

  /**
   * Load, validate and start, all or nothing: resolves false (errors logged) when the file is
   * invalid; rejects when any part cannot start (the admin server, a listener's port), after
   * stopping every part that did start, so a failed start leaves no port open.
   */
  start(): Promise<boolean> {
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<boolean> {
    const config = await this.#load();
    if (!config) return false;
    this.#metrics = new PromMetrics(config.gateway.id);
    const gateway = await Gateway.load(config, { registry: this.opts.registry, logger: this.#logger, metrics: this.#metrics });
    this.#gateway = gateway;
    try {
      // The admin server first: a busy admin port is found before any device is let in, and
      // /readyz answers 503 while the connectors come up.
      await this.#startAdmin(config);
      await gateway.start();
    } catch (err) {
      await this.#stopParts();
      throw err;
    }
    return true;
  }

  /** Re-read the file; true when the new configuration runs, false when it was refused. */
  reload(): Promise<boolean> {
    this.#reloading ??= this.#reload().finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  /** Stop everything; waits for a start or a reload under way first. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => undefined);
      await this.#reloading?.catch(() => undefined);
      await this.#stopParts();
    })();
    return this.#stopping;
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  async #stopParts(): Promise<void> {
    await this.#admin?.stop();
    this.#admin = undefined;
    await this.#gateway?.stop(this.opts.drainTimeoutMs);
  }

  async #reload(): Promise<boolean> {
    const logger = this.#logger;
    await this.#starting?.catch(() => undefined);
    const gateway = this.#gateway;
    if (this.stopping || gateway === undefined) return false;
    const config = await this.#load();
    if (!config) {
      logger.error('reload refused: the running configuration stays', { file: this.opts.file });
      return false;
    }
    const running = gateway.config;
    const httpChanged = !isDeepStrictEqual(running.gateway.http, config.gateway.http);
    const oldAdmin = this.#admin;
    try {
      if (httpChanged) {
        // a new admin address: the old server stops first (it may keep its port with another host)
        await oldAdmin?.stop();
        this.#admin = undefined;
        await this.#startAdmin(config);
      }
      // the same admin settings: renewed certificate files are served from now on
      if (!httpChanged) await this.#admin?.reloadTls();
      const diff = await gateway.reconfigure(config, this.opts.drainTimeoutMs);
      if (httpChanged) logger.info('reload: the admin server moved', { to: config.gateway.http ? `${config.gateway.http.host}:${config.gateway.http.port}` : 'off' });
      logger.info(isEmptyDiff(diff) ? 'configuration reloaded: nothing changed' : 'configuration reloaded', { file: this.opts.file, ...diffFields(diff) });
      return true;
    } catch (err) {
      if (httpChanged) {
        await this.#admin?.stop();
        this.#admin = undefined;
        try {
          await this.#startAdmin(running);
        } catch (e) {
          logger.error('the admin server could not start again after a failed reload', { error: describeError(e) });
        }
      }
      logger.error(`reload failed: ${describeError(err)}; the previous configuration keeps serving`, { file: this.opts.file });
      return false;
    }
  }

  async #load(): Promise<GatewayConfig | undefined> {
    const result = await loadConfig(this.opts.file, this.opts.registry);
    if (result.ok) return result.config;
    for (const e of result.errors) this.#logger.error(e.format());
    this.#logger.error(`${this.opts.file}: ${result.errors.length} error${result.errors.length === 1 ? '' : 's'}; not started`);
    return undefined;
  }

  async #startAdmin(config: GatewayConfig): Promise<void> {
    const http = config.gateway.http;
    if (!http) return;
    const metrics = this.#metrics;
    const admin = new AdminHttp(
      {
        connectors: () => this.#gateway?.connectorStates() ?? {},
        routes: () =>
          (this.#gateway?.config.routes ?? []).map((r) => ({
            name: r.name,
            from: r.from.connector,
            to: r.to.map((t) => t.connector),
          })),
        ready: () => this.#gateway?.ready() ?? false,
        metrics: async () => ({
          contentType: metrics?.registry.contentType ?? 'text/plain',
          body: (await metrics?.registry.metrics()) ?? '',
        }),
        handlers: [new DashboardHttp({ status: () => this.#board.snapshot(), logger: this.#logger.child({ component: 'dashboard' }) })],
      },
      this.#logger.child({ component: 'admin' }),
      http.port,
      http.host,
      http.tls === undefined ? undefined : { settings: http.tls, baseDir: config.baseDir },
      http.token,
    );
    await admin.start();
    this.#admin = admin;
  }
}
