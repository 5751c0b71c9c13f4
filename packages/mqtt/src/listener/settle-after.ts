import { describeError } from '@ferry/core';
import type { RoomTicket } from './room-wait.js';
import type { PublishDecision } from './types.js';

type Settle = (d: PublishDecision) => void;

/**
 * When a client's QoS 1/2 publish may be answered: `settle`, once every copy of it that waits
 * for room in a full session queue was admitted or dropped (room-wait.ts), and then, with a
 * listener store (`written`), once its copies in persistent sessions and its retained copy are
 * durable. Whatever the owner decided waits for that: the publisher's window stays full meanwhile.
 */
export function settleAfter(settle: Settle, ticket: RoomTicket, written: (() => Promise<void>) | undefined): Settle {
  if (!ticket.waiting) return written === undefined ? settle : afterWritten(settle, written);
  // without a store the decision waits in the ticket itself (no closure per held publish)
  if (written === undefined) return (d) => ticket.whenReady(settle, d);
  // the durability barrier is taken once the copies are in their queues, not before
  return (d) => ticket.whenReady((held: PublishDecision) => afterWritten(settle, written)(held), d);
}

/**
 * `settle`, once what was written so far is durable (the barrier is taken now). A store that
 * cannot write releases the message: not acknowledged, the client sends it again.
 */
function afterWritten(settle: Settle, written: () => Promise<void>): Settle {
  const stored = written();
  return (d) => {
    if (d.kind !== 'accept') return settle(d);
    stored.then(
      () => settle(d),
      (err: unknown) => settle({ kind: 'release', reason: `listener state not written: ${describeError(err)}` }),
    );
  };
}
