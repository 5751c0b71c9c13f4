/** One connection as the keep-alive sweep sees it (the mqtt-listener's Connection). */
export interface KeepAliveWatched {
  /** how long the client may be silent: 1.5 × its keep alive, in ms (MQTT 3.1.1 §3.1.2.10, MQTT 5 §3.1.2.10) */
  readonly silenceLimitMs: number;
  /**
   * Set by the connection when a packet arrives (one store on the hot path, no clock read);
   * the sweep clears it and counts the silence from that sweep on.
   */
  heard: boolean;
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
  /** each watched connection → the sweep time it was last heard at */
  readonly #watched = new Map<KeepAliveWatched, number>();
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
    this.#watched.set(c, this.#now());
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
    const expired: KeepAliveWatched[] = [];
    for (const [c, lastHeard] of this.#watched) {
      if (c.heard || c.readPaused) {
        c.heard = false;
        this.#watched.set(c, now);
      } else if (now - lastHeard > c.silenceLimitMs) expired.push(c);
    }
    // closed after the loop: closing unwatches, and a Map is not changed while it is iterated
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
