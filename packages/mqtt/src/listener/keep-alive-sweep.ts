/** One connection as the keep-alive sweep sees it (the mqtt-listener's Connection). */
export interface KeepAliveWatched {
  /** how long the client may be silent: 1.5 × its keep alive, in ms (MQTT 3.1.1 §3.1.2.10, MQTT 5 §3.1.2.10) */
  readonly silenceLimitMs: number;
  /**
   * Set by the connection when a packet arrives (one store on the hot path, no clock read);
   * the sweep clears it and counts the silence from that sweep on.
   */
  heard: boolean;
  /** the sweep's time (ms, its clock) this connection was last heard at; only the sweep writes it */
  lastHeardMs: number;
  /** while Ferry itself does not read the socket (flow control), the client's silence is Ferry's */
  readonly readPaused: boolean;
  /** the silence lasted longer than the limit: close the connection */
  keepAliveExpired(): void;
}

/** how often the sweep looks: a client is closed at most this much (twice, at worst) after its limit */
const SWEEP_PERIOD_MS = 500;

/**
 * The keep alive of every connection of one listener, checked by one coarse periodic sweep
 * instead of a timer per connection (a Timeout and a closure for each of 10,000 devices, and a
 * timer refresh per packet).
 *
 * The server must close a connection that sent nothing for 1.5 × its keep alive (MQTT 3.1.1
 * §3.1.2.10, MQTT 5 §3.1.2.10), and must not close it earlier. A packet is noted with the
 * `heard` flag only; the sweep that finds the flag set takes its own time as the moment the
 * client was last heard, which is never before the packet arrived: so a client is never closed
 * early, and at most two sweep periods late.
 */
export class KeepAliveSweep {
  readonly #periodMs: number;
  readonly #now: () => number;
  /**
   * the watched connections; each keeps the time it was last heard at itself, so a sweep over
   * 10,000 idle devices allocates nothing (a Map's [key, value] entries and a boxed time per
   * entry were 1.25 MB of garbage a second)
   */
  readonly #watched = new Set<KeepAliveWatched>();
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: { readonly periodMs?: number; readonly now?: () => number } = {}) {
    this.#periodMs = opts.periodMs ?? SWEEP_PERIOD_MS;
    this.#now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.#watched.size;
  }

  /** Watch `c` from now (its CONNECT was just read). The sweep runs while anything is watched. */
  watch(c: KeepAliveWatched): void {
    c.heard = false;
    c.lastHeardMs = this.#now();
    this.#watched.add(c);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.#periodMs);
      // the sweep alone never keeps the process running
      this.#timer.unref();
    }
  }

  unwatch(c: KeepAliveWatched): void {
    this.#watched.delete(c);
    if (this.#watched.size === 0) this.stop();
  }

  /** One look at every watched connection (the interval calls it; tests call it with their clock). */
  sweep(): void {
    const now = this.#now();
    let expired: KeepAliveWatched[] | undefined;
    for (const c of this.#watched) {
      if (c.heard || c.readPaused) {
        c.heard = false;
        c.lastHeardMs = now;
      } else if (now - c.lastHeardMs > c.silenceLimitMs) (expired ??= []).push(c);
    }
    if (expired === undefined) return;
    // closed after the loop: closing unwatches, and the set is not changed while it is iterated
    for (const c of expired) {
      this.#watched.delete(c);
      c.keepAliveExpired();
    }
    if (this.#watched.size === 0) this.stop();
  }

  /** Stop the interval (the listener stops; or nothing is watched). Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
