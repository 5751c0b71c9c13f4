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
    if (typeof options['port'] === 'number') parts.push(`${hostOf(options['host'])}:${options['port']}`);
    const ws = options['websocket'];
    if (ws !== null && typeof ws === 'object') {
      const w = ws as Record<string, unknown>;
      const path = typeof w['path'] === 'string' ? w['path'] : '';
      if (typeof w['port'] === 'number') parts.push(`ws://${hostOf(w['host'] ?? options['host'])}:${w['port']}${path}`);
    }
    return parts.length === 0 ? '' : `listening on ${parts.join(', ')}`;
  }
  const urls = typeof options['url'] === 'string' ? [options['url']] : Array.isArray(options['urls']) ? options['urls'].filter((u): u is string => typeof u === 'string') : [];
  return urls.map(withoutCredentials).join(', ');
}

function hostOf(host: unknown): string {
  return typeof host === 'string' && host.length > 0 ? host : '0.0.0.0';
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
