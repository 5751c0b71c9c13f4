import {
  counterHandle,
  describeError,
  gaugeHandle,
  type FerryError,
  toFerryError,
  type CounterHandle,
  type DeliveryHandler,
  type FlowScope,
  type GaugeHandle,
  type InboundDelivery,
  type Logger,
  type Metrics,
  type Sink,
  type SourceFlow,
} from '@ferry/core';
import { Delivery, type Completion, type TransientRetry } from './delivery.js';
import { Flow } from './source-flow.js';
import type { RouteMatch, RouteTable } from './table.js';

export interface EngineOptions {
  readonly table: RouteTable;
  /** connector name → its sink, for every connector some route writes to (dead letters included) */
  readonly sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** a write not confirmed within this counts as failed (SINK_TIMEOUT, transient); default 30 s */
  readonly sinkTimeoutMs?: number;
  /** written into the `x-ferry-gateway` header of dead-letter copies */
  readonly gatewayId?: string;
  /** a paused source resumes when every route it feeds is at or below this share of its maxInFlight; default 0.75 */
  readonly resumeAt?: number;
  /**
   * How a transient failure is retried on a route whose `onFailure` has no `retry`; default
   * {@link DEFAULT_TRANSIENT_RETRY}. `false`: not at all (the message is given back at once).
   */
  readonly transientRetry?: TransientRetry | false;
  /** while a sink keeps failing, one summary log line at most this often; default 10 s */
  readonly failureSummaryMs?: number;
}

/** The load of one route, for tests, the admin API and `ferry` diagnostics. */
export interface RouteLoad {
  readonly maxInFlight: number;
  /** messages of the route being written, retried or dead-lettered now (never above maxInFlight) */
  readonly inFlight: number;
  /** messages of the route taken from its source while it was full, waiting for room */
  readonly waiting: number;
  /** the highest inFlight seen since the engine started */
  readonly peakInFlight: number;
  /** the highest waiting seen since the engine started */
  readonly peakWaiting: number;
}

interface RouteState {
  readonly name: string;
  readonly source: string;
  readonly max: number;
  readonly low: number;
  active: number;
  waiting: number;
  peak: number;
  peakWaiting: number;
  /** the route's metric series, bound once */
  readonly matched: CounterHandle;
  readonly inFlight: GaugeHandle;
  /** [this state]: the states of a message that only this route took, shared by all of them */
  readonly alone: readonly RouteState[];
}

/**
 * A delivery the engine took: matched, counted against its routes, and told when it is done
 * (it is the delivery's {@link Completion}: no closure per message).
 */
class Taken implements Completion {
  readonly connector: string;
  readonly delivery: InboundDelivery;
  readonly matches: readonly RouteMatch[];
  readonly states: readonly RouteState[];
  /** the route table the delivery was matched with: it is planned with the same one */
  readonly table: RouteTable;
  /** the table generation it was taken in (see {@link Engine.swap}) */
  readonly generation: number;
  /** the engine's end of a delivery, shared by all */
  readonly #done: (t: Taken, error: FerryError | undefined) => void;
  /** the source was told this delivery waits (onWait(true)) and is owed an onWait(false) */
  told = false;

  constructor(
    connector: string,
    delivery: InboundDelivery,
    matches: readonly RouteMatch[],
    states: readonly RouteState[],
    table: RouteTable,
    generation: number,
    done: (t: Taken, error: FerryError | undefined) => void,
  ) {
    this.connector = connector;
    this.delivery = delivery;
    this.matches = matches;
    this.states = states;
    this.table = table;
    this.generation = generation;
    this.#done = done;
  }

  complete(error: FerryError | undefined): void {
    this.#done(this, error);
  }
}

/**
 * Resolves true as soon as `settled()` holds: now, or at one of the calls the engine makes of
 * the callbacks in `waiters` when deliveries end; false after `timeoutMs`. The waiter takes
 * itself out either way, so a drain or reload that gave up leaves nothing behind.
 */
function settledWithin(waiters: Set<() => void>, timeoutMs: number, settled: () => boolean): Promise<boolean> {
  if (settled()) return Promise.resolve(true);
  return new Promise<boolean>((resolve) => {
    const check = (): void => {
      if (!settled()) return;
      clearTimeout(timer);
      waiters.delete(check);
      resolve(true);
    };
    const timer = setTimeout(() => {
      waiters.delete(check);
      resolve(false);
    }, timeoutMs);
    waiters.add(check);
  });
}

