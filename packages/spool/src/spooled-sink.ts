import {
  Backoff,
  counterHandle,
  FerryError,
  describeError,
  sleep,
  toFerryError,
  type BackoffOptions,
  type CounterHandle,
  type GatewayMessage,
  type Logger,
  type Metrics,
  type Sink,
} from '@ferry/core';
import { decodeMessage, encodeMessage } from './message-codec.js';
import type { Spool, SpoolEntry } from './spool.js';

export interface SpooledSinkOptions<T extends Record<string, unknown>> {
  /** the sink connector's name: also the name of its spool queue and the metrics label */
  readonly connector: string;
  readonly sink: Sink<T>;
  readonly spool: Spool;
  /** whether the real sink can take writes now (the connector's state is `up`) */
  readonly isUp: () => boolean;
  /**
   * Source connectors whose messages may be spooled: Ferry's own listeners. A broker source is
   * better off leaving an undeliverable message in its broker (release → redelivery) than
   * having Ferry keep a second copy.
   */
  readonly spoolFrom: ReadonlySet<string>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** spooled messages written to the sink at once while draining; default 100 */
  readonly window?: number;
  /** a drain write not confirmed within this counts as failed (kept, retried); default 30 s */
  readonly drainTimeoutMs?: number;
  /**
   * A direct write of a spoolable message not confirmed within this is spooled instead, so the
   * device is acknowledged before the engine's own sink timeout releases it. The direct write
   * may still confirm later: then the message arrives twice (at-least-once). Default 10 s.
   */
  readonly directTimeoutMs?: number;
  /** the pause after a failed drain batch; default 200 ms doubling to 5 s, with jitter */
  readonly backoff?: BackoffOptions;
  /** how often the drainer looks at a sink that is not up; default 250 ms */
  readonly pollMs?: number;
  /**
   * How long `stop` waits for the drain batch in flight (its confirmations delete entries,
   * which saves duplicates next time) before leaving it; default 5 s.
   */
  readonly stopGraceMs?: number;
}

const DEFAULT_DRAIN_WINDOW = 100;

type Drained = { readonly entry: SpoolEntry; readonly outcome: 'confirmed' } | { readonly entry: SpoolEntry; readonly outcome: 'failed' | 'rejected' | 'corrupt'; readonly error: FerryError };

/**
 * A sink with a durable spool in front, for messages Ferry accepted from its own listeners.
 *
 * `write(message, to)` of a spoolable message (at-least-once, from a listener in `spoolFrom`):
 * - the spool queue of this sink holds messages, or the sink is not up → append to the spool
 *   (fsynced) and resolve: the source acknowledges the device now, Ferry owns the message.
 *   Later messages queue behind earlier ones, so the queue drains in arrival order.
 * - otherwise → write to the real sink; a transient failure (or no confirmation within
 *   `directTimeoutMs`) → append to the spool and resolve; a permanent failure is returned
 *   unchanged (the source rejects the message, as without a spool).
 * Other messages (broker sources, at-most-once) go to the real sink unchanged.
 *
 * A drainer writes the queue to the real sink while it is up, in batches of `window`, oldest
 * first, and deletes an entry only once the sink confirmed it. After a failed batch it keeps
 * the unconfirmed entries and backs off. A drained message the sink refuses permanently cannot
 * be refused upstream any more (it was acknowledged): it is dropped, logged and counted
 * (messages_dropped_total{reason:"spool-rejected"}).
 *
 * `start` and `stop` are idempotent; `stop` waits for the batch in flight, whose unconfirmed
 * entries stay in the spool for the next start (or the next process, after a crash).
 */
export class SpooledSink<T extends Record<string, unknown>> implements Sink<T> {
  readonly #o: SpooledSinkOptions<T>;
  readonly #window: number;
  readonly #drainTimeoutMs: number;
  readonly #directTimeoutMs: number;
  readonly #pollMs: number;
  readonly #backoff: Backoff;
  #running = false;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** messages spooled since the queue was last empty, for one log line per outage */
  #episode = 0;
  /** `messages_spooled_total` of this sink, bound once: counted per message during an outage */
  #spooled: CounterHandle | undefined;

