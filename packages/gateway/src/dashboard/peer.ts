import { redactText } from './redact.js';

/**
 * What a connector talks to, in one line for the dashboard, from its options: the broker URL of
 * a client connector (credentials left out) or the address a listener binds (and its WebSocket
 * endpoint, when it has one). Read from the options every connector type already has (`url`,
 * `host`/`port`), so no connector has to know about the dashboard.
 */
export function describePeer(options: Readonly<Record<string, unknown>>, listener: boolean): string {
  if (listener) {
    const parts: string[] = [];
    const tls = record(options['tls']);
    if (typeof options['port'] === 'number') {
      // TLS without a port of its own is spoken on the main port
      parts.push(`${hostOf(options['host'])}:${options['port']}${tls !== undefined && tls['port'] === undefined ? ' (TLS)' : ''}`);
    }
    if (typeof tls?.['port'] === 'number') parts.push(`${hostOf(options['host'])}:${tls['port']} (TLS)`);
    const w = record(options['websocket']);
    if (typeof w?.['port'] === 'number') {
      const path = typeof w['path'] === 'string' ? w['path'] : '';
      parts.push(`${w['tls'] === undefined ? 'ws' : 'wss'}://${hostOf(w['host'] ?? options['host'])}:${w['port']}${path}`);
    }
    return parts.length === 0 ? '' : `listening on ${parts.join(', ')}`;
  }
  const urls = typeof options['url'] === 'string' ? [options['url']] : Array.isArray(options['urls']) ? options['urls'].filter((u): u is string => typeof u === 'string') : [];
  return urls.map(withoutCredentials).join(', ');
}

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function hostOf(host: unknown): string {
  if (typeof host !== 'string' || host.length === 0) return '0.0.0.0';
  // an IPv6 address is bracketed before a port (RFC 3986 §3.2.2)
  return host.includes(':') ? `[${host}]` : host;
}

/** `amqp://user:pass@host:5672/vh` → `amqp://host:5672/vh`: who connects is not the dashboard's to show */
function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return redactText(url);
  }
}
