import type { OutboundItem } from './types.js';

/**
 * One publish (a client's, or a sink write) whose copies wait for room in full session queues.
 * Its acknowledgement (the client's PUBACK / PUBREC, the sink write's confirm) is held until
 * every copy was admitted to its session's queue, or dropped and counted: the publisher's own
 * window (Receive Maximum, MQTT 5 §4.9; for 3.1.1 the listener's `receiveMaximum`, past which
 * its socket is not read; a route's `maxInFlight`) then fills, and it is paced to what its
 * subscribers take. It also keeps count of the copies a connected subscriber could not take
 * (`refused`), which a sink write must not confirm (sink-write.ts).
 */
export class RoomTicket {
  #pending = 0;
  /** what {@link whenReady} calls, and with what: kept as two fields, not a closure per held publish */
  #ready: ((arg: never) => void) | undefined;
  #readyArg: unknown;
  #stalled = 0;
  #tooLarge = 0;
  #queued = 0;

  /** true while some copy waits for room */
  get waiting(): boolean {
    return this.#pending > 0;
  }

  /** a copy starts waiting */
  hold(): void {
    this.#pending++;
  }

  /**
   * Copies of this publish that connected subscribers did not take: `stalled`, dropped because
   * the subscriber took nothing for `sessionQueueWaitMs` (or holding is off); `tooLarge`, larger
   * than the subscriber's whole queue (`sessionQueueBytes`). `queued`: copies that did enter a
   * queue (a retry of the publish repeats them).
   */
  get refused(): { readonly stalled: number; readonly tooLarge: number; readonly queued: number } {
    return { stalled: this.#stalled, tooLarge: this.#tooLarge, queued: this.#queued };
  }

  /** no copy waits and none was refused: the publish may be answered now (the common case) */
  get settled(): boolean {
    return this.#pending <= 0 && this.#stalled === 0 && this.#tooLarge === 0;
  }

  /**
   * Made new for the next publish, once no copy of this one waits (one ticket reused for the
   * publishes that wait for nothing, nearly all of them, instead of one per publish).
   */
  clear(): void {
    this.#stalled = 0;
    this.#tooLarge = 0;
    this.#queued = 0;
  }

  /** a copy entered a session's queue without waiting */
  queued(): void {
    this.#queued++;
  }

  /** a copy for a connected subscriber was dropped without waiting */
  refuse(tooLarge: boolean): void {
    if (tooLarge) this.#tooLarge++;
    else this.#stalled++;
  }

  /**
   * a copy no longer waits: `admitted` to its queue, dropped because its subscriber `stalled`,
   * or neither (the subscriber left, or its session ended: what an absent subscriber does not
   * take is not held against the publish, see docs/connectors/mqtt.md "Slow subscribers")
   */
  release(how: 'admitted' | 'stalled' | 'gone' = 'gone'): void {
    if (how === 'admitted') this.#queued++;
    else if (how === 'stalled') this.#stalled++;
    this.#pending--;
    if (this.#pending > 0) return;
    const ready = this.#ready as ((arg: unknown) => void) | undefined;
    const arg = this.#readyArg;
    this.#ready = undefined;
    this.#readyArg = undefined;
    ready?.(arg);
  }

  /** call `ready(arg)` once no copy waits: now when none does */
  whenReady<T>(ready: (arg: T) => void, arg: T): void {
    if (this.#pending <= 0) {
      ready(arg);
      return;
    }
    this.#ready = ready;
    this.#readyArg = arg;
  }
}

/** A copy of a message waiting for room in one session's queue, and the publish it holds. */
export interface Waiter {
  readonly item: OutboundItem;
  readonly ticket: RoomTicket;
}

/**
 * The copies waiting for room in one session's full queue, in arrival order (they enter the
 * queue in that order, after what it holds), and the bound on how long they wait: when
 * `waitMs` passes and none of them was admitted, the subscriber takes nothing (it stopped
 * acknowledging, or its socket stopped draining), and every waiting copy is handed to
 * `onStall`, to be dropped and counted. Until the session admits again it is `stalled`:
 * new copies for it are dropped at once, so a dead subscriber holds its publishers once, for
 * `waitMs`, not for every message. The same bound ends any cycle of publishers waiting on
 * each other's subscribers (two 3.1.1 clients, each the other's slow subscriber, both paused
 * at their `receiveMaximum`).
 */
export class WaitingRoom {
  readonly #list: Waiter[] = [];
  readonly #waitMs: number;
  readonly #onStall: (w: Waiter) => void;
  #timer: NodeJS.Timeout | undefined;
  #admitted = false;
  #stalled = false;

  constructor(waitMs: number, onStall: (w: Waiter) => void) {
    this.#waitMs = waitMs;
    this.#onStall = onStall;
  }

  get size(): number {
    return this.#list.length;
  }

  /** nothing was admitted for a whole `waitMs`: new copies are not held */
  get stalled(): boolean {
    return this.#stalled;
  }

  /** whether a copy may wait here: holding is on (`waitMs` > 0) and the subscriber is not stalled */
  get open(): boolean {
    return this.#waitMs > 0 && !this.#stalled;
  }

  add(item: OutboundItem, ticket: RoomTicket): void {
    ticket.hold();
    this.#list.push({ item, ticket });
    if (this.#timer === undefined) {
      this.#admitted = false;
      this.#timer = setTimeout(() => this.#check(), this.#waitMs);
      // a listener with waiting publishes must not keep a stopping process alive
      this.#timer.unref();
    }
  }

  peek(): Waiter | undefined {
    return this.#list[0];
  }

  /** the first waiter entered the queue */
  admitFirst(): void {
    const w = this.#list.shift();
    if (w === undefined) return;
    this.#admitted = true;
    this.#stalled = false;
    if (this.#list.length === 0) this.#stopTimer();
    w.ticket.release('admitted');
  }

  /** the session took messages again: new copies may wait again */
  progressed(): void {
    this.#stalled = false;
  }

  /** take out the waiters `pick` chooses, in order; their tickets stay held for the caller */
  take(pick: (w: Waiter) => boolean): Waiter[] {
    const taken: Waiter[] = [];
    for (let i = 0; i < this.#list.length; ) {
      const w = this.#list[i] as Waiter;
      if (pick(w)) {
        this.#list.splice(i, 1);
        taken.push(w);
      } else i++;
    }
    if (this.#list.length === 0) this.#stopTimer();
    return taken;
  }

  #check(): void {
    this.#timer = undefined;
    if (this.#list.length === 0) return;
    if (this.#admitted) {
      this.#admitted = false;
      this.#timer = setTimeout(() => this.#check(), this.#waitMs);
      this.#timer.unref();
      return;
    }
    this.#stalled = true;
    for (const w of this.take(() => true)) {
      this.#onStall(w);
      w.ticket.release('stalled');
    }
  }

  #stopTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