  constructor(opts: SpooledSinkOptions<T>) {
    this.#o = opts;
    this.#window = Math.max(1, opts.window ?? DEFAULT_DRAIN_WINDOW);
    this.#drainTimeoutMs = opts.drainTimeoutMs ?? 30_000;
    this.#directTimeoutMs = opts.directTimeoutMs ?? 10_000;
    this.#pollMs = opts.pollMs ?? 250;
    this.#backoff = new Backoff(opts.backoff ?? { initialMs: 200, maxMs: 5_000, minMs: 50 });
  }

  get connector(): string {
    return this.#o.connector;
  }

  /** messages waiting in this sink's spool queue (including appends being written) */
  get depth(): number {
    return this.#o.spool.depth(this.#o.connector).messages;
  }

  async write(message: GatewayMessage, to: T): Promise<void> {
    if (!this.#spoolable(message)) return this.#o.sink.write(message, to);
    if (this.depth > 0 || !this.#o.isUp()) return this.#toSpool(message, to, undefined);
    try {
      await this.#direct(message, to);
    } catch (err) {
      const e = toFerryError(err);
      if (e.permanent) throw e;
      await this.#toSpool(message, to, e);
    }
  }

  /** Start draining (whatever the spool holds for this sink, then what comes). Idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#abort = new AbortController();
    this.#loop = this.#run(this.#abort.signal).catch((err: unknown) => {
      this.#o.logger.error('spool drainer stopped on an error', { connector: this.#o.connector, error: describeError(err) });
    });
  }

  /** Stop draining; resolves once the batch in flight has finished. Idempotent. */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#running = false;
      this.#abort?.abort(new FerryError('SHUTTING_DOWN', 'spool drainer stopping'));
      this.#wake?.();
    }
    await this.#loop;
  }

