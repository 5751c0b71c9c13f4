import {
  FerryError,
  describeError,
  type AnyConnectorDefinition,
  type Connector,
  type ConnectorContext,
  type Logger,
  type Metrics,
  type Sink,
  type SourceSpec,
} from '@ferry/core';
import path from 'node:path';
import { Engine, RouteTable } from '@ferry/router';
import type { GatewayConfig } from '@ferry/config';
import { Spool, SpooledSink } from '@ferry/spool';

export interface GatewayOptions {
  readonly registry: ReadonlyMap<string, AnyConnectorDefinition>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** how long `start` waits for one connector before going on (it keeps connecting) */
  readonly connectorStartTimeoutMs?: number;
  /** how long a sink may take to confirm before the message counts as failed */
  readonly sinkTimeoutMs?: number;
}

interface Live {
  readonly connector: Connector<Record<string, unknown>, Record<string, unknown>>;
  readonly definition: AnyConnectorDefinition;
}

/**
 * One running configuration: its connectors, its compiled route table and the engine between
 * them. Start order: every connector (so sinks are ready), then sources. Stop order: sources
 * stop taking, in-flight messages drain, then connectors close.
 */
export class Gateway {
  readonly #config: GatewayConfig;
  readonly #opts: GatewayOptions;
  readonly #live = new Map<string, Live>();
  readonly #table: RouteTable;
  #engine: Engine | undefined;
  // ---- durable spool (docs/spool.md): absent unless gateway.spool is configured ----
  readonly #spool: Spool | undefined;
  /** sink connector name → its spooled sink, for every sink some listener's route writes to */
  readonly #spooled = new Map<string, SpooledSink<Record<string, unknown>>>();
  // ---- end durable spool ----
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  /** Builds connectors and compiles routes; no I/O. Throws FerryError CONFIG_INVALID on a bad route table. */
  constructor(config: GatewayConfig, opts: GatewayOptions) {
    this.#config = config;
    this.#opts = opts;
    const entries = new Map<string, { spec: GatewayConfig['connectors'][number]; definition: AnyConnectorDefinition }>();
    for (const spec of config.connectors) {
      const definition = opts.registry.get(spec.type);
      if (!definition) throw new FerryError('CONFIG_INVALID', `unknown connector type "${spec.type}"`);
      entries.set(spec.name, { spec, definition });
    }
    this.#table = RouteTable.compile(config.routes, entries);
    for (const [name, { spec, definition }] of entries) {
      const ctx: ConnectorContext = {
        gatewayId: config.gateway.id,
        logger: opts.logger.child({ connector: name, type: spec.type }),
        metrics: opts.metrics,
        baseDir: config.baseDir,
      };
      const connector = definition.create(ctx, name, spec.options) as Connector<Record<string, unknown>, Record<string, unknown>>;
      this.#live.set(name, { connector, definition });
    }
    this.#spool = this.#buildSpool();
  }

  // ---- durable spool (docs/spool.md) -----------------------------------------------------

