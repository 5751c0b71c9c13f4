import { auditListenerAuth, type Capabilities, type ConnectorAudit, type ListenerAuthInput } from '@ferry/core';
import { transportPorts, type ListenerTransportOptions } from './options.js';

/** The options every listener has that decide which ports it binds. */
export type ListenerPortOptions = { readonly port: number } & Pick<ListenerTransportOptions, 'tls' | 'websocket'>;

/**
 * The part of a connector definition every embedded listener shares: the ports it binds (main,
 * TLS, WebSocket) for the "port used twice" check, the listener capability (started first, a
 * failure to bind is fatal), and `ferry validate`'s audit of its users and anonymous access.
 * A definition spreads it: `defineConnector({ ...listenerRole, type, options, ... })`.
 */
export const listenerRole = {
  listenPorts: (o: ListenerPortOptions): readonly number[] => transportPorts(o.port, o),
  capabilities: { listener: true } satisfies Capabilities,
  audit: (o: ListenerAuthInput, baseDir: string): Promise<ConnectorAudit> => auditListenerAuth(o, baseDir),
} as const;
