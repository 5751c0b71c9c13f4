import { Settlement, type ConnectorCounters, type Outcome } from '@ferry/core';
import type { InboundSend } from './session-options.js';

/**
 * The settlement of one client SEND routed by the stomp-listener: a Settlement that holds its
 * SEND and the connector's counters, so a SEND costs one object here instead of a Settlement,
 * its closure and a promise for the session. Settle-once is Settlement's own: the SEND is
 * answered only by the call that settled (accept: RECEIPT; reject or release: ERROR).
 */
export class SendSettlement extends Settlement {
  readonly #send: InboundSend;
  readonly #counters: ConnectorCounters;

  constructor(send: InboundSend, counters: ConnectorCounters) {
    super();
    this.#send = send;
    this.#counters = counters;
  }

  protected override onSettled(outcome: Outcome): void {
    this.#counters.outcome(outcome);
    if (outcome.kind === 'accept') this.#send.accepted();
    else this.#send.refused(outcome.reason);
  }
}
