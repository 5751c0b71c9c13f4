import type { Settlement } from '@ferry/core';
import type { QoS } from 'mqtt-packet';
import type { DeviceOrigin, PublishProperties } from '../mapping.js';

/** An application message inside the embedded broker. */
export interface BrokerMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /**
   * MQTT 5 properties that travel with the message (§3.3.2.3): without topic alias and
   * subscription identifiers, which are per connection / per subscriber, and without the
   * expiry interval, which `expiresAt` replaces.
   */
  readonly properties?: PublishProperties | undefined;
  /** absolute expiry, ms since the epoch (§3.3.2.3.3) */
  readonly expiresAt?: number | undefined;
  /** client id of the publisher, for No Local (§3.8.3.1) */
  readonly origin?: string | undefined;
}

/** One subscription of a session (§3.8.3.1 subscription options). */
export interface Subscription {
  readonly filter: string;
  readonly qos: QoS;
  /** No Local */
  readonly nl: boolean;
  /** Retain As Published */
  readonly rap: boolean;
  /** Retain Handling 0, 1, 2 */
  readonly rh: number;
  /** MQTT 5 Subscription Identifier (§3.8.2.1.2) */
  readonly id?: number | undefined;
  /** set for `$share/<group>/<filter>` (MQTT 5 §4.8.2); `filter` above is then the whole `$share/...` string */
  readonly share?: { readonly group: string; readonly filter: string } | undefined;
}

/**
 * A message on its way to one session, and, while that session holds it (QoS 1/2: queued, or
 * sent and not yet acknowledged), where it stands there: one object per copy from the dispatch to
 * the subscriber's PUBACK / PUBCOMP. Made by copies.ts `copyFor` (one shape for all of them).
 */
export interface OutboundItem {
  readonly message: BrokerMessage;
  /** min(message QoS, granted QoS) */
  readonly qos: QoS;
  /** the RETAIN flag to send (§3.3.1.3) */
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[];
  /** the `$share/...` subscription that chose this session, so the message can be handed to another member */
  readonly share: string | undefined;
  /** the session's own sequence number once queued: its order, and its key in the listener store */
  key: number;
  /** the packet id while in flight */
  id: number | undefined;
  /** queued; publish: sent, waiting for PUBACK/PUBREC; pubrel: PUBREL sent, waiting for PUBCOMP (§4.3.3) */
  state: 'queued' | 'publish' | 'pubrel';
}

/** What the broker's owner decides about a client's QoS 1/2 PUBLISH. */
export type PublishDecision =
  | { readonly kind: 'accept' }
  /** `reasonCode`: the MQTT 5 failure code for the client (§3.4.2.1); default 0x80 */
  | { readonly kind: 'reject'; readonly reason: string; readonly reasonCode?: number | undefined }
  | { readonly kind: 'release'; readonly reason: string };

/** the decision to accept, one object for every publish accepted (a decision is only read) */
export const ACCEPT: PublishDecision = Object.freeze({ kind: 'accept' });

/**
 * The owner's view of a publish (MqttBroker.onPublish), as arguments, not an event object per
 * message:
 * - `origin`: the client; for its own publishes the connection's {@link DeviceParts} (one
 *   object per client), for a will one made for it (`will` true);
 * - `settlement`: present for QoS 1/2 client publishes; its outcome acknowledges (or not) to
 *   the client (accept: PUBACK / PUBREC; reject: a failure code, or for 3.1.1 an
 *   acknowledgement; release: the connection is closed unacknowledged, so the client sends it
 *   again);
 * - `onWait`: present for client publishes; the owner calls it with true while the message
 *   waits for room on a full route, false once it is taken; the connection stops reading
 *   meanwhile.
 */
export type PublishHandler = (message: BrokerMessage, origin: DeviceOrigin, settlement: Settlement | undefined, onWait: ((waiting: boolean) => void) | undefined) => void;

/** Will message and its delay (MQTT 5 §3.1.3.2.2), kept until the connection ends. */
export interface PendingWill {
  /** the will without `expiresAt`: its expiry counts from publication (§3.1.3.2.4) */
  readonly message: BrokerMessage;
  readonly delaySeconds: number;
  readonly expirySeconds?: number | undefined;
}
