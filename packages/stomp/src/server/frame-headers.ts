import { headerValue, STOMP_VERSIONS, type HeaderEntry, type StompFrame, type StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import type { SessionOptions } from './session-options.js';

/**
 * The headers the server reads from a client's frames and writes into its own: which of them
 * belong to the protocol and which travel with the message (STOMP 1.2 §SEND, §MESSAGE).
 */

/** Headers a SEND carries for the server itself; everything else travels with the message. */
const SEND_PROTOCOL_HEADERS = new Set(['destination', 'receipt', 'transaction', 'content-length']);
/** Headers of a MESSAGE the server writes itself; application headers by these names are not copied. */
export const MESSAGE_PROTOCOL_HEADERS: ReadonlySet<string> = new Set(['destination', 'subscription', 'message-id', 'ack', 'content-length', 'receipt', 'receipt-id', 'transaction', 'redelivered']);

/**
 * STOMP 1.2 §Protocol Negotiation: no accept-version means 1.0; otherwise the highest version
 * both sides support, undefined when there is none.
 */
export function negotiateVersion(f: StompFrame): StompVersion | undefined {
  const accept = headerValue(f, 'accept-version');
  if (accept === undefined) return '1.0';
  const offered = new Set(accept.split(',').map((v) => v.trim()));
  let version: StompVersion | undefined;
  for (const v of STOMP_VERSIONS) if (offered.has(v)) version = v;
  return version;
}

/**
 * The headers of CONNECTED (STOMP 1.2 §CONNECTED): from 1.1 on the version and the server's
 * heart-beat; the server's name and the session id.
 */
export function connectedHeaders(version: StompVersion, opts: Pick<SessionOptions, 'heartBeat' | 'serverName'>, sessionId: string): HeaderEntry[] {
  const headers: HeaderEntry[] = [];
  if (version !== '1.0') headers.push(['version', version], ['heart-beat', `${opts.heartBeat.sendMs},${opts.heartBeat.receiveMs}`]);
  headers.push(['server', opts.serverName], ['session', sessionId]);
  return headers;
}

/** The message a SEND to `destination` carries: its application headers and body. */
export function sentMessage(f: StompFrame, destination: string): BrokerMessage {
  const headers: HeaderEntry[] = [];
  let expires: string | undefined;
  for (const h of f.headers) {
    if (SEND_PROTOCOL_HEADERS.has(h[0])) continue;
    headers.push(h);
    // the first one wins (STOMP 1.2 §Repeated Header Entries)
    if (expires === undefined && h[0] === 'expires') expires = h[1];
  }
  const expiresAt = expires !== undefined && /^\d{1,15}$/.test(expires) ? Number(expires) : undefined;
  return { destination, headers, body: f.body, expiresAt, redelivered: false };
}

