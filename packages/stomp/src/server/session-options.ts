import type { Outcome, Settlement } from '@ferry/core';
import type { ConnectionInfo } from '@ferry/net';
import type { HeaderEntry, StompVersion } from '../frame/frame.js';
import type { FrameLimits } from '../frame/parser.js';
import type { HeartBeatSettings } from './heartbeat.js';

/**
 * What a SEND that reached the broker holds for the owner of the server (the connector): handed
 * to `onSend` and not kept by the server past that call (what the SEND's answer needs is in its
 * settlement).
 */
export interface InboundSendContent {
  readonly destination: string;
  /** application headers (protocol headers removed), first occurrence first */
  readonly headers: readonly HeaderEntry[];
  readonly body: Buffer;
  /** the client asked for a RECEIPT (directly, or on the COMMIT of its transaction) */
  readonly confirmed: boolean;
  readonly sessionId: string;
  readonly login: string | undefined;
  readonly version: StompVersion;
}

/** What a logged-in client may do: core's AuthorizedClient (grants per destination). */
export interface SessionAccess {
  mayPublish(destination: string, client?: string): boolean;
  maySubscribe(destination: string, client?: string): boolean;
}

/**
 * What each session tells and asks the owner of the server (the connector). `S` is the
 * session's type (session.ts), a parameter so that this file does not import the class.
 */
export interface SessionHooksOf<S> {
  /**
   * Whether login/passcode may connect (STOMP 1.2 §CONNECT: login, passcode): true / false, or a
   * promise of what the client may do (undefined: refused). `info` is the connection's transport
   * (its address, its verified client certificate).
   */
  authenticate(login: string | undefined, passcode: string | undefined, info: ConnectionInfo | undefined): boolean | Promise<SessionAccess | undefined>;
  /**
   * A SEND was taken by the broker. Return true when the owner settles `settlement` (it may do
   * so before returning; its first outcome counts): accept is the client's RECEIPT, reject or
   * release an ERROR with `receipt-id` (STOMP 1.2 §ERROR); false when there is nothing to wait
   * for (then `settlement` is not the owner's to settle).
   */
  onSend(send: InboundSendContent, settlement: Settlement): boolean;
  /** the owner settled a SEND's settlement with `outcome` (once per SEND it waited for) */
  onSendSettled?(outcome: Outcome): void;
  /** false once the server stopped taking messages (closeSources) */
  acceptingSends(): boolean;
  /**
   * true while the owner's flow control (a route at maxInFlight) asks sessions to stop reading
   * their sockets; see StompSession.updateFlow
   */
  flowPaused?(): boolean;
  onProtocolError?(reason: string): void;
  /** a client went over a byte or count limit (the name of the option) and was told */
  onLimitExceeded?(limit: string, details: Record<string, unknown>): void;
  onOpened?(session: S): void;
  onClosed?(session: S): void;
}

export interface SessionOptions {
  readonly serverName: string;
  readonly heartBeat: HeartBeatSettings;
  readonly limits: FrameLimits;
  /** SENDs waiting for their settlement before the session stops reading its socket */
  readonly maxPendingSends: number;
  readonly maxTransactions: number;
  /** frames held by one transaction */
  readonly maxTransactionFrames: number;
  /** body and header bytes held by all open transactions of one connection */
  readonly maxTransactionBytes: number;
  readonly maxSubscriptions: number;
  /** after ERROR or DISCONNECT, how long to wait for the peer to close before destroying */
  readonly lingerMs: number;
}

export const DEFAULT_SESSION_OPTIONS: Omit<SessionOptions, 'serverName'> = {
  heartBeat: { sendMs: 10_000, receiveMs: 10_000 },
  limits: { maxFrameBytes: 1024 * 1024, maxHeaders: 100, maxHeaderLineBytes: 8 * 1024, maxBodyBytes: 1024 * 1024 },
  maxPendingSends: 1000,
  maxTransactions: 100,
  maxTransactionFrames: 10_000,
  maxTransactionBytes: 16 * 1024 * 1024,
  maxSubscriptions: 1000,
  lingerMs: 1000,
};
