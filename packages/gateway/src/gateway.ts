import {
  FerryError,
  describeError,
  loadConnectorTypes,
  type AnyConnectorDefinition,
  type Connector,
  type ConnectorContext,
  type Logger,
  type Metrics,
  type Sink,
  type SourceSpec,
} from '@ferry/core';
import { isDeepStrictEqual } from 'node:util';
import { Engine, RouteTable } from '@ferry/router';
import type { GatewayConfig } from '@ferry/config';
import type { Spool, SpooledSink } from '@ferry/spool';
import { diffConfigs, type ReloadDiff } from './reload-diff.js';
import { HeldDeliveries } from './held-deliveries.js';
import { closeSpool, newSpool, newSpooledSink, openSpool, spoolDepth, spooledSinkNames } from './spool-front.js';

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
  readonly spec: ConnectorSpec;
}

type ConnectorSpec = GatewayConfig['connectors'][number];

/**
 * One running configuration: its connectors, its compiled route table and the engine between
 * them. Start order: every connector (so sinks are ready), then sources. Stop order: sources
 * stop taking, in-flight messages drain, then connectors close.
 */
export class Gateway {
  #config: GatewayConfig;
  readonly #opts: GatewayOptions;
  readonly #live = new Map<string, Live>();
  #table: RouteTable;
  /** the listeners' names, which SpooledSinks spool messages from (changes on reload) */
  readonly #listeners = new Set<string>();
  #engine: Engine | undefined;
  // ---- durable spool (docs/spool.md): absent unless gateway.spool is configured ----
  readonly #spool: Spool | undefined;
  /** sink connector name → its spooled sink, for every sink some listener's route writes to */
  readonly #spooled = new Map<string, SpooledSink<Record<string, unknown>>>();
  // ---- end durable spool ----
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';

  /**
   * Loads the code of the connector types `config` uses (the registry's definitions come
   * without it), then builds the gateway: what a caller with a lazy registry uses.
   */
  static async load(config: GatewayConfig, opts: GatewayOptions): Promise<Gateway> {
    await loadConnectorTypes(opts.registry, config.connectors.map((c) => c.type));
    return new Gateway(config, opts);
  }

