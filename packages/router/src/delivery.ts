import {
  Backoff,
  FerryError,
  counterHandle,
  describeError,
  histogramHandle,
  sleep,
  toFerryError,
  type CounterHandle,
  type GatewayMessage,
  type HeaderValue,
  type HistogramHandle,
  type Logger,
  type Metrics,
  type Sink,
} from '@ferry/core';
import { Deadlines, Expiring } from './deadlines.js';
import { SinkFailureLog } from './failure-log.js';
import type { Dispatch, RouteMatch, RoutePlan, RoutePolicy, RouteTable, UnplannedDestination } from './table.js';

const DEFAULT_SINK_TIMEOUT_MS = 30_000;

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
const DEFAULT_TRANSIENT_RETRY: TransientRetry = { initialMs: 200, maxMs: 5_000, minMs: 50, maxElapsedMs: 30_000 };

/** The headers a dead-letter copy carries, besides the message's own. */
export const DEAD_LETTER_HEADERS = {
  reason: 'x-ferry-dead-letter-reason',
  route: 'x-ferry-route',
  failedDestination: 'x-ferry-failed-destination',
  attempts: 'x-ferry-attempts',
  originalAddress: 'x-ferry-original-address',
  gateway: 'x-ferry-gateway',
} as const;

/** How one destination ended: confirmed, or failed after `attempts` writes. */
type DestinationResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: FerryError; readonly attempts: number; readonly dispatch: Dispatch };

/** A write the fast path made already, which failed: the retries count from its start. */
interface FirstAttempt {
  readonly error: FerryError;
  readonly started: number;
}

/** One route of a message, planned: what to write, and what could not be planned. */
interface RouteWork {
  readonly match: RouteMatch;
  readonly policy: RoutePolicy | undefined;
  readonly dispatches: readonly Dispatch[];
  readonly unplanned: readonly UnplannedDestination[];
}

/** Told once how a delivered message ended: undefined when delivered, else the error to fail it with. */
export interface Completion {
  complete(error: FerryError | undefined): void;
}

/** What finishes a {@link Write}: the delivery that made it. */
interface WriteOwner {
  settled(w: Write, error: FerryError | undefined): void;
  expired(w: Write): void;
  /** the one write of a one-route-one-destination message ended (see {@link CompletingWrite}) */
  completed(w: CompletingWrite, error: FerryError | undefined): void;
}

/**
 * One write to a sink in flight: its deadline (the write is the deadline's list node) and the
 * callback the sink settles it through, one object and one bound function per write. What its
 * outcome finishes is the subclass's: a message ({@link CompletingWrite}) or a retry loop's
 * promise ({@link ResolvingWrite}).
 */
abstract class Write extends Expiring {
  readonly owner: WriteOwner;
  readonly d: Dispatch;
  /** the sink's callback */
  readonly settle: (error: FerryError | undefined) => void;
  finished = false;
  /** the sink's call is still on the stack (an outcome then waits for a microtask) */
  calling = true;

  constructor(owner: WriteOwner, d: Dispatch) {
    super();
    this.owner = owner;
    this.d = d;
    this.settle = this.#settle.bind(this);
  }

  /** when the write began: its deadline's start (Deadlines.add sets it as the write starts) */
  get started(): number {
    return this.since;
  }

  /** the write ended, once: undefined when confirmed, else its error */
  abstract written(error: FerryError | undefined): void;

  expire(): void {
    this.owner.expired(this);
  }

  #settle(error: FerryError | undefined): void {
    this.owner.settled(this, error);
  }
}

/** A write whose outcome resolves a promise (the general path's retry loop). */
class ResolvingWrite extends Write {
  readonly #resolve: (error: FerryError | undefined) => void;

  constructor(owner: WriteOwner, d: Dispatch, resolve: (error: FerryError | undefined) => void) {
    super(owner, d);
    this.#resolve = resolve;
  }

  written(error: FerryError | undefined): void {
    this.#resolve(error);
  }
}

/**
 * The one write of a message with one route and one destination: it carries what finishing the
 * message needs (its completion, and what retrying its route on the general path needs).
 */
class CompletingWrite extends Write {
  readonly completion: Completion;
  readonly table: RouteTable;
  readonly connector: string;
  readonly message: GatewayMessage;
  readonly match: RouteMatch;
  readonly policy: RoutePolicy | undefined;

