/**
 * The `stomp-listener`'s options and addresses as its connector takes them (after the schema in
 * listener-definition.ts applied its defaults): a module of types only, so the connector and the
 * helpers it uses (auth-input.ts) share them without importing each other.
 */
import type { ListenerTransportOptions } from '@ferry/net';

export interface StompListenerOptions extends Record<string, unknown>, ListenerTransportOptions {
  readonly port: number;
  readonly host: string;
  readonly users: readonly { readonly login: string; readonly passcode?: string | undefined; readonly groups?: readonly string[] | undefined; readonly publish?: readonly string[] | undefined; readonly subscribe?: readonly string[] | undefined }[];
  readonly allowAnonymous?: boolean | undefined;
  readonly anonymous?: boolean | undefined;
  readonly usersFile?: string | undefined;
  readonly groups?: Readonly<Record<string, { readonly publish?: readonly string[] | undefined; readonly subscribe?: readonly string[] | undefined }>> | undefined;
  readonly useIdentityAsUsername?: boolean | undefined;
  readonly loginFailureDelay?: { readonly initialMs: number; readonly maxMs: number } | undefined;
  readonly heartBeat: { readonly sendMs: number; readonly receiveMs: number; readonly idleTimeoutMs?: number | undefined };
  readonly limits: { readonly maxFrameBytes: number; readonly maxHeaders: number; readonly maxHeaderLineBytes: number };
  readonly queueBufferMessages: number;
  readonly maxUnackedPerSubscription?: number | undefined;
  readonly queueBufferBytes?: number | undefined;
  readonly maxBufferedBytes?: number | undefined;
  readonly maxUnackedBytesPerSubscription?: number | undefined;
  readonly maxTransactionBytes?: number | undefined;
}

export interface StompListenerFrom extends Record<string, unknown> {
  readonly destination: string;
}

export interface StompListenerTo extends Record<string, unknown> {
  readonly destination: string;
}
