import { Backoff, callbackSink, ConnectorCounters, FailureLog, FerryError, describeError, sleep, type ConnectorContext, type ConnectorState, type DeliveryHandler, type GatewayMessage, type Sink, type SourceSpec, type WriteDone, ConnectorBase } from '@ferry/core';
import { QueueConsumer } from './consumer.js';
import { resolveEndpoint, type Endpoint } from './endpoint.js';
import type { Amqp091From, Amqp091Options, Amqp091To } from './options.js';
import { Publisher } from './publisher.js';
import { Session } from './session.js';
import { applyTopology, brokerReason, declareRouteQueues, type RouteQueue } from './topology.js';

/** The queue a route consumes: its own `queue`, or the Ferry-owned queue of an exchange source. */
function routeQueueName(gatewayId: string, route: string, from: Amqp091From): string {
  return from.queue ?? `ferry.${gatewayId}.${route}`;
}

interface QueueGroup {
  readonly queue: string;
  readonly routes: string[];
}

interface Sources {
  readonly groups: readonly QueueGroup[];
  readonly routeQueues: readonly RouteQueue[];
  readonly deliver: DeliveryHandler;
}

/** What a live session holds besides its connection. */
interface Live {
  readonly session: Session;
  readonly endpoint: Endpoint;
  readonly publisher: Publisher;
  /** consumers of the open sources */
  consumers: QueueConsumer[];
  /** consumers cancelled by closeSources: their channels stay open so in-flight messages can settle */
  readonly retired: QueueConsumer[];
  /** serializes consumer start-up (openSources and the loop may both ask) */
  starting: Promise<void>;
}

let sessionCounter = 0;

/** how long a session must last for its loss to restart the backoff from the first delay */
const STABLE_MS = 10_000;
/** how long closing a session may wait for the broker's close-ok frames before the socket is destroyed */
const SHUTDOWN_MS = 5_000;

/**
 * A client of an AMQP 0-9-1 broker. A reconnect loop (core Backoff, full jitter) owns the
 * connection: on every connect it declares the topology, opens the publish channel and, when
 * sources are open, declares the route queues and starts one consumer per queue; any loss ends
 * the session and the loop starts over. It never gives up and never throws at the gateway for a
 * broker problem: it logs one line per change of state or of reason, and keeps trying.
 */
export class Amqp091Connector extends ConnectorBase<Amqp091Options, Amqp091From, Amqp091To> {
  readonly sink: Sink<Amqp091To>;
  /** the per-message counters, bound once */
  readonly #counters: ConnectorCounters;
  #state: ConnectorState = 'idle';
  #loop: Promise<void> | undefined;
  #abort: AbortController | undefined;
  #live: Live | undefined;
  #sources: Sources | undefined;
  /** the last problem logged, so a retry that fails the same way logs nothing new */
  readonly #problems = new FailureLog();
  #everUp = false;

