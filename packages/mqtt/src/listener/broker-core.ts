import type { Authenticator, LoginAttempt, LoginResult, Logger, Metrics, Outcome } from '@ferry/core';
import type { DeviceParts } from '../device-parts.js';
import type { HeldPublish } from './held-publish.js';
import type { ClientIdRule } from './client-id-rule.js';
import type { KeepAliveSweep } from './keep-alive-sweep.js';
import type { Session, SessionLimits } from './session.js';
import type { BrokerMessage, PendingWill, Subscription } from './types.js';

/** Limits and credentials of the embedded broker. */
export interface BrokerConfig {
  readonly maxPacketSize: number;
  /** undefined: any keep alive, 0 included (§3.1.2.10) */
  readonly keepaliveLimit?: number | undefined;
  readonly receiveMaximum: number;
  readonly session: SessionLimits;
  /** total bytes (payload and topic) of retained messages */
  readonly retainedBytesLimit: number;
  /** subscriptions one session may hold */
  readonly maxSubscriptionsPerSession: number;
  /** seconds a session outlives its connection at most (3.1.1 persistent sessions: exactly) */
  readonly maxSessionExpiry: number;
  readonly maxClients?: number | undefined;
  /** the client ids each user may use; undefined: any (first come, then owned) */
  readonly clientIdRule?: ClientIdRule | undefined;
  /** who may connect, publish and subscribe (core's one authenticator) */
  readonly auth: Authenticator;
}

/**
 * What a client connection needs from the broker it belongs to. `C` is the connection's own
 * type (connection.ts), a parameter so that this contract does not import the class that
 * depends on it.
 */
export interface BrokerCore<C> {
  readonly config: BrokerConfig;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly connectorName: string;
  /** the keep alive of every connection, checked by one sweep */
  readonly keepAlive: KeepAliveSweep;
  /** true while the owner's flow control (a full route) asks every connection to stop reading */
  readonly flowPaused: boolean;
  hasRoomForClient(): boolean;
  /** check a CONNECT's credentials; a failure resolves after the address's slow-down delay */
  login(attempt: LoginAttempt): Promise<LoginResult>;
  newClientId(): string;
  /** take over or create the session for `clientId` (§3.1.2.4, §3.1.4) */
  /**
   * Take over or create the session for `clientId` (§3.1.2.4, §3.1.4). 'taken' when the id is
   * in use (connected, or a session kept) by another user: a client id belongs to the user that
   * holds it, so nobody else can take over its session or its queued messages.
   */
  attachSession(conn: C, clientId: string, cleanStart: boolean, expiry: number, owner: string | undefined): { session: Session; present: boolean } | 'taken';
  /** the connection ended; publish its will (if given) and keep or end its session */
  detach(conn: C, session: Session, will: PendingWill | undefined): void;
  /**
   * a client's PUBLISH: dispatch it and hand it to the owner, with the parts its client's messages
   * share; `held`, a QoS 1/2 publish, is answered once settled
   */
  ingest(conn: C, message: BrokerMessage, held: HeldPublish | undefined, parts: DeviceParts): void;
  /** the owner's count of the outcomes of client publishes */
  readonly onOutcome: ((outcome: Outcome) => void) | undefined;
  /** what was written so far becomes durable (a listener store); undefined without a store */
  pendingWrites(): Promise<void> | undefined;
  /** true when the subscription already existed (for Retain Handling 1) */
  subscribe(session: Session, sub: Subscription): boolean;
  sendRetained(session: Session, sub: Subscription, existed: boolean): void;
  unsubscribe(session: Session, filter: string): boolean;
}
