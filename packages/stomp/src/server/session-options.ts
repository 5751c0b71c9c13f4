import type { HeaderEntry, StompVersion } from '../frame/frame.js';
import type { FrameLimits } from '../frame/parser.js';
import type { HeartBeatSettings } from './heartbeat.js';

/** One SEND that reached the broker, handed to the owner of the server (the connector). */
export interface InboundSend {
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
