import {
  FerryError,
  describeError,
  toFerryError,
  type DeliveryHandler,
  type GatewayMessage,
  type InboundDelivery,
  type Logger,
  type Metrics,
  type Sink,
} from '@ferry/core';
import type { Dispatch, RouteMatch, RouteTable } from './table.js';

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
  /** connector name → its sink, for every connector some route writes to */
  readonly sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** a write not confirmed within this counts as failed (SINK_TIMEOUT, transient); default 30 s */
  readonly sinkTimeoutMs?: number;
  /** per-route failure handling; default: fail the message */
  readonly failurePolicy?: FailurePolicy;
}

export const DEFAULT_SINK_TIMEOUT_MS = 30_000;

/**
 * The routing engine: for each delivery, the matching routes' destinations are written
 * concurrently and the delivery is settled only when every write has finished: accepted when
 * all confirmed, failed (reject if permanent, release if transient) otherwise. Messages are
 * never serialized: each delivery completes on its own, in whatever order its sinks confirm.
 */
export class Engine {
  readonly #table: RouteTable;
  readonly #sinks: ReadonlyMap<string, Sink<Record<string, unknown>>>;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #timeoutMs: number;
  readonly #policy: FailurePolicy;
  #inFlight = 0;
  readonly #idle = new Set<() => void>();

  constructor(opts: EngineOptions) {
    this.#table = opts.table;
    this.#sinks = opts.sinks;
    this.#logger = opts.logger;
    this.#metrics = opts.metrics;
    this.#timeoutMs = opts.sinkTimeoutMs ?? DEFAULT_SINK_TIMEOUT_MS;
    this.#policy = opts.failurePolicy ?? defaultFailurePolicy;
  }

  /** deliveries taken and not yet settled */
  get inFlight(): number {
    return this.#inFlight;
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
    this.#begin(matches);
    void this.#deliver(connector, message, matches)
      .then(
        (error) => {
          safeSettle(this.#logger, () => (error === undefined ? settlement.accept() : settlement.fail(error)));
        },
        (err: unknown) => {
          const e = toFerryError(err);
          this.#logger.error('routing failed', { connector, error: describeError(e) });
          safeSettle(this.#logger, () => settlement.release(e));
        },
      )
      .finally(() => this.#end(matches));
  }

  #begin(matches: readonly RouteMatch[]): void {
    this.#inFlight++;
    for (const m of matches) this.#metrics.add('messages_in_flight', { route: m.route }, 1);
  }

  #end(matches: readonly RouteMatch[]): void {
    for (const m of matches) this.#metrics.add('messages_in_flight', { route: m.route }, -1);
    this.#inFlight--;
    if (this.#inFlight === 0) {
      const waiters = [...this.#idle];
      this.#idle.clear();
      for (const w of waiters) w();
    }
  }

  /** Route one message; resolves with the error to fail it with, or undefined when it is delivered. */
  async #deliver(connector: string, message: GatewayMessage, matches: readonly RouteMatch[]): Promise<FerryError | undefined> {
    // 1. plan every route before writing anything: a template that cannot be filled must not
    //    leave the message half-delivered
    const dispatches: Dispatch[] = [];
    const planErrors: FerryError[] = [];
    for (const m of matches) {
      const plan = this.#table.planRoute(message, m);
      if (plan.ok) {
        dispatches.push(...plan.dispatches);
        continue;
      }
      this.#logger.warn('cannot fill a template', { connector, route: plan.route, to: plan.index, error: plan.error.message });
      const decision = await this.#ask({
        route: plan.route,
        connector,
        message,
        phase: 'plan',
        failures: [{ index: plan.index, dispatch: undefined, error: plan.error }],
      });
      if (decision.kind === 'fail') planErrors.push(decision.error);
    }
    if (planErrors.length > 0) return combineErrors(planErrors);

    // 2. every destination needs a sink; a missing one is a wiring bug, not the message's fault
    for (const d of dispatches) {
      if (!this.#sinks.has(d.connector)) {
        const e = new FerryError('INTERNAL', `no sink for connector "${d.connector}" (route "${d.route}")`, { permanent: false });
        this.#logger.error('missing sink', { connector: d.connector, route: d.route });
        this.#metrics.inc('sink_failures_total', { connector: d.connector, route: d.route, code: e.code });
        return e;
      }
    }

    // 3. write everywhere at once; wait for every write, so nothing of this message is still in
    //    flight when it is settled (and possibly redelivered by its source)
    const results = await Promise.all(dispatches.map((d) => this.#write(d)));

    // 4. per route: delivered, or the failure policy decides
    const byRoute = new Map<string, FailedDestination[]>();
    results.forEach((error, k) => {
      const d = dispatches[k] as Dispatch;
      let list = byRoute.get(d.route);
      if (list === undefined) byRoute.set(d.route, (list = []));
      if (error !== undefined) list.push({ index: d.index, dispatch: d, error });
    });
    const decisions = await Promise.all(
      [...byRoute].map(async ([route, failures]) => {
        if (failures.length === 0) {
          this.#metrics.inc('messages_routed_total', { route });
          return undefined;
        }
        const decision = await this.#ask({ route, connector, message, phase: 'dispatch', failures });
        if (decision.kind === 'handled') {
          this.#metrics.inc('messages_routed_total', { route });
          return undefined;
        }
        return decision.error;
      }),
    );
    const errors = decisions.filter((e): e is FerryError => e !== undefined);
    return errors.length === 0 ? undefined : combineErrors(errors);
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
    } else {
      this.#metrics.inc('sink_failures_total', { connector: d.connector, route: d.route, code: error.code });
      this.#logger.warn('sink write failed', {
        connector: d.connector,
        route: d.route,
        to: d.index,
        code: error.code,
        permanent: error.permanent,
        error: describeError(error),
      });
    }
    return error;
  }
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
