import type { IncomingMessage } from 'node:http';
import { constantTimeEqual } from '@ferry/core';

/** Paths a load balancer or an orchestrator probes without credentials. */
const OPEN_PATHS = new Set(['/healthz', '/readyz']);

/**
 * Whether an admin request may be served. Without a configured token, every request. With one,
 * /healthz and /readyz stay open for probes; everything else (/metrics, the dashboard, /api)
 * needs `Authorization: Bearer <token>` (RFC 6750 §2.1), or `access_token=<token>` in the query
 * (§2.3) for a browser, which cannot set headers on a page load or an EventSource. The token is
 * compared in constant time.
 */
export function adminRequestAllowed(req: IncomingMessage, path: string, token: string | undefined): boolean {
  if (token === undefined || OPEN_PATHS.has(path)) return true;
  const header = req.headers.authorization;
  const bearer = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  const query = new URL(req.url ?? '/', 'http://admin').searchParams.get('access_token') ?? undefined;
  const given = bearer ?? query;
  return given !== undefined && constantTimeEqual(Buffer.from(given, 'utf8'), Buffer.from(token, 'utf8'));
}
