import { describeError, FerryError, Settlement, type DeliveryHandler, type GatewayMessage, type Logger, type MessageSource, type Metrics, type Outcome, type ConnectorCounters } from '@ferry/core';
import type rhea from 'rhea';
import { encodedMessage } from './rhea-seam.js';
import { fromTransfer } from './mapping.js';
import { rejectError } from './outcomes.js';

/** A receiving connector's side of every transfer: who it is, what it counts, whether its sources take messages. */
export interface Receiving {
  readonly connector: string;
  readonly metrics: Metrics;
  /** the connector's per-message counters */
  readonly counters: ConnectorCounters;
  /** false after closeSources: a transfer then came on credit given before */
  readonly sourcesOpen: () => boolean;
  /** true while the engine's flow holds the sources back: credit is owed, not given */
  readonly paused: () => boolean;
}

/** A source a receiving link serves, as its connector keeps it. */
export interface ReceivingLink {
  readonly address: string;
  readonly routes: readonly string[];
  /** where its messages entered Ferry (mapping.ts linkSource): one object the link's messages share */
  readonly source: MessageSource;
  /** the link on this source now (a client attaches a new one after the peer closed the old) */
  readonly receiver?: rhea.Receiver | undefined;
  /**
   * Credit withheld while the flow is paused (or the sources are closed): each delivery uses
   * one credit and, once done with, gives it back or adds it here, so link credit + deliveries
   * in Ferry + owed is always `credit`.
   */
  owed: number;
}

/**
 * What both AMQP 1.0 connectors (client receivers, listener links that clients send on) do with a
 * transfer: turn it into a message, hand it to the engine, and settle it upstream as the engine
 * decided (§3.4): accepted, rejected with an error, or released. Pre-settled transfers are
 * at-most-once and get no disposition.
 * `decoded`: the encoded message (a listener link's bytes, or a message-format other than 0), or
 * rhea's decoded one, whose exact bytes the capture holds. `settleable`: false once a delivery of
 * the link as it is now can no longer be settled (its link or connection is gone); one function
 * per link, not per transfer.
 */
export function receiveTransfer(side: Receiving, link: ReceivingLink, d: rhea.Delivery, decoded: unknown, settleable: () => boolean, log: Logger, deliver: DeliveryHandler): void {
  const { address, routes } = link;
  const presettled = d.remote_settled;
  side.counters.received();
  if (!side.sourcesOpen()) {
    // arrived on credit issued before closeSources: hand it back, unprocessed (§3.4.4)
    if (!presettled) d.release();
    giveCredit(side, link, d, settleable);
    return;
  }
  let message: GatewayMessage;
  try {
    const encoded = Buffer.isBuffer(decoded) ? decoded : encodedMessage(decoded);
    if (encoded === undefined) throw new FerryError('INTERNAL', 'the encoded message was not captured');
    message = fromTransfer(encoded, link.source, presettled, d.format);
  } catch (e) {
    const err = e instanceof FerryError ? e : new FerryError('PROTOCOL_ERROR', describeError(e), { permanent: true, cause: e });
    log.warn(`undecodable AMQP 1.0 message for ${address} rejected`, { error: err.message });
    side.metrics.inc('protocol_errors_total', { connector: side.connector, code: err.code });
    if (!presettled) d.reject(rejectError(err));
    giveCredit(side, link, d, settleable);
    return;
  }
  deliver({ message, settlement: new TransferSettlement(side, link, d, settleable, presettled), routes });
}

/**
 * The one credit a delivery used: back to the peer, or owed while paused or closed. Only while
 * the delivery's link is the one on the source now (its `link`, rhea's receiver).
 */
function giveCredit(side: Receiving, link: ReceivingLink, d: rhea.Delivery, settleable: () => boolean): void {
  const r = link.receiver;
  if (!settleable() || r === undefined || r !== d.link) return;
  if (side.sourcesOpen() && !side.paused()) r.add_credit(1);
  else link.owed++;
}

/**
 * A transfer's settlement, which settles it upstream itself: the one object Ferry keeps per
 * unsettled transfer, with what the outcome needs and nothing the receipt alone used (the bytes,
 * the logger, the engine's handler); the receiver is the delivery's own link.
 */
class TransferSettlement extends Settlement {
  readonly #side: Receiving;
  readonly #link: ReceivingLink;
  readonly #delivery: rhea.Delivery;
  readonly #settleable: () => boolean;
  /** the transfer came settled (§2.7.5), as it was when it arrived */
  readonly #presettled: boolean;

  constructor(side: Receiving, link: ReceivingLink, delivery: rhea.Delivery, settleable: () => boolean, presettled: boolean) {
    super();
    this.#side = side;
    this.#link = link;
    this.#delivery = delivery;
    this.#settleable = settleable;
    this.#presettled = presettled;
  }

  protected override onSettled(o: Outcome): void {
    // a delivery whose link or connection is gone cannot be settled: the peer redelivers it
    if (!this.#settleable()) return;
    const d = this.#delivery;
    if (!this.#presettled) {
      // released (§3.4.4): not processed, the peer may deliver it again; RabbitMQ requeues it.
      // Not modified{delivery-failed}: RabbitMQ 3.10 closes the connection on `modified`.
      // Each keeps its own outcome in the disposition (installDispositionWriter, ./rhea-seam.ts).
      if (o.kind === 'accept') d.accept();
      else if (o.kind === 'reject') d.reject(rejectError(o.reason));
      else d.release();
    }
    this.#side.counters.outcome(o);
    giveCredit(this.#side, this.#link, d, this.#settleable);
  }
}
