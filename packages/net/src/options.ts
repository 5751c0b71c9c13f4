import { z } from 'zod';

/**
 * The transport options every listener (mqtt-listener, stomp-listener, amqp10-listener) shares,
 * so a route file says TLS, WebSocket and connection limits the same way everywhere. Each
 * listener spreads {@link listenerTransportShape} into its own options object.
 */

const file = (what: string) => z.string().min(1).describe(`${what} (PEM file; a relative path is taken from the route file's folder)`);

/** Certificates and verification of one TLS endpoint (server side). */
export const tlsSettings = z.strictObject({
  cert: file('server certificate chain'),
  key: file('private key of the server certificate'),
  ca: file('CA certificate(s) that client certificates are verified against').optional(),
  passphrase: z.string().optional().describe('passphrase of an encrypted key'),
  requestCert: z.boolean().default(false).describe('ask clients for a certificate (mutual TLS)'),
  rejectUnauthorized: z
    .boolean()
    .default(true)
    .describe('with requestCert: close a client whose certificate is missing or not signed by `ca` during the TLS handshake'),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2').describe('lowest TLS version accepted'),
  ciphers: z.string().min(1).optional().describe("OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always OpenSSL's defaults); default: Node's"),
});

/** A listener's TLS: on the main port, or, with `port`, on a port of its own beside the plain one. */
const listenerTls = tlsSettings.extend({
  port: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .optional()
    .describe('a second port for TLS (8883, 61614, 5671 by custom); without it the main `port` speaks TLS only'),
});

const websocketSettings = z.strictObject({
  port: z.number().int().min(0).max(65535).describe('port of the WebSocket endpoint (HTTP upgrade)'),
  host: z.string().min(1).optional().describe("interface to bind; default: the listener's host"),
  path: z
    .string()
    .regex(/^\//, 'a path starting with /')
    .optional()
    .describe('the only URL path upgraded (e.g. /mqtt, /ws); default: any path'),
  tls: tlsSettings.optional().describe('serve wss:// with these certificates'),
});

const DEFAULT_MAX_CONNECTIONS = 20_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export const listenerTransportShape = {
  tls: listenerTls.optional().describe('TLS for the listener (mqtts, stomp+ssl, amqps): certificates, client-certificate verification, versions'),
  websocket: websocketSettings.optional().describe('also accept the protocol over WebSocket (ws://, or wss:// with `tls`)'),
  maxConnections: z
    .number()
    .int()
    .min(1)
    .default(DEFAULT_MAX_CONNECTIONS)
    .describe('most open connections over all ports of this listener (TCP, TLS, WebSocket); one more is closed at once, counted in listener_connections_refused_total'),
  handshakeTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(DEFAULT_HANDSHAKE_TIMEOUT_MS)
    .describe('time from accepting a connection to its completed protocol handshake (TLS, WebSocket upgrade and CONNECT/CONNACK, STOMP CONNECTED or AMQP open); a slower connection is closed and counted in listener_handshake_timeouts_total'),
} as const;

export const listenerTransport = z.strictObject(listenerTransportShape);

export type TlsSettings = z.infer<typeof tlsSettings>;
export type ListenerTransportOptions = z.infer<typeof listenerTransport>;

/** The ports a listener binds, for the route file's "port used twice" check. */
export function transportPorts(port: number, o: Pick<ListenerTransportOptions, 'tls' | 'websocket'>): number[] {
  const ports = [port];
  if (o.tls?.port !== undefined) ports.push(o.tls.port);
  if (o.websocket !== undefined) ports.push(o.websocket.port);
  return ports;
}
