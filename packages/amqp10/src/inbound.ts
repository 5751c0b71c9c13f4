import { describeError, FerryError, Settlement, type DeliveryHandler, type GatewayMessage, type Logger, type Metrics, type Outcome, type ConnectorCounters } from '@ferry/core';
import type rhea from 'rhea';
import { encodedMessage, type DispositionGate } from './rhea-seam.js';
import { toGatewayMessage } from './mapping.js';
import { rejectError } from './outcomes.js';

/** One transfer Ferry received on a receiving link, with what its connector knows of it. */
export interface InboundTransfer {
  readonly connector: string;
  readonly metrics: Metrics;
  /** the connector's per-message counters */
  readonly counters: ConnectorCounters;
  readonly log: Logger;
  readonly address: string;
  readonly delivery: rhea.Delivery;
  /** rhea's decoded message; the capture holds its exact bytes */
  readonly decoded: unknown;
  readonly gate: DispositionGate;
  /** false after closeSources: the transfer came on credit given before */
  readonly sourcesOpen: boolean;
  /** false once the delivery can no longer be settled (its link or connection is gone) */
  readonly settleable: () => boolean;
  /** the one credit this transfer used: back to the peer, or owed while paused or closed */
  readonly giveCredit: () => void;
  readonly deliver: DeliveryHandler;
  readonly routes: readonly string[];
}

/**
 * What both AMQP 1.0 connectors (client receivers, listener links that clients send on) do with a
 * transfer: turn it into a message, hand it to the engine, and settle it upstream as the engine
 * decided (§3.4): accepted, rejected with an error, or released. Pre-settled transfers are
 * at-most-once and get no disposition.
 */
export function receiveTransfer(t: InboundTransfer): void {
  const d = t.delivery;
  const presettled = d.remote_settled;
  t.counters.received();
  if (!t.sourcesOpen) {
    // arrived on credit issued before closeSources: hand it back, unprocessed (§3.4.4)
    if (!presettled) t.gate.settle('release', () => d.release());
    t.giveCredit();
    return;
  }
  let message: GatewayMessage;
  try {
    const encoded = encodedMessage(t.decoded) ?? (Buffer.isBuffer(t.decoded) ? t.decoded : undefined);
    if (encoded === undefined) throw new FerryError('INTERNAL', 'the encoded message was not captured');
    message = toGatewayMessage(encoded, { connector: t.connector, address: t.address, presettled, format: d.format });
  } catch (e) {
    const err = e instanceof FerryError ? e : new FerryError('PROTOCOL_ERROR', describeError(e), { permanent: true, cause: e });
    t.log.warn(`undecodable AMQP 1.0 message for ${t.address} rejected`, { error: err.message });
    t.metrics.inc('protocol_errors_total', { connector: t.connector, code: err.code });
    if (!presettled) t.gate.settle('reject', () => d.reject(rejectError(err)));
    t.giveCredit();
    return;
  }
  const settlement = new Settlement((o: Outcome) => {
    // a delivery whose link or connection is gone cannot be settled: the peer redelivers it
    if (!t.settleable()) return;
    if (!presettled) {
      // released (§3.4.4): not processed, the peer may deliver it again; RabbitMQ requeues it.
      // Not modified{delivery-failed}: RabbitMQ 3.10 closes the connection on `modified`.
      t.gate.settle(o.kind, () => {
        if (o.kind === 'accept') d.accept();
        else if (o.kind === 'reject') d.reject(rejectError(o.reason));
        else d.release();
      });
    }
    t.counters.outcome(o);
    t.giveCredit();
  });
  t.deliver({ message, settlement, routes: t.routes });
}
