import { toFerryError, type DeliveryHandler, type InboundDelivery } from '@ferry/core';

/**
 * The delivery handler of a listener a reload starts before its route table is in place: a
 * listener takes clients the moment it listens, and what it accepted must be neither routed by
 * the old table (which does not know it) nor acknowledged unrouted. Deliveries wait here until
 * `open` hands them, and every later one, to the engine, or `release` gives them back to their
 * clients (the reload failed). Bounded by each protocol's own window (receive maximum, credit).
 */
export class HeldDeliveries {
  #waiting: InboundDelivery[] = [];
  #target: DeliveryHandler | undefined;
  #released: unknown;

  readonly handler: DeliveryHandler = (delivery) => {
    if (this.#target !== undefined) return this.#target(delivery);
    if (this.#released !== undefined) return release(delivery, this.#released);
    this.#waiting.push(delivery);
  };

  open(target: DeliveryHandler): void {
    this.#target = target;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const d of waiting) target(d);
  }

  release(reason: unknown): void {
    this.#released = reason ?? new Error('reload failed');
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const d of waiting) release(d, this.#released);
  }
}

function release(d: InboundDelivery, reason: unknown): void {
  if (!d.settlement.settled) d.settlement.release(toFerryError(reason, 'SHUTTING_DOWN'));
}
