import {
  Backoff,
  FerryError,
  describeError,
  sleep,
  toFerryError,
  type DeliveryHandler,
  type FlowScope,
  type GatewayMessage,
  type HeaderValue,
  type InboundDelivery,
  type Logger,
  type Metrics,
  type Sink,
  type SourceFlow,
} from '@ferry/core';
import { SinkFailureLog } from './failure-log.js';
import type { Dispatch, RouteMatch, RoutePolicy, RouteTable, RoutePlan, UnplannedDestination } from './table.js';

/** One destination that failed, or a route whose templates could not be filled. */
export interface FailedDestination {
  /** the position in the route's `to`; undefined when a `headers.set` template failed */
  readonly index: number | undefined;
  /** the write that failed; undefined when planning failed (nothing was written) */
  readonly dispatch: Dispatch | undefined;
  readonly error: FerryError;
}

export interface FailureContext {
  readonly route: string;
  /** the source connector */
  readonly connector: string;
  /** the message as it was received */
  readonly message: GatewayMessage;
  /**
   * `plan`: a template could not be filled; nothing of this message has been written yet.
   * `dispatch`: every write of the message finished and these failed (the others confirmed).
   */
  readonly phase: 'plan' | 'dispatch';
  readonly failures: readonly FailedDestination[];
}

export type FailureDecision =
  /** settle the message as failed with `error` (permanent → reject, transient → release) */
  | { readonly kind: 'fail'; readonly error: FerryError }
  /** the policy took care of it (retried to success, dead-lettered): the route counts as delivered */
  | { readonly kind: 'handled' };

/**
 * The seam where per-route failure handling plugs in (retries with backoff, dead letters). The
 * engine asks it once per failed route of a message; {@link defaultFailurePolicy} fails the
 * message, which is all the engine does today.
 */
export interface FailurePolicy {
  onFailure(ctx: FailureContext): FailureDecision | Promise<FailureDecision>;
}

export const defaultFailurePolicy: FailurePolicy = {
  onFailure: (ctx) => ({ kind: 'fail', error: combineErrors(ctx.failures.map((f) => f.error)) }),
};

export interface EngineOptions {
  readonly table: RouteTable;
  /** connector name → its sink, for every connector some route writes to (dead letters included) */
  readonly sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** a write not confirmed within this counts as failed (SINK_TIMEOUT, transient); default 30 s */
  readonly sinkTimeoutMs?: number;
  /**
   * What the engine does with a failed route that its own `onFailure` did not take care of (no
   * dead-letter destination); default: fail the message.
   */
  readonly failurePolicy?: FailurePolicy;
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

export const DEFAULT_SINK_TIMEOUT_MS = 30_000;

/**
 * The default retry of a destination that failed for now, on a route that states no
 * `onFailure.retry`: exponential backoff with full jitter (core Backoff) for a bounded time.
 */
export interface TransientRetry {
  readonly initialMs: number;
  readonly maxMs: number;
  /** the shortest wait between two attempts (full jitter can otherwise draw ~0) */
  readonly minMs: number;
  /**
   * No new attempt once this much time has passed since the first one began (the time of the
   * attempts counts, so a write that timed out after the sink timeout is not tried again).
   */
  readonly maxElapsedMs: number;
}

/**
 * Giving a message back at once when its destination is down is a hot loop with a broker
 * source: the consumer requeues, the broker redelivers within a millisecond, the write fails
 * again (thousands of times a second). Waiting here instead keeps the message in flight, so the
 * route's maxInFlight and its source's flow control stop the intake while the destination is
 * down, and a short outage (a reconnect, a broker restart) costs no redelivery at all.
 * 30 s is the default sink timeout: a message is given back after about as long as one
 * unconfirmed write would have held it.
 */
export const DEFAULT_TRANSIENT_RETRY: TransientRetry = { initialMs: 200, maxMs: 5_000, minMs: 50, maxElapsedMs: 30_000 };

/** The headers a dead-letter copy carries, besides the message's own. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-ferry-dead-letter-reason',
  route: 'x-ferry-route',
  failedDestination: 'x-ferry-failed-destination',
  attempts: 'x-ferry-attempts',
  originalAddress: 'x-ferry-original-address',
  gateway: 'x-ferry-gateway',
} as const;

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
}

interface Taken {
  readonly connector: string;
  readonly delivery: InboundDelivery;
  readonly matches: readonly RouteMatch[];
  readonly states: readonly RouteState[];
  /** the route table the delivery was matched with: it is planned with the same one */
  readonly table: RouteTable;
  /** the table generation it was taken in (see {@link Engine.swap}) */
  readonly generation: number;
  /** the source was told this delivery waits (onWait(true)) and is owed an onWait(false) */
  told: boolean;
}