  constructor(
    owner: WriteOwner,
    d: Dispatch,
    completion: Completion,
    table: RouteTable,
    connector: string,
    message: GatewayMessage,
    match: RouteMatch,
    policy: RoutePolicy | undefined,
  ) {
    super(owner, d);
    this.completion = completion;
    this.table = table;
    this.connector = connector;
    this.message = message;
    this.match = match;
    this.policy = policy;
  }

  written(error: FerryError | undefined): void {
    this.owner.completed(this, error);
  }
}

export interface DeliveryOptions {
  readonly sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly sinkTimeoutMs?: number | undefined;
  readonly gatewayId?: string | undefined;
  readonly transientRetry?: TransientRetry | false | undefined;
  readonly failureSummaryMs?: number | undefined;
}

/**
 * The delivery half of the engine: one admitted message is planned, written to every
 * destination at once, retried and dead-lettered per its routes' `onFailure`, and its outcome
 * handed back once every write finished (the admission half, engine.ts, settles it).
 *
 * The common case, one route to one destination, takes a path of its own: one plan, one write,
 * one callback, no promise of the engine's own; anything else (a failure, fan-out, several
 * routes) takes the general path, which is the same code that path falls back to.
 */
export class Delivery {
  readonly #sinks: Map<string, Sink<Record<string, unknown>>>;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #timeoutMs: number;
  readonly #gatewayId: string;
  readonly #transientRetry: TransientRetry | false;
  readonly #failures: SinkFailureLog;
  /** one timer for every write's time-out */
  readonly #deadlines: Deadlines;
  /** routes whose looping messages were logged already (the log says it once per route) */
  readonly #loopsLogged = new Set<string>();
  /** metric series bound once per route and per connector, never a label object per message */
  readonly #routedBy = new Map<string, CounterHandle>();
  readonly #confirmBy = new Map<string, HistogramHandle>();
  /** aborted by {@link stop}: retries still waiting give up at once */
  readonly #stopping = new AbortController();

  constructor(opts: DeliveryOptions) {
    this.#sinks = new Map(opts.sinks);
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    this.#timeoutMs = opts.sinkTimeoutMs ?? DEFAULT_SINK_TIMEOUT_MS;
    this.#gatewayId = opts.gatewayId ?? '';
    this.#transientRetry = opts.transientRetry ?? DEFAULT_TRANSIENT_RETRY;
    this.#failures = new SinkFailureLog(opts.logger, opts.failureSummaryMs === undefined ? {} : { summaryEveryMs: opts.failureSummaryMs });
    this.#deadlines = new Deadlines(this.#timeoutMs);
  }

  /** Add `sinks`, replacing those of the same name. */
  addSinks(sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>): void {
    for (const [name, sink] of sinks) this.#sinks.set(name, sink);
  }

  removeSinks(names: Iterable<string>): void {
    for (const n of names) this.#sinks.delete(n);
  }

  /** Retries still waiting give up: each ends with its last error (see Engine.stop). */
  stop(): void {
    this.#stopping.abort(new FerryError('SHUTTING_DOWN', 'the gateway is stopping'));
  }

  /**
   * Route one message with `table`; `completion` is told the error to fail it with, or undefined
   * once it is delivered, exactly once. Throws only when planning throws (a bug): nothing was
   * written.
   */
  deliver(table: RouteTable, connector: string, message: GatewayMessage, matches: readonly RouteMatch[], completion: Completion): void {
    const match = matches.length === 1 ? matches[0] : undefined;
    const d = match === undefined ? undefined : table.planOne(message, match);
    if (match !== undefined && d !== undefined) {
      const policy = table.policyOf(match.route);
      if (this.#sinks.has(d.connector) && (policy?.deadLetter === undefined || this.#sinks.has(policy.deadLetter))) {
        this.#send(new CompletingWrite(this.#writes, d, completion, table, connector, message, match, policy));
        return;
      }
    }
    const plans = matches.map((m) => table.plan(message, m));
    this.#deliverAll(table, connector, message, matches, plans).then(
      (error) => completion.complete(error),
      (err: unknown) => completion.complete(this.#crashed(connector, err)),
    );
  }

