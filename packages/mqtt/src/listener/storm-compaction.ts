import { Session } from 'node:inspector';

/** CONNECTs and subscriptions that make a storm: fewer are left to V8's own heuristics */
const STORM_ARRIVALS = 1000;
/** how long without a CONNECT or a subscription before the storm counts as over */
const QUIET_MS = 1000;

export interface StormCompactionOptions {
  readonly stormArrivals?: number;
  readonly quietMs?: number;
  /** gives the heap's unused pages back (tests pass their own) */
  readonly compact?: () => void;
}

/**
 * Once a storm of devices connecting and subscribing is over, asks V8 for one memory-reducing full GC, which gives back
 * the young generation a storm leaves at its largest.
 *
 * A storm of devices connecting keeps most of what it allocates (their connections and sessions),
 * so V8 grows the young generation to its maximum (16 MB semi-spaces, 31 MiB resident) and
 * keeps it there while the devices sit idle: it shrinks it only in a full GC made while it
 * measures a low allocation rate over the last 5 s, or in one made to reduce memory. A
 * `global.gc()` is not such a GC, and needs `--expose-gc`; the inspector protocol's
 * `HeapProfiler.collectGarbage` is V8's low-memory notification (full GCs that reduce memory,
 * which shrink the young generation and release the old generation's free pages), in process,
 * with no flag and no port. It stops the process for the length of the GCs (about 0.5 s for
 * 10,000 devices), once per storm, when no device is connecting.
 *
 * A storm is counted from the CONNECTs and subscriptions the broker takes (where a device's state
 * is made; TCP accepts can all be done while the CONNECTs are still being read), one increment
 * each; a timer runs only while they keep arriving, and looks once per quiet period.
 */
export class StormCompaction {
  readonly #stormArrivals: number;
  readonly #quietMs: number;
  readonly #compact: () => void;
  /** CONNECTs and subscriptions since the last compaction */
  #arrived = 0;
  /** {@link #arrived} at the last look */
  #seen = 0;
  #timer: NodeJS.Timeout | undefined;
  #confirm: NodeJS.Immediate | undefined;

  constructor(opts: StormCompactionOptions = {}) {
    this.#stormArrivals = opts.stormArrivals ?? STORM_ARRIVALS;
    this.#quietMs = opts.quietMs ?? QUIET_MS;
    this.#compact = opts.compact ?? (() => compactHeap());
  }

  /** The broker took a CONNECT or a subscription. */
  arrived(): void {
    this.#arrived++;
    if (this.#timer === undefined && this.#confirm === undefined) this.#arm();
  }

  stop(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#confirm);
    this.#timer = undefined;
    this.#confirm = undefined;
  }

  #arm(): void {
    this.#seen = this.#arrived;
    this.#timer = setTimeout(() => this.#look(), this.#quietMs);
    // the watch alone never keeps the process running
    this.#timer.unref();
  }

  #look(): void {
    this.#timer = undefined;
    if (this.#arrived !== this.#seen) return this.#arm();
    // A process that did not run for the quiet period (a long GC, a loaded machine) sees its
    // timers first and the packets waiting in its sockets after: the event loop's
    // poll phase, which reads them, runs before the check phase's immediates (Node's event
    // loop phases), so the quiet is confirmed there.
    this.#confirm = setImmediate(() => {
      this.#confirm = undefined;
      if (this.#arrived !== this.#seen) return this.#arm();
      if (this.#arrived >= this.#stormArrivals) this.#compact();
      this.#arrived = 0;
      this.#seen = 0;
    });
  }
}

/**
 * V8's low-memory notification through an in-process inspector session, closed once it answered;
 * `done` is called after the session closed.
 */
export function compactHeap(done?: () => void): void {
  const session = new Session();
  try {
    session.connect();
  } catch {
    // a Node built without the inspector: the young generation stays as V8 left it
    done?.();
    return;
  }
  // the session must stay open until the answer (closing it earlier cancels the GC), and be
  // closed after the answer's dispatch: a disconnect inside the callback hangs the process
  session.post('HeapProfiler.collectGarbage', () =>
    setImmediate(() => {
      session.disconnect();
      done?.();
    }),
  );
}