  constructor(ctx: ConnectorContext, name: string, options: Amqp091Options) {
    super(ctx, name, options, 'amqp091');
    this.#counters = new ConnectorCounters(ctx.metrics, name);
    this.sink = callbackSink((message, to, done) => this.#send(message, to, done));
  }

  get state(): ConnectorState {
    return this.#state;
  }

  /**
   * Start the reconnect loop. Resolves once the first attempt is over, connected or not: a
   * broker that is down is a state ('down', retrying), not an error.
   */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    const abort = new AbortController();
    this.#abort = abort;
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    this.#loop = this.#run(abort.signal, firstDone).catch((err: unknown) => {
      // #run handles its errors; this is a bug guard so the process never sees a rejection.
      this.log.error('amqp091 reconnect loop failed', { error: describeError(err) });
    });
    await first;
  }

  async stop(): Promise<void> {
    const loop = this.#loop;
    if (loop === undefined) return;
    if (this.#state !== 'stopped') this.#setState('stopping');
    this.#abort?.abort(new FerryError('SHUTTING_DOWN', 'connector stopping'));
    await loop;
    this.#loop = undefined;
    this.#setState('stopped');
  }

  async openSources(specs: readonly SourceSpec<Amqp091From>[], deliver: DeliveryHandler): Promise<void> {
    const byQueue = new Map<string, QueueGroup>();
    const routeQueues: RouteQueue[] = [];
    for (const { route, from } of specs) {
      const queue = routeQueueName(this.ctx.gatewayId, route, from);
      const group = byQueue.get(queue);
      if (group === undefined) byQueue.set(queue, { queue, routes: [route] });
      else if (!group.routes.includes(route)) group.routes.push(route);
      if (from.exchange !== undefined && from.bindingKey !== undefined) {
        routeQueues.push({
          queue,
          exchange: from.exchange,
          bindingKey: from.bindingKey,
          bindingArguments: from.bindingArguments,
          singleActiveConsumer: from.singleActiveConsumer,
        });
      }
    }
    this.#sources = { groups: [...byQueue.values()], routeQueues, deliver };
    const live = this.#live;
    if (live !== undefined && !live.session.ended) {
      try {
        await this.#startConsumers(live);
      } catch (err) {
        // the loop reconnects and tries again, with one log line
        live.session.lose(err instanceof Error ? err.message : String(err));
      }
    }
  }

  async closeSources(): Promise<void> {
    this.#sources = undefined;
    const live = this.#live;
    if (live === undefined) return;
    const consumers = live.consumers;
    live.consumers = [];
    live.retired.push(...consumers);
    await Promise.all(consumers.map((c) => c.cancel()));
  }

  // ---- the loop ----

  async #run(signal: AbortSignal, firstDone: () => void): Promise<void> {
    const backoff = new Backoff({ initialMs: this.options.reconnect.initialMs, maxMs: this.options.reconnect.maxMs });
    const aborted = new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    // a call, not the property: the compiler keeps the loop condition's narrowing of
    // signal.aborted across the awaits below, though an abort can land during any of them
    const isAborted = (): boolean => signal.aborted;
    while (!signal.aborted) {
      this.#setState('connecting');
      let live: Live | undefined;
      try {
        live = await this.#connect();
      } catch (err) {
        this.#setState('down');
        this.#report('cannot connect', err);
      }
      firstDone();
      if (live !== undefined) {
        if (isAborted()) {
          await this.#shutdown(live);
          break;
        }
        this.#live = live;
        // sources opened while this connect was under way were not seen by it: start them now
        this.#startConsumers(live).catch((err: unknown) => live.session.lose(err instanceof Error ? err.message : String(err)));
        const upAt = Date.now();
        this.#problems.recovered();
        this.#setState('up');
        this.log.info(this.#everUp ? 'reconnected' : 'connected', { url: live.endpoint.display });
        this.#everUp = true;
        const reason = await Promise.race([live.session.lost, aborted.then(() => undefined)]);
        this.#live = undefined;
        if (reason === undefined || isAborted()) {
          await this.#shutdown(live);
          break;
        }
        this.#setState('down');
        // a session that held for a while starts the backoff over; one that fails right after
        // connecting (a consumer refused, a flapping broker) keeps growing the delay
        if (Date.now() - upAt >= STABLE_MS) backoff.reset();
        this.ctx.metrics.inc('connector_reconnects_total', { connector: this.name });
        this.log.warn(`connection lost: ${reason}; reconnecting`, { url: live.endpoint.display });
        this.#problems.report(reason);
        await this.#shutdown(live);
      }
      try {
        await sleep(backoff.next(), signal);
      } catch {
        break;
      }
    }
  }

  /** One connect attempt: connection, topology, publisher, consumers. All or nothing. */
  async #connect(): Promise<Live> {
    const id = ++sessionCounter;
    const connectionName = this.options.connectionName ?? `ferry ${this.ctx.gatewayId} ${this.name}`;
    const endpoint = await resolveEndpoint(this.options, this.ctx.baseDir, connectionName);
    let session: Session;
    try {
      session = await Session.open(endpoint.connect, endpoint.socket, this.log);
    } catch (err) {
      throw new FerryError('CONNECT_FAILED', `${endpoint.display}: ${connectReason(err, endpoint)}`, { cause: err });
    }
    try {
      const admin = await session.channel(this.log);
      await applyTopology(admin, this.options.topology, this.options.declare);
      await admin.close();
      const pubCh = await session.model.createConfirmChannel();
      const publisher = new Publisher(pubCh, {
        connector: this.name,
        idPrefix: `${process.pid.toString(36)}.${id.toString(36)}`,
        username: endpoint.username,
        replyToTopicHeader: this.options.replyToTopicHeader,
        logger: this.log,
        counters: this.#counters,
        checkExchange: (name) => session.checkExchange(name, this.log),
        onLost: (reason) => session.lose(reason),
      });
      const live: Live = { session, endpoint, publisher, consumers: [], retired: [], starting: Promise.resolve() };
      await this.#startConsumers(live);
      if (session.ended) throw new FerryError('CONNECT_FAILED', 'connection closed while starting');
      return live;
    } catch (err) {
      await session.close();
      throw new FerryError('CONNECT_FAILED', `${endpoint.display}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Declare the route queues and consume every queue of the open sources not consumed yet; one run at a time. */
  #startConsumers(live: Live): Promise<void> {
    const run = live.starting.catch(() => undefined).then(() => this.#startConsumersNow(live));
    live.starting = run;
    return run;
  }

  async #startConsumersNow(live: Live): Promise<void> {
    const sources = this.#sources;
    if (sources === undefined) return;
    if (sources.groups.every((g) => live.consumers.some((c) => c.queue === g.queue))) return;
    const { session } = live;
    if (sources.routeQueues.length > 0) {
      const admin = await session.channel(this.log);
      await declareRouteQueues(admin, sources.routeQueues, this.options.topology);
      await admin.close();
    }
    for (const group of sources.groups) {
      if (this.#sources !== sources) return; // closeSources ran meanwhile
      if (live.consumers.some((c) => c.queue === group.queue)) continue;
      const ch = await session.model.createChannel();
      const consumer = new QueueConsumer(ch, {
        connector: this.name,
        queue: group.queue,
        routes: group.routes,
        prefetch: this.options.prefetch,
        replyToTopicHeader: this.options.replyToTopicHeader,
        deliver: sources.deliver,
        logger: this.log,
        counters: this.#counters,
        onLost: (reason) => session.lose(reason),
      });
      live.consumers.push(consumer);
      try {
        await consumer.start();
      } catch (err) {
        throw new FerryError('CONNECT_FAILED', `consume queue '${group.queue}': ${brokerReason(err)}`, { cause: err });
      }
    }
  }

  /**
   * Close a session gracefully: consumers first (the broker requeues their unacked), then the rest.
   * Each close waits for the broker's close-ok (AMQP 0-9-1 §4.2.4: channel.close / connection.close
   * are synchronous); a broker that stopped answering gets SHUTDOWN_MS for all of them together,
   * then the socket is torn down, so a stop after a drain time-out ends (docs/faults.md, scenario 9).
   */
  async #shutdown(live: Live): Promise<void> {
    const end = Date.now() + SHUTDOWN_MS;
    const channels = (async () => {
      await Promise.all([...live.consumers, ...live.retired].map((c) => c.close()));
      await live.publisher.close();
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_MS)));
    try {
      await Promise.race([channels, deadline]);
    } finally {
      clearTimeout(timer);
    }
    channels.catch(() => undefined); // still waiting for a close-ok: it fails once the socket goes
    await live.session.close(Math.max(0, end - Date.now()));
  }

  #send(message: GatewayMessage, to: Amqp091To, done: WriteDone): void {
    const live = this.#live;
    if (live === undefined || live.session.ended || !live.publisher.open) {
      done(new FerryError('NOT_CONNECTED', `amqp091 connector '${this.name}' is not connected (${this.#state})`));
      return;
    }
    live.publisher.send(message, to, done);
  }

  #setState(state: ConnectorState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.ctx.metrics.set('connector_up', { connector: this.name }, state === 'up' ? 1 : 0);
  }

  /** One warn line per distinct problem; the same failure again only at debug. */
  #report(what: string, err: unknown): void {
    // the FerryError's own message is the clear line; the cause chain stays in the debug fields
    const reason = err instanceof Error ? err.message : String(err);
    if (!this.#problems.report(reason)) {
      this.log.debug(`${what}: ${reason}; still retrying`);
      return;
    }
    this.log.warn(`${what} to ${reason}; retrying (backoff up to ${this.options.reconnect.maxMs} ms)`, { error: describeError(err) });
  }
}

/** amqplib's words for a failed connect, made plain where they are not. */
function connectReason(err: unknown, endpoint: Endpoint): string {
  const msg = err instanceof Error ? err.message : String(err);
  // RabbitMQ answers connection.open for an unknown or forbidden vhost with connection.close
  // (NOT_ALLOWED), which amqplib reports without the reason.
  if (msg.includes('Expected ConnectionOpenOk; got <ConnectionClose')) {
    return `the broker refused to open vhost '${decodeURIComponent(endpoint.connect.vhost ?? '/')}' (does it exist, and may user '${endpoint.username}' use it?)`;
  }
  return brokerReason(err);
}
