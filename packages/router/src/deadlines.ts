/** One pending deadline, a node of {@link Deadlines}' list. */
export interface Deadline {
  readonly at: number;
}

/** What a deadline belongs to: told once when it passes (an object, so a write needs no closure for it). */
export interface Expiring {
  expire(): void;
}

interface Node extends Deadline {
  readonly owner: Expiring;
  prev: Node | undefined;
  next: Node | undefined;
  /** still in the list (neither cancelled nor expired) */
  live: boolean;
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
  #head: Node | undefined;
  #tail: Node | undefined;
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
  add(owner: Expiring, now: number = this.#now()): Deadline {
    const node: Node = { at: now + this.#ms, owner, prev: this.#tail, next: undefined, live: true };
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#size++;
    // an armed timer wakes no later than this deadline (every deadline is at most `ms` away and
    // the timer was armed for one at most `ms` away): it re-arms for the head then
    if (this.#timer === undefined) this.#arm(node.at);
    return node;
  }

  /** The deadline is met: its owner is never told. A second call, or one after it expired, does nothing. */
  cancel(deadline: Deadline): void {
    const node = deadline as Node;
    if (!node.live) return;
    // the timer stays armed: it finds nothing due when it wakes (see the class comment)
    this.#unlink(node);
  }

  /** Forget every pending deadline without running it, and the timer. */
  clear(): void {
    for (let n = this.#head; n !== undefined; n = n.next) n.live = false;
    this.#head = this.#tail = undefined;
    this.#size = 0;
    this.#disarm();
  }

  #unlink(node: Node): void {
    node.live = false;
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = node.next = undefined;
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
    const now = this.#now();
    for (let n = this.#head; n !== undefined && n.at <= now; n = this.#head) {
      this.#unlink(n);
      n.owner.expire();
    }
    // an expired write's retry may have added a deadline, and armed the timer for it already
    if (this.#head !== undefined && !this.#armed()) this.#arm(this.#head.at);
  }
}
