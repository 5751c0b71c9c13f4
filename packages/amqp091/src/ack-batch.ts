import { TagWindow } from './tag-window.js';

/** What the batch needs of a delivery: its tag (AMQP 0-9-1 basic.deliver `delivery-tag`). */
export interface Tagged {
  readonly fields: { readonly deliveryTag: number };
}

/** a tag already settled on the wire: nacked, or acked on its own */
const SENT = 0;

/** the tags a batch holds room for at first, from its lowest unsettled one; doubled when a tag is past them */
const INITIAL_WINDOW = 64;
/**
 * A tag this far past the lowest unsettled one is not given a slot: it is acked on its own and
 * stops the run there, as a tag the run never saw does. RabbitMQ's tags grow by one per delivery
 * and the prefetch window bounds how far apart the unsettled ones are; this bounds the memory of a
 * numbering that does not.
 */
const MAX_WINDOW = 1 << 24;

/**
 * The acks of one consumer channel, sent together: accepted deliveries are collected until
 * {@link flush}, which acks the longest run of settled tags from the lowest unsettled one with
 * one basic.ack `multiple` (AMQP 0-9-1 §1.8.3.13: multiple acknowledges every outstanding
 * message up to and including the tag), and each accepted tag past that run on its own.
 *
 * A multiple ack never covers a delivery that is still in flight: the run only grows over tags
 * that were accepted in this batch or settled on the wire already (nacked, or acked on their
 * own), so one message held by a retry does not hold the acks of those after it. Delivery tags
 * on a channel start at 1 and grow by one per delivery (§1.8.3.9 "delivery-tag", RabbitMQ
 * counts deliveries per channel); one consumer has the channel to itself. A tag the run never
 * saw stops it, so an unexpected numbering costs batching, never an early ack.
 *
 * The settled tags are kept in a {@link TagWindow} from the lowest unsettled one on, so a
 * settlement costs no entry of a map.
 */
export class AckBatch<M extends Tagged> {
  /** the lowest tag not yet settled on the wire; 0 before the first delivery */
  #base = 0;
  /** tags at or above #base that are settled: accepted in this batch (the delivery), or SENT */
  readonly #settled = new TagWindow<M | typeof SENT>(INITIAL_WINDOW, MAX_WINDOW);
  /** accepted in this batch, in the order they were accepted */
  #accepted: M[] = [];

  /** a delivery arrived (the first one fixes where the run starts) */
  delivered(msg: M): void {
    if (this.#base === 0) this.#base = msg.fields.deliveryTag;
  }

  /** `msg` is to be acked at the next flush; true when it is the first of this batch */
  accept(msg: M): boolean {
    this.#mark(msg.fields.deliveryTag, msg);
    this.#accepted.push(msg);
    return this.#accepted.length === 1;
  }

  /** `msg` was settled on the wire without this batch (basic.nack) */
  sent(msg: M): void {
    this.#mark(msg.fields.deliveryTag, SENT);
  }

  /**
   * Send the batch's acks through `ack` (the delivery and whether it acks every outstanding tag
   * up to it); returns how many deliveries they acknowledged.
   */
  flush(ack: (msg: M, multiple: boolean) => void): number {
    const accepted = this.#accepted;
    if (accepted.length === 0) return 0;
    this.#accepted = [];
    const settled = this.#settled;
    const from = this.#base;
    let top: M | undefined;
    let run = 0;
    let base = from;
    for (let m = settled.take(base); m !== undefined; m = settled.take(base)) {
      base++;
      if (m !== SENT) {
        top = m;
        run++;
      }
    }
    this.#base = base;
    if (top !== undefined) ack(top, run > 1);
    let alone = 0;
    for (const m of accepted) {
      const tag = m.fields.deliveryTag;
      // inside the run just acked
      if (tag >= from && tag < this.#base) continue;
      ack(m, false);
      this.#mark(tag, SENT);
      alone++;
    }
    return run + alone;
  }

  /** `tag` is settled, as `what`; a tag below the window or too far past it has no slot */
  #mark(tag: number, what: M | typeof SENT): void {
    this.#settled.put(tag, what, this.#base);
  }
}
