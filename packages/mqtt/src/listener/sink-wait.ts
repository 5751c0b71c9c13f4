import { FerryError } from '@ferry/core';
import type { RoomTicket } from './room-wait.js';

/**
 * When a sink write into the listener may confirm: once no copy of its message waits for room
 * in a connected subscriber's full queue (room-wait.ts). The write's promise is what the engine
 * holds against the route's `maxInFlight`, so a write that waits is the backpressure to the
 * route's source (an amqp091 source's prefetch fills and the broker keeps the rest).
 *
 * A copy a connected subscriber did not take fails the write instead of confirming it, so the
 * source is not told a message was delivered that was thrown away:
 * - dropped because the subscriber took nothing for `sessionQueueWaitMs` (or holding is off,
 *   `sessionQueueWaitMs: 0`): `LIMIT_EXCEEDED`, transient, for the engine to retry or
 *   dead-letter as the route's `onFailure` says;
 * - larger than the subscriber's whole queue (`sessionQueueBytes`): `LIMIT_EXCEEDED`,
 *   permanent: no retry can put it there.
 * Copies other subscribers queued stay queued; a retry publishes to them again (at least
 * once, as everywhere in Ferry): their number is the error's `details.queued`.
 * `done` gets undefined once every copy was taken, else that error.
 */
export function whenTaken(ticket: RoomTicket, connector: string, topic: string, done: (error: FerryError | undefined) => void): void {
  ticket.whenReady(taken, { ticket, connector, topic, done });
}

/** what {@link whenTaken} hands its ticket: one object per held write, not a closure */
interface Held {
  readonly ticket: RoomTicket;
  readonly connector: string;
  readonly topic: string;
  readonly done: (error: FerryError | undefined) => void;
}

function taken({ ticket, connector, topic, done }: Held): void {
  const { stalled, tooLarge, queued } = ticket.refused;
  if (stalled === 0 && tooLarge === 0) {
    done(undefined);
    return;
  }
  const why =
    tooLarge > 0
      ? `larger than ${tooLarge} subscriber(s)' whole session queue (sessionQueueBytes)`
      : `${stalled} connected subscriber(s) with a full session queue took nothing for sessionQueueWaitMs`;
  // what a retry repeats, in the log line as well as in the details
  const repeats = queued === 0 ? '' : `; ${queued} other subscriber(s) queued it and get it again on a retry`;
  done(
    new FerryError('LIMIT_EXCEEDED', `mqtt-listener ${connector}: message for ${topic.slice(0, 200)} not taken: ${why}${repeats}`, {
      permanent: tooLarge > 0,
      details: { stalled, tooLarge, queued },
    }),
  );
}