/**
 * The routing engine: for each delivery, the matching routes' destinations are written
 * concurrently and the delivery is settled only when every write has finished: accepted when
 * all confirmed (or the failed ones were dead-lettered), failed (reject if permanent, release
 * if transient) otherwise. Messages are never serialized: each delivery completes on its own,
 * in whatever order its sinks confirm, its retries wait on timers, not in line.
 *
 * Backpressure: at most `maxInFlight` messages of a route are in flight (written, retried,
 * dead-lettered) at once. When a route is full, its source is paused through its
 * {@link SourceFlow}; what the source had already sent waits in a queue (bounded by the
 * protocol's window: prefetch, receive maximum, one socket read) and is admitted as messages
 * settle. The source resumes once every route it feeds is back to `resumeAt` of its maximum.
 */
export class Engine {
  #table: RouteTable;
  readonly #delivery: Delivery;
  /** bumped by every swap; deliveries in flight per generation, for draining an old table */
  #generation = 0;
  /** deliveries in flight of the current generation: a count, not a map entry per message */
  #current = 0;
  /** deliveries in flight of earlier generations, by generation (those with none left are gone) */
  readonly #perGeneration = new Map<number, number>();
  readonly #generationIdle = new Set<() => void>();
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #resumeAt: number;
  #inFlight = 0;
  readonly #idle = new Set<() => void>();
  readonly #routes = new Map<string, RouteState>();
  readonly #flows = new Map<string, Flow>();
  /** deliveries taken while a route of theirs was full, in arrival order */
  #queue: Taken[] = [];

  constructor(opts: EngineOptions) {
    this.#table = opts.table;
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    this.#resumeAt = Math.min(1, Math.max(0, opts.resumeAt ?? 0.75));
    this.#delivery = new Delivery(opts);
  }

  /** deliveries taken and not yet settled (in flight or waiting for room) */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** the load of `route`; undefined for a route the engine does not know */
  routeLoad(route: string): RouteLoad | undefined {
    const s = this.#state(route);
    if (s === undefined) return undefined;
    return { maxInFlight: s.max, inFlight: s.active, waiting: s.waiting, peakInFlight: s.peak, peakWaiting: s.peakWaiting };
  }

  /**
   * The flow control of source `connector`, for Connector.openSources. With scope `source`
   * (the default) it is paused while a route the connector feeds holds maxInFlight messages;
   * with scope `delivery` only while as many wait for room on one of its routes, the source
   * pausing peer by peer through each delivery's `onWait` meanwhile (see FlowScope). The same
   * object for every call; the scope is `source` until a call gives another.
   */
  flow(connector: string, scope?: FlowScope): SourceFlow {
    let f = this.#flows.get(connector);
    if (f === undefined) {
      const flow: Flow = new Flow((paused) => {
        this.#metrics.set('source_paused', { connector }, paused ? 1 : 0);
        const why = flow.scope === 'delivery' ? 'as many messages wait for a route it feeds as its maxInFlight' : 'a route it feeds reached maxInFlight';
        this.#logger.info(paused ? `source paused: ${why}` : 'source resumed', { connector });
      });
      f = flow;
      this.#flows.set(connector, f);
    }
    if (scope !== undefined) f.scope = scope;
    this.#updateFlow(connector);
    return f;
  }