  /**
   * Builds connectors and compiles routes; no I/O. Throws FerryError CONFIG_INVALID on a bad
   * route table, INTERNAL when a connector type's code is not loaded (see {@link Gateway.load}).
   */
  constructor(config: GatewayConfig, opts: GatewayOptions) {
    this.#config = config;
    this.#opts = opts;
    const entries = connectorEntries(config, opts.registry);
    this.#table = RouteTable.compile(config.routes, entries, { maxHops: config.gateway.maxHops, tracing: config.gateway.tracing });
    this.#spool = newSpool(config, opts.logger, opts.metrics);
    for (const [name, { spec, definition }] of entries) this.#live.set(name, this.#create(config, spec, definition));
    for (const [name, l] of this.#live) if (l.definition.capabilities.listener) this.#listeners.add(name);
    this.#buildSpooledSinks();
  }

  /** Build one connector of `config` (no I/O). */
  #create(config: GatewayConfig, spec: ConnectorSpec, definition: AnyConnectorDefinition): Live {
    const ctx: ConnectorContext = {
      gatewayId: config.gateway.id,
      logger: this.#opts.logger.child({ connector: spec.name, type: spec.type }),
      metrics: this.#opts.metrics,
      baseDir: config.baseDir,
      // listeners keep their clients' sessions and queued messages in the spool's directory
      ...(this.#spool !== undefined && definition.capabilities.listener ? { listenerStore: this.#spool.listenerStore(spec.name) } : {}),
    };
    const connector = definition.create(ctx, spec.name, spec.options) as Connector<Record<string, unknown>, Record<string, unknown>>;
    return { connector, definition, spec };
  }

  #buildSpooledSinks(): void {
    const spool = this.#spool;
    if (spool === undefined) return;
    for (const name of spooledSinkNames(this.#config, this.#listeners)) {
      const live = this.#live.get(name);
      if (live?.connector.sink !== undefined) this.#spooled.set(name, this.#spooledSink(spool, name, live.connector));
    }
  }

  #spooledSink(spool: Spool, name: string, connector: Connector<Record<string, unknown>, Record<string, unknown>>): SpooledSink<Record<string, unknown>> {
    return newSpooledSink(spool, name, connector, this.#listeners, this.#opts);
  }

  /** messages and bytes waiting in the spool, per sink connector (empty without a spool) */
  spoolDepth(): Record<string, { messages: number; bytes: number }> {
    return spoolDepth(this.#spool, this.#spooled);
  }

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
      await openSpool(this.#spool, this.#spooled, this.#opts.logger);
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
    // read yet would acknowledge those messages unrouted: lost (a listener with no owner acknowledges at once).
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
      await closeSpool(this.#spool, this.#spooled, () => this.#stopConnectors(), this.#opts.logger);
      this.#state = 'stopped';
      throw new FerryError('CONNECT_FAILED', fatal.map((e) => e.message).join('; '), { cause: fatal[0] });
    }

    for (const [name, { definition }] of this.#live) if (!definition.capabilities.listener) await this.#openSources(name);
    this.#state = 'running';
    // what a listener holds for its clients is not in the spool: say so, once, at start
    const listeners = [...this.#live].filter(([, l]) => l.definition.capabilities.listener).map(([name]) => name);
    if (listeners.length > 0 && this.#spool !== undefined) {
      logger.info('listener state is kept on disk: MQTT persistent sessions and retained messages, and the messages STOMP and AMQP 1.0 listeners hold for their clients, survive a restart', {
        listeners: listeners.join(','),
        dir: this.#spool.dir,
      });
    } else if (listeners.length > 0) {
      logger.info('listener state lives in memory: MQTT persistent sessions and retained messages, and the messages STOMP and AMQP 1.0 listeners hold for their clients, are lost when Ferry restarts', {
        listeners: listeners.join(','),
      });
    }
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
    await closeSpool(this.#spool, this.#spooled, () => this.#stopConnectors(), this.#opts.logger);
    this.#state = 'stopped';
    logger.info('gateway stopped', { gateway: this.#config.gateway.id });
  }

  // ---- reload as a diff (docs/operations.md) ---------------------------------------------

  /**
   * Apply `next` in place: connectors whose settings did not change keep running untouched
   * (their sockets, sessions, subscriptions, queues); added ones start, removed ones stop,
   * changed ones are replaced; the engine swaps route tables between two messages, and what
   * the old table took finishes under it (removed routes drain) before the connectors only it
   * used stop. All or nothing: when a new part cannot start, the parts this reload started are
   * stopped again and the running configuration serves as before; the error is thrown.
   *
   * A replaced listener that keeps its port cannot run beside its predecessor, so the old one
   * stops first; if its replacement then cannot start, it is started again from its old
   * settings (its clients reconnect).
   */
  async reconfigure(next: GatewayConfig, drainTimeoutMs = 10_000): Promise<ReloadDiff> {
    const engine = this.#engine;
    if (this.#state !== 'running' || engine === undefined) throw new FerryError('SHUTTING_DOWN', `the gateway is ${this.#state}, not running`);
    const { logger } = this.#opts;
    const running = this.#config;
    if (!isDeepStrictEqual(running.gateway.spool, next.gateway.spool) || running.gateway.id !== next.gateway.id) {
      throw new FerryError('CONFIG_INVALID', 'gateway.id or gateway.spool changed: a restart applies those, a reload cannot');
    }
    const registry = this.#opts.registry;
    // a reload may bring a connector type the running configuration did not use
    await loadConnectorTypes(registry, next.connectors.map((c) => c.type));
    const diff = diffConfigs(running, next, (t) => registry.get(t));
    // listeners kept as they are read their TLS files again (a renewed certificate under the
    // same name); before anything else changes, so an unusable file fails the reload cleanly
    await Promise.all(diff.connectors.unchanged.map((name) => this.#live.get(name)?.connector.reloadTls?.() ?? Promise.resolve()));
    const table = RouteTable.compile(next.routes, connectorEntries(next, registry), { maxHops: next.gateway.maxHops, tracing: next.gateway.tracing });

    // the new connectors (no I/O yet); a listener among them gets a holding handler: what it
    // accepts before the new table routes is kept until then, never acknowledged unrouted
    const fresh = new Map<string, Live>();
    for (const name of [...diff.connectors.added, ...diff.connectors.changed]) {
      const spec = next.connectors.find((c) => c.name === name)!;
      fresh.set(name, this.#create(next, spec, registry.get(spec.type)!));
    }
    const held = new Map<string, HeldDeliveries>();
    const goingPorts = new Set([...diff.connectors.removed, ...diff.connectors.changed].flatMap((n) => this.#portsOf(this.#live.get(n)!)));
    const early = [...fresh].filter(([, l]) => !this.#portsOf(l).some((p) => goingPorts.has(p)));
    const late = [...fresh].filter(([, l]) => this.#portsOf(l).some((p) => goingPorts.has(p)));
    const started: Live[] = [];
    const startOne = async (name: string, l: Live): Promise<void> => {
      if (l.definition.capabilities.listener) {
        const h = new HeldDeliveries();
        held.set(name, h);
        const specs = table.routesFrom(name);
        if (specs.length > 0) await l.connector.openSources?.(specs, h.handler, engine.flow(name));
      }
      started.push(l);
      await this.#startConnector(name, l);
    };
    const undo = async (err: unknown): Promise<never> => {
      for (const h of held.values()) h.release(err);
      await Promise.all(started.map((l) => stopQuietly(l.connector, logger)));
      throw err;
    };

    try {
      await Promise.all(early.map(([name, l]) => startOne(name, l)));
    } catch (err) {
      return undo(err);
    }
    // ports the new parts share with old ones: the old ones stop first
    const replacedLate: Live[] = [];
    for (const [name] of late) {
      const old = this.#live.get(name);
      if (old === undefined) continue;
      await old.connector.closeSources?.();
      await stopQuietly(old.connector, logger);
      replacedLate.push(old);
    }
    try {
      await Promise.all(late.map(([name, l]) => startOne(name, l)));
    } catch (err) {
      // the old ones come back from their old settings
      for (const old of replacedLate) {
        const again = this.#create(running, old.spec, old.definition);
        this.#live.set(old.spec.name, again);
        try {
          await this.#openSources(old.spec.name, again);
          await this.#startConnector(old.spec.name, again);
        } catch (e) {
          logger.error('a connector the failed reload had stopped could not start again', { connector: old.spec.name, error: describeError(e) });
        }
      }
      return undo(err);
    }

    // the swap: from the next message on, the new table routes to the new sinks
    const previous = new Map(this.#live);
    for (const name of diff.connectors.removed) this.#live.delete(name);
    for (const [name, l] of fresh) this.#live.set(name, l);
    this.#listeners.clear();
    for (const [name, l] of this.#live) if (l.definition.capabilities.listener) this.#listeners.add(name);
    const spooledBefore = new Map(this.#spooled);
    const sinks = new Map<string, Sink<Record<string, unknown>>>();
    if (this.#spool !== undefined) {
      for (const name of spooledSinkNames(next, this.#listeners)) {
        const l = this.#live.get(name)!;
        if (l.connector.sink === undefined || (!fresh.has(name) && this.#spooled.has(name))) continue;
        this.#spooled.set(name, this.#spooledSink(this.#spool, name, l.connector));
      }
    }
    for (const name of fresh.keys()) {
      const l = this.#live.get(name)!;
      if (l.connector.sink) sinks.set(name, this.#spooled.get(name) ?? l.connector.sink);
    }
    for (const name of spooledSinkNames(next, this.#listeners)) {
      const s = this.#spooled.get(name);
      if (s !== undefined) sinks.set(name, s);
    }
    const generation = engine.swap(table, sinks);
    this.#table = table;
    this.#config = next;
    for (const [name, h] of held) h.open(engine.handler(name));
    // unchanged listeners now feed the new routes (their openSources does no I/O); new client
    // connectors open theirs, as at start, once connected
    for (const name of diff.connectors.unchanged) {
      const l = this.#live.get(name)!;
      if (l.definition.capabilities.listener) await this.#openSources(name);
    }
    for (const [name, l] of fresh) if (!l.definition.capabilities.listener) await this.#openSources(name);

    // the old parts: stop taking, let what the old table took finish, then stop
    const retired = [...diff.connectors.removed, ...diff.connectors.changed]
      .map((n) => previous.get(n)!)
      .filter((l) => !replacedLate.includes(l));
    await Promise.all(retired.map((l) => l.connector.closeSources?.() ?? Promise.resolve()));
    const settled = await engine.settledBefore(generation, drainTimeoutMs);
    if (!settled) logger.warn('reload: messages the previous route table took are still in flight; their sources will redeliver them', { timeoutMs: drainTimeoutMs });
    engine.removeSinks(diff.connectors.removed);
    for (const [name, s] of spooledBefore) if (this.#spooled.get(name) !== s) await s.stop();
    for (const [name, s] of this.#spooled) if (spooledBefore.get(name) !== s) s.start();
    await Promise.all(retired.map((l) => stopQuietly(l.connector, logger)));
    return diff;
  }

  #portsOf(l: Live): number[] {
    return [...l.definition.listenPorts(l.spec.options)];
  }

  /** Start one connector: a listener that cannot listen throws; a client keeps retrying on its own. */
  async #startConnector(name: string, l: Live): Promise<void> {
    const timeout = this.#opts.connectorStartTimeoutMs ?? 15_000;
    try {
      const done = await withTimeout(l.connector.start(), timeout);
      if (!done) this.#opts.logger.warn('connector still connecting; going on, it keeps retrying', { connector: name });
    } catch (err) {
      if (l.definition.capabilities.listener) throw new FerryError('CONNECT_FAILED', `${name}: ${describeError(err)}`, { cause: err });
      this.#opts.logger.error('connector failed to start; it keeps retrying', { connector: name, error: describeError(err) });
    }
  }

  // ---- end reload ------------------------------------------------------------------------

  async #openSources(name: string, live = this.#live.get(name)): Promise<void> {
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

/** The connectors of `config` with their types' definitions (the types are known: the config loader checked them). */
function connectorEntries(
  config: GatewayConfig,
  registry: ReadonlyMap<string, AnyConnectorDefinition>,
): Map<string, { spec: ConnectorSpec; definition: AnyConnectorDefinition }> {
  const entries = new Map<string, { spec: ConnectorSpec; definition: AnyConnectorDefinition }>();
  for (const spec of config.connectors) {
    const definition = registry.get(spec.type);
    if (!definition) throw new FerryError('CONFIG_INVALID', `unknown connector type "${spec.type}"`);
    entries.set(spec.name, { spec, definition });
  }
  return entries;
}

async function stopQuietly(connector: Connector<Record<string, unknown>, Record<string, unknown>>, logger: Logger): Promise<void> {
  try {
    await connector.stop();
  } catch (err) {
    logger.warn('connector stop failed', { connector: connector.name, error: describeError(err) });
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
