import { TagWindow } from './tag-window.js';

/** a tag accepted in this batch, to be acked at the next flush */
const ACCEPTED = 1;
/** a tag already settled on the wire: nacked, or acked on its own */
const SENT = 2;

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
 * settlement costs no entry of a map. A delivery is known by its tag alone (AMQP 0-9-1
 * basic.deliver `delivery-tag`), which is all basic.ack and basic.nack carry: nothing of the
 * delivery is kept until its ack.
 */
export class AckBatch {
  /** the lowest tag not yet settled on the wire; 0 before the first delivery */
  #base = 0;
  /** tags at or above #base that are settled: ACCEPTED in this batch, or SENT */
  readonly #settled = new TagWindow<typeof ACCEPTED | typeof SENT>(INITIAL_WINDOW, MAX_WINDOW);
  /** the tags accepted in this batch, in the order they were accepted */
  #accepted: number[] = [];

  /** delivery `tag` arrived (the first one fixes where the run starts) */
  delivered(tag: number): void {
    if (this.#base === 0) this.#base = tag;
  }

  /** `tag` is to be acked at the next flush; true when it is the first of this batch */
  accept(tag: number): boolean {
    this.#mark(tag, ACCEPTED);
    this.#accepted.push(tag);
    return this.#accepted.length === 1;
  }

  /** `tag` was settled on the wire without this batch (basic.nack) */
  sent(tag: number): void {
    this.#mark(tag, SENT);
  }

  /**
   * Send the batch's acks through `ack` (the delivery tag and whether it acks every outstanding
   * tag up to it); returns how many deliveries they acknowledged.
   */
  flush(ack: (tag: number, multiple: boolean) => void): number {
    const accepted = this.#accepted;
    if (accepted.length === 0) return 0;
    this.#accepted = [];
    const settled = this.#settled;
    const from = this.#base;
    let top = 0;
    let run = 0;
    let base = from;
    for (let m = settled.take(base); m !== undefined; m = settled.take(base)) {
      if (m === ACCEPTED) {
        top = base;
        run++;
      }
      base++;
    }
    this.#base = base;
    if (run > 0) ack(top, run > 1);
    let alone = 0;
    for (const tag of accepted) {
      // inside the run just acked
      if (tag >= from && tag < this.#base) continue;
      ack(tag, false);
      this.#mark(tag, SENT);
      alone++;
    }
    return run + alone;
  }

  /** `tag` is settled, as `what`; a tag below the window or too far past it has no slot */
  #mark(tag: number, what: typeof ACCEPTED | typeof SENT): void {
    this.#settled.put(tag, what, this.#base);
  }
}
