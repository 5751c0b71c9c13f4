import type { HeaderEntry } from '../frame/frame.js';

/**
 * A message held by the listener's own broker: application headers (protocol headers such as
 * `destination`, `receipt`, `transaction`, `content-length` already removed), the body bytes,
 * and delivery state. Version-independent: headers are decoded strings, escaped per
 * subscriber when written.
 */
export interface BrokerMessage {
  readonly destination: string;
  readonly headers: readonly HeaderEntry[];
  readonly body: Buffer;
  /** ms since the epoch; expired messages are dropped instead of delivered */
  readonly expiresAt?: number | undefined;
  /** delivered before and given back (NACK, unsubscribe, session end) */
  readonly redelivered: boolean;
  /** a /queue message kept in the listener store: its key there (queue-store.ts) */
  readonly storeKey?: number | undefined;
}

/** What a held message costs in memory, counted for the byte limits: body and header text. */
export function messageBytes(msg: BrokerMessage): number {
  let n = msg.body.length + msg.destination.length;
  for (const [k, v] of msg.headers) n += k.length + v.length;
  return n;
}

/**
 * The listener's destinations: `/topic/...` (every current subscriber gets a copy) and
 * `/queue/...` (each message to exactly one subscriber), by kind; the name is the destination
 * itself. Anything else is refused: the listener is not a RabbitMQ look-alike (`/exchange/...`,
 * `/amq/queue/...` are broker-specific). A kind, not an object: it is asked twice per SEND.
 */
export function destinationKind(destination: string): 'topic' | 'queue' | undefined {
  if (destination.length <= 7) return undefined;
  if (destination.startsWith('/topic/')) return 'topic';
  if (destination.startsWith('/queue/')) return 'queue';
  return undefined;
}

export const DESTINATION_HELP = 'destinations are /topic/<name> (every subscriber) or /queue/<name> (one subscriber each)';
