import type { BoundPorts } from './listener.js';

/**
 * The one wording of every "listening" log line, the admin server's included:
 * `<what> listening on <host>:<port>`, then the TLS and WebSocket ports when there are any,
 * e.g. `mqtt-listener listening on 0.0.0.0:1883, 0.0.0.0:8883 (TLS), 0.0.0.0:8083 (WebSocket)`.
 */
export function listeningLine(what: string, host: string, ports: BoundPorts): string {
  const h = host.includes(':') ? `[${host}]` : host; // RFC 3986 §3.2.2: an IPv6 address is bracketed before a port
  const parts = [`${h}:${ports.port}`];
  if (ports.tlsPort !== undefined) parts.push(`${h}:${ports.tlsPort} (TLS)`);
  if (ports.websocketPort !== undefined) parts.push(`${h}:${ports.websocketPort} (WebSocket)`);
  return `${what} listening on ${parts.join(', ')}`;
}
