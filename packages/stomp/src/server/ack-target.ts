import { headerValue, type StompFrame, type StompVersion } from '../frame/frame.js';
import type { Subscription } from './broker.js';

/** The delivery an ACK or NACK names. */
export interface AckTarget {
  readonly sub: Subscription;
  readonly messageId: string;
}

/**
 * Which delivery an ACK/NACK names. STOMP 1.2 §ACK: `id` (the MESSAGE's `ack` header);
 * STOMP 1.1: `message-id` and `subscription`; STOMP 1.0: `message-id`. null for an id that is
 * not outstanding (already acknowledged, e.g. cumulatively in `client` mode): the frame is then
 * a no-op, not an error. A string: the protocol error to answer the frame with.
 */
export function ackTarget(f: StompFrame, version: StompVersion, subs: ReadonlyMap<string, Subscription>): AckTarget | null | string {
  const missing = (name: string): string => `${f.command} without a ${name} header (STOMP ${version})`;
  const messageId = headerValue(f, version === '1.2' ? 'id' : 'message-id');
  if (messageId === undefined) return missing(version === '1.2' ? 'id' : 'message-id');
  const subId = headerValue(f, 'subscription');
  if (version === '1.1' && subId === undefined) return missing('subscription');
  if (version !== '1.2' && subId !== undefined) {
    const sub = subs.get(subId);
    if (sub === undefined) return `${f.command} for unknown subscription ${JSON.stringify(subId)}`;
    if (!sub.unacked.has(messageId)) return null;
    const target: AckTarget = { sub, messageId };
    return target;
  }
  for (const sub of subs.values()) {
    if (!sub.unacked.has(messageId)) continue;
    const target: AckTarget = { sub, messageId };
    return target;
  }
  return null;
}