  /** How the writes of this delivery end (one object for all of them, see {@link Write}). */
  readonly #writes: WriteOwner = {
    settled: (w, error) => this.#settled(w, error),
    expired: (w) => this.#expired(w),
    completed: (w, error) => this.#completed(w, error),
  };

  /** the one-route-one-destination write ended: the message is done, or its route is retried on the general path */
  #completed(w: CompletingWrite, error: FerryError | undefined): void {
    const { completion, table, message, match } = w;
    if (error === undefined) {
      this.#routed(match.route).inc();
      completion.complete(undefined);
      return;
    }
    // the first write failed: retried and dead-lettered as on the general path
    const work: RouteWork = { match, policy: w.policy, dispatches: [w.d], unplanned: [] };
    this.#runRoute(table, w.connector, message, work, { error, started: w.started }).then(
      (e) => completion.complete(e),
      (err: unknown) => completion.complete(this.#crashed(w.connector, err)),
    );
  }

  /** a bug in the engine's own code: the message is given back rather than lost */
  #crashed(connector: string, err: unknown): FerryError {
    const e = toFerryError(err);
    this.#logger.error('routing failed', { connector, error: describeError(e) });
    return new FerryError(e.code, e.message, { cause: e, permanent: false });
  }

  #routed(route: string): CounterHandle {
    let h = this.#routedBy.get(route);
    if (h === undefined) this.#routedBy.set(route, (h = counterHandle(this.#metrics, 'messages_routed_total', { route })));
    return h;
  }

  /** Route one message over all its plans; resolves with the error to fail it with, or undefined when it is delivered. */
  async #deliverAll(table: RouteTable, connector: string, message: GatewayMessage, matches: readonly RouteMatch[], plans: readonly RoutePlan[]): Promise<FerryError | undefined> {
    // 1. every route is planned before anything is written. A route without a dead-letter
    //    destination is all or nothing: a template that cannot be filled must not leave the
    //    message half-delivered (a reject would then lose the other half's reason to exist, a
    //    release would duplicate it). A route with one writes what it can and dead-letters the rest.
    const work: RouteWork[] = [];
    const planErrors: FerryError[] = [];
    for (const [i, m] of matches.entries()) {
      const policy = table.policyOf(m.route);
      const plan = this.#loopGuard(connector, plans[i] ?? table.plan(message, m), policy);
      for (const f of plan.failed) {
        if (f.error.code === 'LOOP_DETECTED') continue;
        this.#logger.warn('cannot fill a template', { connector, route: plan.route, to: f.index, error: f.error.message });
      }
      if (plan.failed.length === 0 || policy?.deadLetter !== undefined) work.push({ match: m, policy, dispatches: plan.dispatches, unplanned: plan.failed });
      else planErrors.push(combineErrors(plan.failed.map((f) => f.error)));
    }
    if (planErrors.length > 0) return combineErrors(planErrors);

    // 2. every destination needs a sink; a missing one is a wiring bug, not the message's fault
    for (const w of work) {
      const needed = w.dispatches.map((d) => d.connector);
      if (w.policy?.deadLetter !== undefined) needed.push(w.policy.deadLetter);
      for (const c of needed) {
        if (this.#sinks.has(c)) continue;
        const e = new FerryError('INTERNAL', `no sink for connector "${c}" (route "${w.match.route}")`, { permanent: false });
        this.#logger.error('missing sink', { connector: c, route: w.match.route });
        this.#metrics.inc('sink_failures_total', { connector: c, route: w.match.route, code: e.code });
        return e;
      }
    }

    // 3. every route at once, each destination with its own retries; wait for all of them, so
    //    nothing of this message is still in flight when it is settled (and possibly redelivered)
    const errors = (await Promise.all(work.map((w) => this.#runRoute(table, connector, message, w)))).filter((e): e is FerryError => e !== undefined);
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
    w: RouteWork,
    first?: FirstAttempt,
  ): Promise<FerryError | undefined> {
    const route = w.match.route;
    const hasDeadLetter = w.policy?.deadLetter !== undefined;
    // each failed destination gets its own dead-letter copy, naming it, so it can be replayed
    // there; those that could not even be planned go at once, alongside the writes
    const deadUnplanned = hasDeadLetter
      ? Promise.all(w.unplanned.map((u) => this.#deadLetter(table, message, w.match, u.error, describeDestination(u.connector, u.to, u.index), 0)))
      : Promise.resolve([]);
    const results = await Promise.all(w.dispatches.map((d) => this.#destination(d, w.policy, first)));
    const failed = results.filter((r): r is Extract<DestinationResult, { ok: false }> => !r.ok);
    if (failed.length === 0 && w.unplanned.length === 0) {
      this.#routed(route).inc();
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
    return combineErrors([...w.unplanned.map((u) => u.error), ...failed.map((f) => f.error)]);
  }

  /**
   * Write one destination, retrying a transient failure with backoff (only this destination:
   * the others of the message are not written again). Permanent failures are not retried. A
   * route's `onFailure.retry` counts attempts; without one, the engine's transient retry bounds
   * the time spent (see {@link DEFAULT_TRANSIENT_RETRY}). `first`: the first attempt's error,
   * when it was written already (the fast path).
   */
  async #destination(d: Dispatch, policy: RoutePolicy | undefined, first?: FirstAttempt): Promise<DestinationResult> {
    const retry = policy?.retry;
    const fallback = retry === undefined ? this.#transientRetry : false;
    const backoff =
      retry !== undefined
        ? new Backoff({ initialMs: retry.initialMs, maxMs: retry.maxMs })
        : fallback !== false
          ? new Backoff({ initialMs: fallback.initialMs, maxMs: fallback.maxMs, minMs: fallback.minMs })
          : undefined;
    const started = first?.started ?? performance.now();
    for (let attempts = 1; ; attempts++) {
      const error = attempts === 1 && first !== undefined ? first.error : await this.#write(d);
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

  /** Write one dispatch; resolves with its error, or undefined once the sink confirmed. Never rejects. */
  #write(d: Dispatch): Promise<FerryError | undefined> {
    return new Promise((resolve) => this.#send(new ResolvingWrite(this.#writes, d, resolve)));
  }

  /**
   * Start write `w`; it ends exactly once ({@link #settled} or {@link #expired}): confirmed, or
   * with its error (SINK_TIMEOUT, transient, when the sink did not confirm within the sink
   * timeout; a late confirmation is then only logged).
   */
  #send(w: Write): void {
    const sink = this.#sinks.get(w.d.connector) as Sink<Record<string, unknown>>;
    this.#deadlines.add(w);
    try {
      // a sink that reports through a callback (Sink.send) needs no promise per write
      if (sink.send !== undefined) sink.send(w.d.message, w.d.to, w.settle);
      else
        sink.write(w.d.message, w.d.to).then(
          () => w.settle(undefined),
          (err: unknown) => w.settle(toFerryError(err)),
        );
    } catch (err) {
      w.settle(toFerryError(err));
    }
    w.calling = false;
  }

  #settled(w: Write, error: FerryError | undefined): void {
    if (w.calling) {
      // an outcome given while the sink's call is still on the stack waits for a microtask, as a
      // promise's would: the engine's completion must not run inside its own start
      queueMicrotask(() => this.#settled(w, error));
      return;
    }
    if (w.finished) {
      // a failure after the time-out is the time-out's; a late confirmation is worth a line
      if (error === undefined) this.#logger.warn('sink confirmed after its timeout', { connector: w.d.connector, route: w.d.route });
      return;
    }
    w.finished = true;
    this.#deadlines.cancel(w);
    if (error === undefined) {
      this.#confirmed(w.d.connector).observe((performance.now() - w.started) / 1000);
      this.#failures.succeeded(w.d.connector);
    } else this.#failed(w.d, error);
    w.written(error);
  }

  #expired(w: Write): void {
    w.finished = true;
    const { d } = w;
    const error = new FerryError('SINK_TIMEOUT', `${d.connector} did not confirm within ${this.#timeoutMs} ms`, {
      permanent: false,
      details: { connector: d.connector, route: d.route, timeoutMs: this.#timeoutMs },
    });
    this.#failed(d, error);
    w.written(error);
  }

  #confirmed(connector: string): HistogramHandle {
    let h = this.#confirmBy.get(connector);
    if (h === undefined) this.#confirmBy.set(connector, (h = histogramHandle(this.#metrics, 'sink_confirm_seconds', { connector })));
    return h;
  }

  #failed(d: Dispatch, error: FerryError): void {
    this.#metrics.inc('sink_failures_total', { connector: d.connector, route: d.route, code: error.code });
    // one line per (connector, code) state and a periodic count, never one per message
    this.#failures.failed({ connector: d.connector, route: d.route, to: d.index }, error);
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
function combineErrors(errors: readonly FerryError[]): FerryError {
  const chosen = errors.find((e) => e.permanent) ?? errors[0];
  if (chosen === undefined) return new FerryError('INTERNAL', 'failure without an error');
  if (errors.length === 1) return chosen;
  return new FerryError(chosen.code, `${errors.length} failures: ${errors.map((e) => e.message).join('; ')}`, {
    cause: chosen,
    permanent: chosen.permanent,
    details: { codes: errors.map((e) => e.code) },
  });
}