  /** The DeliveryHandler a source connector calls for each message; it never throws. */
  handler(connector: string): DeliveryHandler {
    return (delivery) => {
      try {
        this.#take(connector, delivery);
      } catch (err) {
        // matching and planning are synchronous and should not throw; if they do, give the
        // message back rather than lose it
        const e = toFerryError(err);
        this.#logger.error('routing failed', { connector, error: describeError(e) });
        safeSettle(this.#logger, () => delivery.settlement.release(e));
      }
    };
  }

  /**
   * Resolves true once no delivery is in flight, or false when `timeoutMs` passed first.
   * Stopping the sources first (so nothing new arrives) is the gateway's job.
   */
  drain(timeoutMs: number): Promise<boolean> {
    return settledWithin(this.#idle, timeoutMs, () => this.#inFlight === 0);
  }

  /**
   * Give up waiting retries (after a drain timed out): each ends with its last error, as a
   * transient failure, so its message is released to its source rather than dead-lettered.
   */
  stop(): void {
    this.#delivery.stop();
  }

  /**
   * Route with `table` from the next delivery on: the swap happens between two messages (the
   * engine is single-threaded), a delivery already taken is planned with the table it was
   * matched with, so a route removed here still finishes what it took. `sinks` are added or
   * replace those of the same name; sinks the new table no longer uses stay until
   * {@link removeSinks}, for those deliveries. A route whose maxInFlight changed starts
   * counting afresh. Returns the generation that is now previous (see {@link settledBefore}).
   */
  swap(table: RouteTable, sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>): number {
    const previous = this.#generation;
    this.#table = table;
    this.#delivery.addSinks(sinks);
    for (const [route, s] of [...this.#routes]) {
      const policy = table.policyOf(route);
      if (policy?.maxInFlight !== s.max || table.sourceOf(route) !== s.source) this.#routes.delete(route);
    }
    if (this.#current > 0) this.#perGeneration.set(previous, this.#current);
    this.#current = 0;
    this.#generation++;
    // a source's routes may have changed: its flow is measured against the new table now
    for (const connector of this.#flows.keys()) this.#updateFlow(connector);
    return previous;
  }

  /** Resolves true once no delivery taken in `generation` or before is in flight; false after `timeoutMs`. */
  settledBefore(generation: number, timeoutMs: number): Promise<boolean> {
    return settledWithin(
      this.#generationIdle,
      timeoutMs,
      () => (this.#current === 0 || this.#generation > generation) && [...this.#perGeneration.keys()].every((g) => g > generation),
    );
  }

  /** Forget sinks no route uses any more (after {@link settledBefore} said their deliveries ended). */
  removeSinks(names: Iterable<string>): void {
    this.#delivery.removeSinks(names);
  }

  #state(route: string): RouteState | undefined {
    const s = this.#routes.get(route);
    if (s !== undefined) return s;
    const policy = this.#table.policyOf(route);
    const source = this.#table.sourceOf(route);
    if (policy === undefined || source === undefined) return undefined;
    const max = policy.maxInFlight;
    const alone: RouteState[] = [];
    const made: RouteState = {
      name: route,
      source,
      max,
      low: Math.floor(max * this.#resumeAt),
      active: 0,
      waiting: 0,
      peak: 0,
      peakWaiting: 0,
      matched: counterHandle(this.#metrics, 'messages_matched_total', { route }),
      inFlight: gaugeHandle(this.#metrics, 'messages_in_flight', { route }),
      alone,
    };
    alone.push(made);
    this.#routes.set(route, made);
    return made;
  }

  /** the states of the routes `matches` names (one array, not a map and a filter: per message) */
  #statesOf(matches: readonly RouteMatch[]): RouteState[] {
    const list: RouteState[] = [];
    for (const m of matches) {
      const s = this.#state(m.route);
      if (s !== undefined) list.push(s);
    }
    return list;
  }

  #take(connector: string, delivery: InboundDelivery): void {
    const { message, settlement } = delivery;
    if (settlement.settled) return;
    const matches = this.#table.match(connector, message, delivery.routes);
    if (matches.length === 0) {
      // no route wants it: nothing to confirm, so it is done (the metric makes it visible)
      this.#metrics.inc('messages_unrouted_total', { connector });
      this.#logger.debug('unrouted message accepted', { connector, address: message.source.address });
      safeSettle(this.#logger, () => settlement.accept());
      return;
    }
    // waiting messages of the same routes go first, so a route keeps its arrival order
    let room = this.#queue.length === 0;
    // one route (most messages): the route's own one-element list, kept by every such message
    // while it is in flight instead of a list of its own
    const states = matches.length === 1 ? (this.#state((matches[0] as RouteMatch).route)?.alone ?? []) : this.#statesOf(matches);
    for (const s of states) {
      s.matched.inc();
      if (s.active >= s.max) room = false;
    }
    const taken = new Taken(connector, delivery, matches, states, this.#table, this.#generation, this.#done);
    this.#inFlight++;
    this.#current++;
    if (room) {
      this.#start(taken);
    } else {
      for (const s of states) {
        s.waiting++;
        if (s.waiting > s.peakWaiting) s.peakWaiting = s.waiting;
      }
      this.#queue.push(taken);
      // earlier waiting deliveries may be of other routes: this one need not wait behind them
      this.#admit();
      // still waiting: it is the last of the queue (#admit keeps the order)
      if (this.#queue[this.#queue.length - 1] === taken) this.#tellWaiting(taken, true);
    }
    this.#updateFlows(states);
  }

  /** Tell the source that a delivery waits for room (or no longer does); see InboundDelivery.onWait. */
  #tellWaiting(t: Taken, waiting: boolean): void {
    const onWait = t.delivery.onWait;
    if (onWait === undefined || t.told === waiting) return;
    t.told = waiting;
    try {
      onWait(waiting);
    } catch (err) {
      this.#logger.error('a source onWait callback threw', { connector: t.connector, error: describeError(err) });
    }
  }

  #start(t: Taken): void {
    for (const s of t.states) {
      s.active++;
      if (s.active > s.peak) s.peak = s.active;
      s.inFlight.inc(1);
    }
    try {
      this.#delivery.deliver(t.table, t.connector, t.delivery.message, t.matches, t);
    } catch (err) {
      // planning threw (a bug): nothing was written; give the message back rather than lose it
      const e = toFerryError(err);
      this.#logger.error('routing failed', { connector: t.connector, error: describeError(e) });
      const { settlement } = t.delivery;
      safeSettle(this.#logger, () => settlement.release(e));
      this.#end(t);
    }
  }

  /** A delivery's writes ended: settle it with its outcome (see {@link Taken.complete}). */
  readonly #done = (t: Taken, error: FerryError | undefined): void => {
    const { settlement } = t.delivery;
    // no closure for safeSettle: this runs for every message
    try {
      if (error === undefined) settlement.accept();
      else settlement.fail(error);
    } catch (err) {
      settleThrew(this.#logger, err);
    }
    this.#end(t);
  };

  #end(t: Taken): void {
    for (const s of t.states) {
      s.active--;
      s.inFlight.inc(-1);
    }
    this.#inFlight--;
    if (t.generation === this.#generation) {
      this.#current--;
      if (this.#current === 0 && this.#generationIdle.size > 0) for (const w of [...this.#generationIdle]) w();
    } else {
      const left = (this.#perGeneration.get(t.generation) ?? 1) - 1;
      if (left > 0) this.#perGeneration.set(t.generation, left);
      else {
        this.#perGeneration.delete(t.generation);
        for (const w of [...this.#generationIdle]) w();
      }
    }
    this.#admit();
    this.#updateFlows(t.states);
    if (this.#inFlight === 0 && this.#idle.size > 0) {
      const waiters = [...this.#idle];
      this.#idle.clear();
      for (const w of waiters) w();
    }
  }

  /**
   * Start waiting deliveries that now have room, in arrival order. A delivery that must wait
   * blocks the later ones of its routes (their order is kept), not those of other routes.
   */
  #admit(): void {
    if (this.#queue.length === 0) return;
    const blocked = new Set<RouteState>();
    const keep: Taken[] = [];
    const touched = new Set<RouteState>();
    for (const t of this.#queue) {
      if (blocked.size >= this.#routes.size || t.states.some((s) => blocked.has(s) || s.active >= s.max)) {
        for (const s of t.states) blocked.add(s);
        keep.push(t);
        continue;
      }
      for (const s of t.states) {
        s.waiting--;
        touched.add(s);
      }
      this.#tellWaiting(t, false);
      this.#start(t);
    }
    this.#queue = keep;
    if (touched.size > 0) this.#updateFlows([...touched]);
  }

  #updateFlows(states: readonly RouteState[]): void {
    // one route, one source: no set for the message of nearly every delivery
    const only = states.length === 1 ? states[0] : undefined;
    if (only !== undefined) {
      this.#updateFlow(only.source);
      return;
    }
    const sources = new Set(states.map((s) => s.source));
    for (const c of sources) this.#updateFlow(c);
  }

  /**
   * Scope `source`: paused when a route of `connector` is full (in flight + waiting), resumed
   * when all are down to their low mark. Scope `delivery`: the same measured on the waiting
   * messages alone, since the source holds back each peer with a waiting message itself.
   */
  #updateFlow(connector: string): void {
    const flow = this.#flows.get(connector);
    if (flow === undefined) return;
    let full = false;
    let aboveLow = false;
    for (const route of this.#table.routeNamesFrom(connector)) {
      const s = this.#state(route);
      if (s === undefined) continue;
      const load = flow.scope === 'delivery' ? s.waiting : s.active + s.waiting;
      if (load >= s.max) full = true;
      if (load > s.low) aboveLow = true;
    }
    flow.set(flow.paused ? aboveLow : full, this.#logger);
  }
}

function safeSettle(logger: Logger, settle: () => boolean): void {
  try {
    settle();
  } catch (err) {
    settleThrew(logger, err);
  }
}

function settleThrew(logger: Logger, err: unknown): void {
  // the source's settle callback threw: its bug, but it must not take the engine down
  logger.error('settling a message threw', { error: describeError(err) });
}
