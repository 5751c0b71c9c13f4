import type { AuthorizedClient } from '@ferry/core';
import type { ISubscribePacket, IUnsubscribePacket, QoS } from 'mqtt-packet';
import { isSharedSubscription, isValidTopicFilter, parseSharedSubscription } from '../topic.js';
import type { BrokerCore } from './broker-core.js';
import type { IntakeHost } from './publish-intake.js';
import type { Violation } from './packet-rules.js';
import { RC, SUBACK_FAILURE_V3 } from './reason-codes.js';
import type { Session } from './session.js';
import type { Subscription } from './types.js';

/**
 * SUBSCRIBE (MQTT 5 §3.8, 3.1.1 §3.8): each filter granted or refused on its own, SUBACK, then
 * the retained messages of the new subscriptions. A violation to close the connection with
 * (§4.13), or undefined once SUBACK was sent.
 */
export function subscribe<C extends IntakeHost>(conn: C, core: BrokerCore<C>, session: Session, auth: AuthorizedClient, p: ISubscribePacket): Violation | undefined {
  const v5 = conn.version === 5;
  const subId = p.properties?.subscriptionIdentifier;
  if (subId === 0) return { code: 'subscription-id-zero', detail: 'subscription identifier 0', reason: RC.protocolError };
  const granted: number[] = [];
  const accepted: { sub: Subscription; existed: boolean }[] = [];
  for (const s of p.subscriptions) {
    const share = isSharedSubscription(s.topic) ? parseSharedSubscription(s.topic) : undefined;
    // MQTT 5 §4.8.2: a share name that is empty or holds a wildcard, or no filter after it:
    // 0x8F Topic Filter invalid (3.1.1, as Mosquitto takes `$share/` from its clients too: 0x80)
    if (isSharedSubscription(s.topic) ? share === undefined : !isValidTopicFilter(s.topic)) {
      granted.push(v5 ? RC.topicFilterInvalid : SUBACK_FAILURE_V3);
      continue;
    }
    // a filter wider than the client's grants is refused whole, as Mosquitto does (§3.9.3: 0x87 / 0x80)
    if (!auth.maySubscribe(s.topic, conn.remote)) {
      granted.push(v5 ? RC.notAuthorized : SUBACK_FAILURE_V3);
      continue;
    }
    if (!session.subscriptions.has(s.topic) && session.subscriptions.size >= core.config.maxSubscriptionsPerSession) {
      // MQTT 5 §3.9.3: 0x97 Quota exceeded; 3.1.1 §3.9.3: 0x80 Failure
      granted.push(v5 ? RC.quotaExceeded : SUBACK_FAILURE_V3);
      core.metrics.inc('protocol_errors_total', { connector: core.connectorName, code: 'subscriptions-quota' });
      continue;
    }
    const qos = Math.min(s.qos, 2) as QoS;
    // MQTT 5 §3.8.3.1 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error
    if (share !== undefined && s.nl === true) return { code: 'shared-no-local', detail: `No Local on ${s.topic}`, reason: RC.protocolError };
    const sub = { filter: s.topic, qos, nl: s.nl === true, rap: s.rap === true, rh: s.rh ?? 0, id: subId, share };
    const existed = core.subscribe(session, sub);
    accepted.push({ sub, existed });
    granted.push(qos);
  }
  // §3.8.4: SUBACK before the retained messages of the new subscriptions
  conn.send({ cmd: 'suback', messageId: p.messageId ?? 0, granted });
  for (const a of accepted) core.sendRetained(session, a.sub, a.existed);
  return undefined;
}

/** UNSUBSCRIBE (§3.10): UNSUBACK, with a reason code per filter for MQTT 5 (§3.11.3). */
export function unsubscribe<C extends IntakeHost>(conn: C, core: BrokerCore<C>, session: Session, p: IUnsubscribePacket): void {
  const codes = p.unsubscriptions.map((f) => (core.unsubscribe(session, f) ? RC.success : RC.noSubscriptionExisted));
  conn.send({ cmd: 'unsuback', messageId: p.messageId ?? 0, granted: conn.version === 5 ? codes : [] });
}