/** One connector's flow: paused while a route it feeds is full. */
class Flow implements SourceFlow {
  #paused = false;
  readonly #listeners = new Set<(paused: boolean) => void>();
  scope: FlowScope = 'source';

  constructor(private readonly onFlip: (paused: boolean) => void) {}

  get paused(): boolean {
    return this.#paused;
  }

  onChange(listener: (paused: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  set(paused: boolean, logger: Logger): void {
    if (paused === this.#paused) return;
    this.#paused = paused;
    this.onFlip(paused);
    for (const l of [...this.#listeners]) {
      try {
        l(paused);
      } catch (err) {
        logger.error('a source flow listener threw', { error: describeError(err) });
      }
    }
  }
}

/** How one destination ended: confirmed, or failed after `attempts` writes. */
type DestinationResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: FerryError; readonly attempts: number; readonly dispatch: Dispatch };

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
  /** routes whose looping messages were logged already (the log says it once per route) */
  readonly #loopsLogged = new Set<string>();
  readonly #sinks: Map<string, Sink<Record<string, unknown>>>;
  /** bumped by every swap; deliveries in flight per generation, for draining an old table */
  #generation = 0;
  readonly #perGeneration = new Map<number, number>();
  readonly #generationIdle = new Set<() => void>();
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #timeoutMs: number;
  readonly #policy: FailurePolicy;
  readonly #gatewayId: string;
  readonly #resumeAt: number;
  readonly #transientRetry: TransientRetry | false;
  readonly #failures: SinkFailureLog;
  #inFlight = 0;
  readonly #idle = new Set<() => void>();
  readonly #routes = new Map<string, RouteState>();
  readonly #flows = new Map<string, Flow>();
  /** deliveries taken while a route of theirs was full, in arrival order */
  #queue: Taken[] = [];
  /** aborted by {@link stop}: retries still waiting give up at once */
  readonly #stopping = new AbortController();

  constructor(opts: EngineOptions) {
    this.#table = opts.table;
    this.#sinks = new Map(opts.sinks);
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    this.#timeoutMs = opts.sinkTimeoutMs ?? DEFAULT_SINK_TIMEOUT_MS;
    this.#policy = opts.failurePolicy ?? defaultFailurePolicy;
    this.#gatewayId = opts.gatewayId ?? '';
    this.#resumeAt = Math.min(1, Math.max(0, opts.resumeAt ?? 0.75));
    this.#transientRetry = opts.transientRetry ?? DEFAULT_TRANSIENT_RETRY;
    this.#failures = new SinkFailureLog(opts.logger, opts.failureSummaryMs === undefined ? {} : { summaryEveryMs: opts.failureSummaryMs });
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
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#idle.delete(done);
        resolve(false);
      }, timeoutMs);
      this.#idle.add(done);
    });
  }

  /**
   * Give up waiting retries (after a drain timed out): each ends with its last error, as a
   * transient failure, so its message is released to its source rather than dead-lettered.
   */
  stop(): void {
    this.#stopping.abort(new FerryError('SHUTTING_DOWN', 'the gateway is stopping'));
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
    for (const [name, sink] of sinks) this.#sinks.set(name, sink);
    for (const [route, s] of [...this.#routes]) {
      const policy = table.policyOf(route);
      if (policy === undefined || policy.maxInFlight !== s.max || table.sourceOf(route) !== s.source) this.#routes.delete(route);
    }
    this.#generation++;
    // a source's routes may have changed: its flow is measured against the new table now
    for (const connector of this.#flows.keys()) this.#updateFlow(connector);
    return previous;
  }

  /** Resolves true once no delivery taken in `generation` or before is in flight; false after `timeoutMs`. */
  settledBefore(generation: number, timeoutMs: number): Promise<boolean> {
    const settled = (): boolean => [...this.#perGeneration.keys()].every((g) => g > generation);
    if (settled()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (!settled()) return;
        clearTimeout(timer);
        this.#generationIdle.delete(check);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.#generationIdle.delete(check);
        resolve(false);
      }, timeoutMs);
      this.#generationIdle.add(check);
    });
  }

  /** Forget sinks no route uses any more (after {@link settledBefore} said their deliveries ended). */
  removeSinks(names: Iterable<string>): void {
    for (const n of names) this.#sinks.delete(n);
  }

  #state(route: string): RouteState | undefined {
    let s = this.#routes.get(route);
    if (s !== undefined) return s;
    const policy = this.#table.policyOf(route);
    const source = this.#table.sourceOf(route);
    if (policy === undefined || source === undefined) return undefined;
    const max = policy.maxInFlight;
    s = { name: route, source, max, low: Math.floor(max * this.#resumeAt), active: 0, waiting: 0, peak: 0, peakWaiting: 0 };
    this.#routes.set(route, s);
    return s;
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
    const states = matches.map((m) => this.#state(m.route)).filter((s): s is RouteState => s !== undefined);
    for (const s of states) this.#metrics.inc('messages_matched_total', { route: s.name });
    const taken: Taken = { connector, delivery, matches, states, table: this.#table, generation: this.#generation, told: false };
    this.#inFlight++;
    this.#perGeneration.set(taken.generation, (this.#perGeneration.get(taken.generation) ?? 0) + 1);
    // waiting messages of the same routes go first, so a route keeps its arrival order
    if (this.#queue.length === 0 && states.every((s) => s.active < s.max)) {
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
      this.#metrics.add('messages_in_flight', { route: s.name }, 1);
    }
    const { message, settlement } = t.delivery;
    void this.#deliver(t.table, t.connector, message, t.matches)
      .then(
        (error) => {
          safeSettle(this.#logger, () => (error === undefined ? settlement.accept() : settlement.fail(error)));
        },
        (err: unknown) => {
          const e = toFerryError(err);
          this.#logger.error('routing failed', { connector: t.connector, error: describeError(e) });
          safeSettle(this.#logger, () => settlement.release(e));
        },
      )
      .finally(() => this.#end(t));
  }

  #end(t: Taken): void {
    for (const s of t.states) {
      s.active--;
      this.#metrics.add('messages_in_flight', { route: s.name }, -1);
    }
    this.#inFlight--;
    const left = (this.#perGeneration.get(t.generation) ?? 1) - 1;
    if (left > 0) this.#perGeneration.set(t.generation, left);
    else {
      this.#perGeneration.delete(t.generation);
      for (const w of [...this.#generationIdle]) w();
    }
    this.#admit();
    this.#updateFlows(t.states);
    if (this.#inFlight === 0) {
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
    for (const spec of this.#table.routesFrom(connector)) {
      const s = this.#state(spec.route);
      if (s === undefined) continue;
      const load = flow.scope === 'delivery' ? s.waiting : s.active + s.waiting;
      if (load >= s.max) full = true;
      if (load > s.low) aboveLow = true;
    }
    flow.set(flow.paused ? aboveLow : full, this.#logger);
  }

  /** Route one message; resolves with the error to fail it with, or undefined when it is delivered. */
  async #deliver(table: RouteTable, connector: string, message: GatewayMessage, matches: readonly RouteMatch[]): Promise<FerryError | undefined> {
    // 1. plan every route before writing anything. A route without a dead-letter destination is
    //    all or nothing: a template that cannot be filled must not leave the message
    //    half-delivered (a reject would then lose the other half's reason to exist, a release
    //    would duplicate it). A route with one writes what it can and dead-letters the rest.
    const work: { match: RouteMatch; policy: RoutePolicy | undefined; dispatches: readonly Dispatch[]; unplanned: readonly UnplannedDestination[] }[] = [];
    const planErrors: FerryError[] = [];
    for (const m of matches) {
      let plan = table.plan(message, m);
      const policy = table.policyOf(m.route);
      plan = this.#loopGuard(connector, plan, policy);
      for (const f of plan.failed) {
        if (f.error.code === 'LOOP_DETECTED') continue;
        this.#logger.warn('cannot fill a template', { connector, route: plan.route, to: f.index, error: f.error.message });
      }
      if (plan.failed.length === 0 || policy?.deadLetter !== undefined) {
        work.push({ match: m, policy, dispatches: plan.dispatches, unplanned: plan.failed });
        continue;
      }
      const decision = await this.#ask({
        route: plan.route,
        connector,
        message,
        phase: 'plan',
        failures: plan.failed.map((f) => ({ index: f.index, dispatch: undefined, error: f.error })),
      });
      if (decision.kind === 'fail') planErrors.push(decision.error);
    }
    if (planErrors.length > 0) return combineErrors(planErrors);

    // 2. every destination needs a sink; a missing one is a wiring bug, not the message's fault
    for (const w of work) {
      const needed = w.dispatches.map((d) => [d.connector, d.route]);
      if (w.policy?.deadLetter !== undefined) needed.push([w.policy.deadLetter, w.match.route]);
      for (const [c, route] of needed as [string, string][]) {
        if (this.#sinks.has(c)) continue;
        const e = new FerryError('INTERNAL', `no sink for connector "${c}" (route "${route}")`, { permanent: false });
        this.#logger.error('missing sink', { connector: c, route });
        this.#metrics.inc('sink_failures_total', { connector: c, route, code: e.code });
        return e;
      }
    }

    // 3. every route at once, each destination with its own retries; wait for all of them, so
    //    nothing of this message is still in flight when it is settled (and possibly redelivered)
    const errors = (await Promise.all(work.map((w) => this.#runRoute(table, connector, message, w)))).filter(
      (e): e is FerryError => e !== undefined,
    );
    return errors.length === 0 ? undefined : combineErrors(errors);
  }

  /**
   * A message that has passed through Ferry `maxHops` times (core hops.ts) is not written again:
   * with a dead-letter destination the route dead-letters it like any failure, else its looping
   * destinations are dropped (the message is settled as handled, so a broker does not redeliver it
   * into the same loop), counted as `messages_dropped_total{reason="max_hops"}` and logged once
   * per route.
   */
  #loopGuard(connector: string, plan: RoutePlan, policy: RoutePolicy | undefined): RoutePlan {
    const looped = plan.failed.filter((f) => f.error.code === 'LOOP_DETECTED');
    if (looped.length === 0) return plan;
    if (!this.#loopsLogged.has(plan.route)) {
      this.#loopsLogged.add(plan.route);
      this.#logger.warn('message looped: not written again', {
        connector,
        route: plan.route,
        error: looped[0]?.error.message,
        action: policy?.deadLetter !== undefined ? 'dead-lettered' : 'dropped',
        note: 'logged once per route',
      });
    }
    if (policy?.deadLetter !== undefined) return plan;
    this.#metrics.inc('messages_dropped_total', { connector, reason: 'max_hops' });
    return { ...plan, failed: plan.failed.filter((f) => f.error.code !== 'LOOP_DETECTED') };
  }

  /** One route of a message: its destinations, retried and dead-lettered per its policy. */
  async #runRoute(
    table: RouteTable,
    connector: string,
    message: GatewayMessage,
    w: { match: RouteMatch; policy: RoutePolicy | undefined; dispatches: readonly Dispatch[]; unplanned: readonly UnplannedDestination[] },
  ): Promise<FerryError | undefined> {
    const route = w.match.route;
    const hasDeadLetter = w.policy?.deadLetter !== undefined;
    // each failed destination gets its own dead-letter copy, naming it, so it can be replayed
    // there; those that could not even be planned go at once, alongside the writes
    const deadUnplanned = hasDeadLetter
      ? Promise.all(w.unplanned.map((u) => this.#deadLetter(table, message, w.match, u.error, describeDestination(u.connector, u.to, u.index), 0)))
      : Promise.resolve([]);
    const results = await Promise.all(w.dispatches.map((d) => this.#destination(d, w.policy)));
    const failed = results.filter((r): r is Extract<DestinationResult, { ok: false }> => !r.ok);
    if (failed.length === 0 && w.unplanned.length === 0) {
      this.#metrics.inc('messages_routed_total', { route });
      return undefined;
    }
    if (hasDeadLetter && !this.#stopping.signal.aborted) {
      const dead = [
        ...(await deadUnplanned),
        ...(await Promise.all(
          failed.map((f) => this.#deadLetter(table, message, w.match, f.error, describeDestination(f.dispatch.connector, f.dispatch.to, f.dispatch.index), f.attempts)),
        )),
      ];
      const errors = dead.filter((e): e is FerryError => e !== undefined);
      return errors.length === 0 ? undefined : combineErrors(errors);
    }
    if (hasDeadLetter) {
      const errors = (await deadUnplanned).filter((e): e is FerryError => e !== undefined);
      if (failed.length === 0) return errors.length === 0 ? undefined : combineErrors(errors);
    }
    if (this.#stopping.signal.aborted && failed.length > 0) {
      // shutting down mid-retry: give the message back rather than dead-letter or reject it
      const last = combineErrors(failed.map((f) => f.error));
      return new FerryError('SHUTTING_DOWN', `stopped while retrying: ${last.message}`, { cause: last, permanent: false });
    }
    const decision = await this.#ask({
      route,
      connector,
      message,
      phase: w.unplanned.length > 0 ? 'plan' : 'dispatch',
      failures: [
        ...w.unplanned.map((u) => ({ index: u.index, dispatch: undefined, error: u.error })),
        ...failed.map((f) => ({ index: f.dispatch.index, dispatch: f.dispatch, error: f.error })),
      ],
    });
    if (decision.kind === 'handled') {
      this.#metrics.inc('messages_routed_total', { route });
      return undefined;
    }
    return decision.error;
  }

  /**
   * Write one destination, retrying a transient failure with backoff (only this destination:
   * the others of the message are not written again). Permanent failures are not retried. A
   * route's `onFailure.retry` counts attempts; without one, the engine's transient retry bounds
   * the time spent (see {@link DEFAULT_TRANSIENT_RETRY}).
   */
  async #destination(d: Dispatch, policy: RoutePolicy | undefined): Promise<DestinationResult> {
    const retry = policy?.retry;
    const fallback = retry === undefined ? this.#transientRetry : false;
    const backoff =
      retry !== undefined
        ? new Backoff({ initialMs: retry.initialMs, maxMs: retry.maxMs })
        : fallback !== false
          ? new Backoff({ initialMs: fallback.initialMs, maxMs: fallback.maxMs, minMs: fallback.minMs })
          : undefined;
    const started = performance.now();
    for (let attempts = 1; ; attempts++) {
      const error = await this.#write(d);
      if (error === undefined) return { ok: true };
      if (error.permanent || backoff === undefined || this.#stopping.signal.aborted) return { ok: false, error, attempts, dispatch: d };
      const delay = backoff.next();
      const exhausted =
        retry !== undefined
          ? attempts >= retry.maxAttempts
          : fallback !== false && performance.now() - started + delay > fallback.maxElapsedMs;
      if (exhausted) return { ok: false, error, attempts, dispatch: d };
      this.#metrics.inc('messages_retried_total', { route: d.route, code: error.code });
      this.#logger.debug('retrying a destination', { route: d.route, connector: d.connector, attempt: attempts + 1, delayMs: delay, code: error.code });
      try {
        await sleep(delay, this.#stopping.signal);
      } catch {
        return { ok: false, error, attempts, dispatch: d };
      }
    }
  }

  /**
   * Write the dead-letter copy of a message that failed `reason` at `failedDestination`:
   * resolves undefined once it is confirmed (the message is safely somewhere), or with the
   * error to settle the message with: a dead letter whose template cannot be filled rejects
   * (it would fail the same way on every redelivery), a failed dead-letter write releases (so
   * nothing is lost).
   */
  async #deadLetter(table: RouteTable, received: GatewayMessage, match: RouteMatch, reason: FerryError, failedDestination: string, attempts: number): Promise<FerryError | undefined> {
    const route = match.route;
    const headers = new Map<string, HeaderValue>(received.headers);
    headers.set(DEAD_LETTER_HEADERS.reason, `${reason.code}: ${reason.message}`);
    headers.set(DEAD_LETTER_HEADERS.route, route);
    headers.set(DEAD_LETTER_HEADERS.failedDestination, failedDestination);
    headers.set(DEAD_LETTER_HEADERS.attempts, attempts);
    headers.set(DEAD_LETTER_HEADERS.originalAddress, received.source.address);
    headers.set(DEAD_LETTER_HEADERS.gateway, this.#gatewayId);
    const copy: GatewayMessage = { ...received, headers };
    const plan = table.planDeadLetter(received, match, copy);
    if (plan === undefined) return reason;
    if (!plan.ok) {
      this.#logger.error('cannot fill the dead-letter destination; rejecting the message', { route, error: plan.error.message, reason: reason.message });
      return new FerryError(plan.error.code, `dead letter of route "${route}" cannot be filled (${plan.error.message}) for a message that failed: ${reason.message}`, {
        cause: reason,
        permanent: true,
      });
    }
    const error = await this.#write(plan.dispatch);
    if (error === undefined) {
      this.#metrics.inc('messages_dead_lettered_total', { route, reason: reason.code });
      this.#logger.warn('message dead-lettered', { route, reason: `${reason.code}: ${reason.message}`, failedDestination, attempts, deadLetter: plan.dispatch.connector });
      return undefined;
    }
    this.#logger.error('dead-letter write failed; releasing the message', { route, error: describeError(error), reason: reason.message });
    return new FerryError(error.code, `dead-letter write failed (${error.message}) for a message that failed: ${reason.message}`, {
      cause: error,
      permanent: false,
    });
  }

  async #ask(ctx: FailureContext): Promise<FailureDecision> {
    try {
      return await this.#policy.onFailure(ctx);
    } catch (err) {
      this.#logger.error('failure policy threw; failing the message', { route: ctx.route, error: describeError(err) });
      return defaultFailurePolicy.onFailure(ctx) as FailureDecision;
    }
  }

  /** Write one dispatch; resolves with its error, or undefined once the sink confirmed. Never rejects. */
  async #write(d: Dispatch): Promise<FerryError | undefined> {
    const sink = this.#sinks.get(d.connector) as Sink<Record<string, unknown>>;
    const started = performance.now();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const written = (async () => sink.write(d.message, d.to))().then(
      () => {
        if (timedOut) this.#logger.warn('sink confirmed after its timeout', { connector: d.connector, route: d.route });
        return undefined;
      },
      (err: unknown) => toFerryError(err),
    );
    const timeout = new Promise<FerryError>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        resolve(
          new FerryError('SINK_TIMEOUT', `${d.connector} did not confirm within ${this.#timeoutMs} ms`, {
            permanent: false,
            details: { connector: d.connector, route: d.route, timeoutMs: this.#timeoutMs },
          }),
        );
      }, this.#timeoutMs);
    });
    const error = await Promise.race([written, timeout]);
    clearTimeout(timer);
    if (error === undefined) {
      this.#metrics.observe('sink_confirm_seconds', { connector: d.connector }, (performance.now() - started) / 1000);
      this.#failures.succeeded(d.connector);
    } else {
      this.#metrics.inc('sink_failures_total', { connector: d.connector, route: d.route, code: error.code });
      // one line per (connector, code) state and a periodic count, never one per message
      this.#failures.failed({ connector: d.connector, route: d.route, to: d.index }, error);
    }
    return error;
  }
}

/**
 * A destination for the `x-ferry-failed-destination` header: the connector and its address
 * fields, rendered (a failed write) or as written in the route file (a template that could
 * not be filled), e.g. `rabbit exchange=telemetry routingKey=f.a`.
 */
function describeDestination(connector: string | undefined, to: Readonly<Record<string, unknown>> | undefined, index: number | undefined): string {
  if (connector === undefined || to === undefined) return 'headers.set (no destination could be written)';
  const fields = Object.entries(to)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}=${String(v)}`);
  const at = index === undefined || index < 0 ? '' : ` (to[${index}])`;
  return [connector, ...fields].join(' ') + at;
}

/**
 * One error for several failures. Permanent wins: if any destination can never accept the
 * message, redelivering it cannot make the whole delivery succeed (and would duplicate it at the
 * destinations that did confirm), so the message is rejected rather than released.
 */
export function combineErrors(errors: readonly FerryError[]): FerryError {
  const chosen = errors.find((e) => e.permanent) ?? errors[0];
  if (chosen === undefined) return new FerryError('INTERNAL', 'failure without an error');
  if (errors.length === 1) return chosen;
  return new FerryError(chosen.code, `${errors.length} failures: ${errors.map((e) => e.message).join('; ')}`, {
    cause: chosen,
    permanent: chosen.permanent,
    details: { codes: errors.map((e) => e.code) },
  });
}

function safeSettle(logger: Logger, settle: () => boolean): void {
  try {
    settle();
  } catch (err) {
    // the source's settle callback threw: its bug, but it must not take the engine down
    logger.error('settling a message threw', { error: describeError(err) });
  }
}