  /**
   * With `gateway.spool`, every sink that a listener's route writes to gets a SpooledSink in
   * front: messages Ferry accepted from its own listeners are kept on disk while that sink is
   * unreachable. Broker sources are left as they are (their broker keeps the message). No I/O.
   */
  #buildSpool(): Spool | undefined {
    const section = this.#config.gateway.spool;
    if (section === undefined) return undefined;
    const { logger, metrics } = this.#opts;
    const spool = new Spool({
      dir: path.resolve(this.#config.baseDir, section.dir),
      maxBytes: section.maxBytes,
      overflow: section.overflow,
      logger: logger.child({ component: 'spool' }),
      metrics,
    });
    const listeners = new Set([...this.#live].filter(([, l]) => l.definition.capabilities.listener).map(([name]) => name));
    const sinkTimeoutMs = this.#opts.sinkTimeoutMs ?? 30_000;
    for (const route of this.#config.routes) {
      if (!listeners.has(route.from.connector)) continue;
      for (const to of route.to) {
        const live = this.#live.get(to.connector);
        if (live?.connector.sink === undefined || this.#spooled.has(to.connector)) continue;
        const { connector } = live;
        this.#spooled.set(
          to.connector,
          new SpooledSink({
            connector: to.connector,
            sink: connector.sink as Sink<Record<string, unknown>>,
            spool,
            isUp: () => connector.state === 'up',
            spoolFrom: listeners,
            logger: logger.child({ component: 'spool', connector: to.connector }),
            metrics,
            // spool before the engine's own timeout would release the message
            directTimeoutMs: Math.min(10_000, Math.max(1, Math.floor(sinkTimeoutMs / 2))),
          }),
        );
      }
    }
    return spool;
  }

  async #openSpool(): Promise<void> {
    if (!this.#spool) return;
    await this.#spool.open();
    for (const q of this.#spool.queues()) {
      if (!this.#spooled.has(q.queue)) {
        this.#opts.logger.warn('the spool holds messages for a connector no listener route of this configuration writes to; they stay on disk', q);
      }
    }
    for (const s of this.#spooled.values()) s.start();
  }

  /** Drainers stop taking while connectors stop (which fails their writes in flight), then the store closes. */
  async #closeSpool(stopConnectors: () => Promise<void>): Promise<void> {
    const drainers = Promise.all([...this.#spooled.values()].map((s) => s.stop()));
    await stopConnectors();
    await drainers;
    try {
      await this.#spool?.close();
    } catch (err) {
      this.#opts.logger.warn('closing the spool failed', { error: describeError(err) });
    }
  }

  /** messages and bytes waiting in the spool, per sink connector (empty without a spool) */
  spoolDepth(): Record<string, { messages: number; bytes: number }> {
    const out: Record<string, { messages: number; bytes: number }> = {};
    for (const name of this.#spooled.keys()) out[name] = this.#spool?.depth(name) ?? { messages: 0, bytes: 0 };
    return out;
  }

  // ---- end durable spool -----------------------------------------------------------------

  get config(): GatewayConfig {
    return this.#config;
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** the routing engine once started (route loads for the admin API and tests) */
  get engine(): Engine | undefined {
    return this.#engine;
  }

  connectorStates(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, { connector }] of this.#live) out[name] = connector.state;
    return out;
  }

  ready(): boolean {
    return this.#state === 'running' && [...this.#live.values()].every(({ connector }) => connector.state === 'up');
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    const { logger } = this.#opts;
    const sinks = new Map<string, Sink<Record<string, unknown>>>();
    for (const [name, { connector }] of this.#live) if (connector.sink) sinks.set(name, this.#spooled.get(name) ?? connector.sink);
    // the spool opens before anything can be accepted (a directory it cannot open is fatal:
    // running without it would break what the route file promises)
    try {
      await this.#openSpool();
    } catch (err) {
      this.#state = 'stopped';
      throw err;
    }
    this.#engine = new Engine({
      table: this.#table,
      sinks,
      logger: logger.child({ component: 'engine' }),
      metrics: this.#opts.metrics,
      gatewayId: this.#config.gateway.id,
      ...(this.#opts.sinkTimeoutMs === undefined ? {} : { sinkTimeoutMs: this.#opts.sinkTimeoutMs }),
    });

    // A listener takes clients the moment it listens, so its sources open BEFORE it starts:
    // devices reconnecting to a restarted Ferry resend at once, and a listener that no route
    // read yet would acknowledge those messages unrouted (lost; fault scenario 1 caught it).
    // Listeners' openSources does no I/O; client connectors open theirs once connected below.
    for (const [name, { definition }] of this.#live) if (definition.capabilities.listener) await this.#openSources(name);

    // Connectors start together. A listener that cannot listen is fatal (the file asked for a
    // port Ferry cannot have); a client that cannot reach its broker keeps retrying on its own.
    const timeout = this.#opts.connectorStartTimeoutMs ?? 15_000;
    const results = await Promise.all(
      [...this.#live].map(async ([name, { connector, definition }]) => {
        try {
          const done = await withTimeout(connector.start(), timeout);
          if (!done) logger.warn('connector still connecting; going on, it keeps retrying', { connector: name });
          return undefined;
        } catch (err) {
          if (definition.capabilities.listener) return new FerryError('CONNECT_FAILED', `${name}: ${describeError(err)}`, { cause: err });
          logger.error('connector failed to start; it keeps retrying', { connector: name, error: describeError(err) });
          return undefined;
        }
      }),
    );
    const fatal = results.filter((e): e is FerryError => e !== undefined);
    if (fatal.length > 0) {
      await this.#closeSpool(() => this.#stopConnectors());
      this.#state = 'stopped';
      throw new FerryError('CONNECT_FAILED', fatal.map((e) => e.message).join('; '), { cause: fatal[0] });
    }

    for (const [name, { definition }] of this.#live) if (!definition.capabilities.listener) await this.#openSources(name);
    this.#state = 'running';
    logger.info('gateway running', {
      gateway: this.#config.gateway.id,
      connectors: this.#live.size,
      routes: this.#config.routes.length,
    });
  }

  /**
   * Graceful stop: sources stop taking new messages, in-flight messages get `drainTimeoutMs`
   * to be confirmed, then connectors close; what is still unsettled is given back by its
   * source (unacked deliveries are redelivered by brokers and devices).
   */
  async stop(drainTimeoutMs = 10_000): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    this.#state = 'stopping';
    const { logger } = this.#opts;
    await Promise.all(
      [...this.#live.values()].map(async ({ connector }) => {
        try {
          await connector.closeSources?.();
        } catch (err) {
          logger.warn('closing sources failed', { connector: connector.name, error: describeError(err) });
        }
      }),
    );
    if (this.#engine) {
      const drained = await this.#engine.drain(drainTimeoutMs);
      if (!drained) {
        logger.warn('drain timed out; unsettled messages will be redelivered by their sources', { timeoutMs: drainTimeoutMs });
        // retries still waiting end now and release their messages, rather than write later
        this.#engine.stop();
      }
    }
    await this.#closeSpool(() => this.#stopConnectors());
    this.#state = 'stopped';
    logger.info('gateway stopped', { gateway: this.#config.gateway.id });
  }

  async #openSources(name: string): Promise<void> {
    const live = this.#live.get(name);
    const engine = this.#engine;
    if (!live || !engine) return;
    const specs: readonly SourceSpec<Record<string, unknown>>[] = this.#table.routesFrom(name);
    if (specs.length === 0) return;
    const { connector } = live;
    if (!connector.openSources) throw new FerryError('INTERNAL', `connector ${name} cannot be a source`);
    // the engine pauses a source while a route it feeds holds maxInFlight messages; a listener
    // that can hold back one client at a time (flowScope 'delivery') pauses only the clients
    // whose messages wait for a full route
    await connector.openSources(specs, engine.handler(name), engine.flow(name, connector.flowScope ?? 'source'));
  }

  async #stopConnectors(): Promise<void> {
    await Promise.all(
      [...this.#live.values()].map(async ({ connector }) => {
        try {
          await connector.stop();
        } catch (err) {
          this.#opts.logger.warn('connector stop failed', { connector: connector.name, error: describeError(err) });
        }
      }),
    );
  }
}

async function withTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const finished = p.then(() => true as const);
  try {
    const done = await Promise.race([finished, t]);
    // a start that fails after we stopped waiting is the connector's to log and retry
    if (!done) finished.catch(() => undefined);
    return done;
  } finally {
    clearTimeout(timer);
  }
}
