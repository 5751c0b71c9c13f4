import type { BrokerMessage, OutboundItem, Subscription } from './types.js';

/** the subscription identifiers of a copy for subscriptions without one (never changed) */
export const NO_IDS: readonly number[] = [];

/**
 * One copy per session, at the highest granted QoS of its matching subscriptions, carrying all
 * their identifiers (MQTT 5 §3.3.4), Retain As Published if any asked for it.
 */
export function merge(targets: Map<string, { qos: number; ids: number[]; rap: boolean }>, clientId: string, sub: Subscription): void {
  let t = targets.get(clientId);
  if (t === undefined) {
    t = { qos: 0, ids: [], rap: false };
    targets.set(clientId, t);
  }
  t.qos = Math.max(t.qos, sub.qos);
  if (sub.id !== undefined && !t.ids.includes(sub.id)) t.ids.push(sub.id);
  t.rap ||= sub.rap;
}

/** the copy of `message` for one session */
export function outbound(message: BrokerMessage, qos: number, rap: boolean, subscriptionIds: readonly number[]): OutboundItem {
  // §3.3.1.3 / 3.1.1 [MQTT-3.3.1-9]: RETAIN is 0 on messages for established subscriptions,
  // unless MQTT 5 Retain As Published was asked for
  return copyFor(message, Math.min(message.qos, qos) as 0 | 1 | 2, rap ? message.retain : false, subscriptionIds, undefined);
}

/**
 * A copy as it enters a session, not yet queued: every copy is made here, with its fields in one
 * order, so the session's code sees one object shape
 */
export function copyFor(message: BrokerMessage, qos: 0 | 1 | 2, retain: boolean, subscriptionIds: readonly number[], share: string | undefined): OutboundItem {
  return { message, qos, retain, subscriptionIds, share, key: -1, id: undefined, state: 'queued' };
}