  #spoolable(message: GatewayMessage): boolean {
    return this.#running && message.guarantee === 'at-least-once' && this.#o.spoolFrom.has(message.source.connector);
  }

  /** the real sink, bounded by `directTimeoutMs` */
  async #direct(message: GatewayMessage, to: T): Promise<void> {
    const written = (async () => this.#o.sink.write(message, to))();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), this.#directTimeoutMs);
    });
    try {
      const late = await Promise.race([written.then(() => false as const), timedOut]);
      if (late) {
        written.catch(() => undefined);
        throw new FerryError('SINK_TIMEOUT', `${this.#o.connector} did not confirm within ${this.#directTimeoutMs} ms; spooling the message`, { permanent: false });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  async #toSpool(message: GatewayMessage, to: T, cause: FerryError | undefined): Promise<void> {
    const { connector, spool, logger, metrics } = this.#o;
    let value: Buffer;
    try {
      value = encodeMessage({ message, to });
    } catch (err) {
      // a value the codec cannot keep exactly (an adapter put a class instance in meta): this
      // message is handled as if there were no spool, never stored changed
      logger.warn('message cannot be spooled; handled without the spool', { connector, error: describeError(err) });
      if (cause) throw cause;
      return this.#o.sink.write(message, to);
    }
    await spool.append(connector, value);
    (this.#spooled ??= counterHandle(metrics, 'messages_spooled_total', { connector })).inc();
    if (this.#episode++ === 0) {
      logger.warn('destination unreachable: spooling messages from listeners to disk', {
        connector,
        reason: cause === undefined ? 'sink not up or spool not empty' : describeError(cause),
      });
    }
    this.#wake?.();
  }

  async #run(signal: AbortSignal): Promise<void> {
    const { connector, spool, logger, isUp } = this.#o;
    let drained = 0;
    while (this.#running) {
      try {
        if (this.depth === 0) {
          if (drained > 0) logger.info('spool drained', { connector, messages: drained });
          drained = 0;
          this.#episode = 0;
          await this.#idle(undefined, signal);
          continue;
        }
        if (!isUp()) {
          await this.#idle(this.#pollMs, signal);
          continue;
        }
        const batch = await spool.take(connector, this.#window);
        if (batch.length === 0) {
          // only appends still being written: they wake us when they are on disk
          await this.#idle(this.#pollMs, signal);
          continue;
        }
        const results = await this.#graced(Promise.all(batch.map((entry) => this.#drainOne(entry))), signal);
        if (results === undefined) {
          // stopping, and the sink has not answered within the grace: leave the batch stored
          spool.giveBack(batch);
          break;
        }
        drained += this.#settle(results);
        const failed = results.flatMap((r) => (r.outcome === 'failed' ? [r.error] : []));
        if (failed.length > 0) {
          const delay = this.#backoff.next();
          logger.warn('spool drain write failed; kept, retrying', {
            connector,
            failed: failed.length,
            of: batch.length,
            retryInMs: delay,
            error: describeError(failed[0]),
          });
          await sleep(delay, signal);
        } else {
          this.#backoff.reset();
        }
      } catch (err) {
        if (signal.aborted) break;
        const delay = this.#backoff.next();
        logger.error('spool drainer error; retrying', { connector, error: describeError(err), retryInMs: delay });
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  async #drainOne(entry: SpoolEntry): Promise<Drained> {
    let message: GatewayMessage;
    let to: T;
    try {
      const env = decodeMessage(entry.value);
      message = env.message;
      to = (env.to ?? {}) as T;
    } catch (err) {
      return { entry, outcome: 'corrupt', error: toFerryError(err) };
    }
    let timer: NodeJS.Timeout | undefined;
    const written = (async () => this.#o.sink.write(message, to))();
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new FerryError('SINK_TIMEOUT', `${this.#o.connector} did not confirm a spooled message within ${this.#drainTimeoutMs} ms`)),
        this.#drainTimeoutMs,
      );
      // a write abandoned by `stop` must not keep the process alive until its timeout
      timer.unref();
    });
    try {
      await Promise.race([written, timeout]);
      return { entry, outcome: 'confirmed' };
    } catch (err) {
      written.catch(() => undefined);
      const e = toFerryError(err);
      return { entry, outcome: e.permanent ? 'rejected' : 'failed', error: e };
    } finally {
      clearTimeout(timer);
    }
  }

  /** delete what is done with, give the rest back; returns how many were delivered */
  #settle(results: readonly Drained[]): number {
    const { connector, spool, logger, metrics } = this.#o;
    const done: SpoolEntry[] = [];
    const keep: SpoolEntry[] = [];
    let delivered = 0;
    for (const r of results) {
      if (r.outcome === 'confirmed') {
        done.push(r.entry);
        delivered++;
      } else if (r.outcome === 'failed') {
        keep.push(r.entry);
      } else {
        // acknowledged upstream long ago, so it cannot be refused there: say so loudly
        const reason = r.outcome === 'rejected' ? 'spool-rejected' : 'spool-corrupt';
        metrics.inc('messages_dropped_total', { connector, reason });
        logger.error('spooled message dropped: the destination refused it permanently or it cannot be read', {
          connector,
          reason,
          seq: r.entry.seq,
          error: describeError(r.error),
        });
        done.push(r.entry);
      }
    }
    spool.giveBack(keep);
    // removal is awaited by the next take (same queue lock) and by spool.close
    void spool.remove(done).catch((err: unknown) => {
      spool.giveBack(done);
      logger.warn('could not delete delivered spool entries; they may be delivered again', { connector, error: describeError(err) });
    });
    return delivered;
  }

  /** `p`, or undefined when stopping began and `p` did not finish within the stop grace */
  #graced<R>(p: Promise<R>, signal: AbortSignal): Promise<R | undefined> {
    return new Promise<R | undefined>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        timer = setTimeout(() => resolve(undefined), this.#o.stopGraceMs ?? 5_000);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      p.then(
        (v) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      );
    });
  }

  /** wait for an append (or `ms`, or stop) */
  #idle(ms: number | undefined, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }
}
