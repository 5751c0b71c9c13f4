import { FerryError } from '@ferry/core';

/**
 * What a deadline belongs to, told once when it passes. The owner is the node of the
 * {@link Deadlines} list itself (the list keeps its links here), so a deadline costs no object
 * of its own; an owner is pending in one list at a time.
 */
export abstract class Expiring {
  /**
   * when its time began, on the list's clock (set by {@link Deadlines.add}); it expires the
   * list's `ms` later. One number, not two: each is a heap object of its own while it is pending.
   */
  since = 0;
  /** the list's links and whether it is pending there: Deadlines' own, never set elsewhere */
  deadlinePrev: Expiring | undefined = undefined;
  deadlineNext: Expiring | undefined = undefined;
  deadlinePending = false;

  abstract expire(): void;
}

/**
 * The time-outs of the engine's sink writes: one timer for all of them rather than a timer, a
 * promise and a race per write. Every write waits the same `ms`, so deadlines are added in time
 * order: the list is a queue, adding and cancelling are O(1), and the one timer only ever needs
 * to wake for the head.
 *
 * Cancelling leaves the timer armed, even when the list empties: at one write in flight the
 * list empties with nearly every confirm, and clearing the timer there and setting it again for
 * the next write cost a timer per message or so. The timer is armed at most once per `ms` while
 * writes keep coming: when it wakes it expires what is due and is armed again for the new head
 * (never earlier than that), and when it finds the list empty it stops until the next add.
 */
export class Deadlines {
  readonly #ms: number;
  readonly #now: () => number;
  #head: Expiring | undefined;
  #tail: Expiring | undefined;
  #size = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number, now: () => number = () => performance.now()) {
    this.#ms = ms;
    this.#now = now;
  }

  /** deadlines pending */
  get size(): number {
    return this.#size;
  }

  /**
   * Call `owner.expire()` once `ms` has passed since `now` (the clock's time, read by the caller
   * when it has read it already), unless {@link cancel} comes first.
   */
  add(owner: Expiring, now: number = this.#now()): Expiring {
    // its links are the list's: pending twice would corrupt it (a bug of the caller's)
    if (owner.deadlinePending) throw new FerryError('INTERNAL', 'a deadline owner was added while still pending');
    owner.since = now;
    owner.deadlinePrev = this.#tail;
    owner.deadlineNext = undefined;
    owner.deadlinePending = true;
    if (this.#tail === undefined) this.#head = owner;
    else this.#tail.deadlineNext = owner;
    this.#tail = owner;
    this.#size++;
    // an armed timer wakes no later than this deadline (every deadline is at most `ms` away and
    // the timer was armed for one at most `ms` away): it re-arms for the head then
    if (this.#timer === undefined) this.#arm(now + this.#ms);
    return owner;
  }

  /** The deadline is met: its owner is never told. A second call, or one after it expired, does nothing. */
  cancel(node: Expiring): void {
    if (!node.deadlinePending) return;
    // the timer stays armed: it finds nothing due when it wakes (see the class comment)
    this.#unlink(node);
  }

  /** Forget every pending deadline without running it, and the timer. */
  clear(): void {
    for (let n = this.#head; n !== undefined; ) {
      const next = n.deadlineNext;
      n.deadlinePending = false;
      n.deadlinePrev = n.deadlineNext = undefined;
      n = next;
    }
    this.#head = this.#tail = undefined;
    this.#size = 0;
    this.#disarm();
  }

  #unlink(node: Expiring): void {
    node.deadlinePending = false;
    const prev = node.deadlinePrev;
    const next = node.deadlineNext;
    if (prev === undefined) this.#head = next;
    else prev.deadlineNext = next;
    if (next === undefined) this.#tail = prev;
    else next.deadlinePrev = prev;
    node.deadlinePrev = node.deadlineNext = undefined;
    this.#size--;
  }

  #arm(at: number): void {
    this.#timer = setTimeout(() => this.#fire(), Math.max(1, Math.ceil(at - this.#now())));
    // the writes themselves keep the process alive, not their time-out
    this.#timer.unref();
  }

  #armed(): boolean {
    return this.#timer !== undefined;
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#timer = undefined;
    // due: began at least `ms` ago
    const began = this.#now() - this.#ms;
    for (let n = this.#head; n !== undefined && n.since <= began; n = this.#head) {
      this.#unlink(n);
      n.expire();
    }
    // an expired write's retry may have added a deadline, and armed the timer for it already
    if (this.#head !== undefined && !this.#armed()) this.#arm(this.#head.since + this.#ms);
  }
}
