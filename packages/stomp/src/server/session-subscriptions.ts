import { headerValue, type StompFrame, type StompVersion } from '../frame/frame.js';
import { ackTarget, type AckTarget } from './ack-target.js';
import type { StompBroker, SubscriberSession, Subscription } from './broker.js';

/**
 * The subscriptions of one session by their id (STOMP 1.2 §SUBSCRIBE, §UNSUBSCRIBE), and the
 * ACK/NACK of what they delivered (§ACK, §NACK). A string returned is the protocol error to
 * answer the frame with.
 */
export class SessionSubscriptions {
  readonly #subs = new Map<string, Subscription>();
  readonly #session: SubscriberSession;
  readonly #broker: StompBroker;
  readonly #max: number;

  constructor(session: SubscriberSession, broker: StompBroker, max: number) {
    this.#session = session;
    this.#broker = broker;
    this.#max = max;
  }

  get size(): number {
    return this.#subs.size;
  }

  values(): IterableIterator<Subscription> {
    return this.#subs.values();
  }

  /** SUBSCRIBE to a destination already checked and allowed. */
  add(f: StompFrame, destination: string, version: StompVersion): Subscription | string {
    // STOMP 1.2 §SUBSCRIBE id Header: required (1.1 too); STOMP 1.0 made it optional.
    let id = headerValue(f, 'id');
    if (id === undefined) {
      if (version !== '1.0') return 'SUBSCRIBE without an id header';
      id = destination;
    }
    if (this.#subs.has(id)) return `subscription id ${JSON.stringify(id)} is already in use on this connection`;
    if (this.#subs.size >= this.#max) return `more than ${this.#max} subscriptions on one connection`;
    const ack = headerValue(f, 'ack') ?? 'auto';
    // STOMP 1.2 §SUBSCRIBE ack Header: auto, client or client-individual.
    if (ack !== 'auto' && ack !== 'client' && ack !== 'client-individual') return `ack mode ${JSON.stringify(ack)}: expected auto, client or client-individual`;
    const sub = this.#broker.subscribe(this.#session, id, destination, ack);
    this.#subs.set(id, sub);
    return sub;
  }

  /** UNSUBSCRIBE: by id (STOMP 1.0: or by destination). */
  remove(f: StompFrame, version: StompVersion): string | undefined {
    let id = headerValue(f, 'id');
    if (id === undefined && version === '1.0') id = headerValue(f, 'destination');
    if (id === undefined) return 'UNSUBSCRIBE without an id header';
    const sub = this.#subs.get(id);
    if (sub === undefined) return `no subscription with id ${JSON.stringify(id)}`;
    this.#subs.delete(id);
    this.#broker.unsubscribe(sub);
    return undefined;
  }

  /** the delivery an ACK/NACK names (see ack-target.ts) */
  target(f: StompFrame, version: StompVersion): AckTarget | null | string {
    return ackTarget(f, version, this.#subs);
  }

  /** ACK or NACK a delivery: in `client` mode it settles every earlier one too (§SUBSCRIBE ack Header) */
  settle(kind: 'ack' | 'nack', target: AckTarget | null): void {
    if (target === null) return;
    const cumulative = target.sub.ackMode === 'client';
    if (kind === 'ack') this.#broker.ack(target.sub, target.messageId, cumulative);
    else this.#broker.nack(target.sub, target.messageId, cumulative);
  }

  /**
   * The connection ended. STOMP 1.2 §SUBSCRIBE ack Header: unacknowledged messages of a closed
   * connection are given back (here: to the front of their queue, for other subscribers).
   */
  releaseAll(): void {
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const s of subs) this.#broker.unsubscribe(s);
  }
}
