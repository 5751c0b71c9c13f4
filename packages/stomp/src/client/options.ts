import { reconnectOption } from '@ferry/core';
import { clientTlsSettings } from '@ferry/net';
import { z } from 'zod';

/**
 * The schemas of the `stomp` (client) connector: its options, a route's `from` and a route's
 * `to`. The TypeScript types are inferred from them; the JSON Schema and the connector reference
 * (docs/connectors/stomp.md) come from them, so every field carries a description.
 */

/**
 * CONNECT frames are never escaped (STOMP 1.2 §Value Encoding), so a CR, LF or NUL in a login,
 * passcode or host would end the header line and inject headers of its own.
 */
// eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
const NO_LINE_BREAKS = /^[^\r\n\u0000]*$/;
const connectHeaderValue = (what: string) => z.string().regex(NO_LINE_BREAKS, `${what} may not contain CR, LF or NUL (CONNECT headers are not escaped)`);

const ms = (what: string) => z.number().int().min(0).describe(what);

const stompUrl = z
  .string()
  .refine((s) => parseStompUrl(s) !== undefined, {
    error: 'a stomp://, stomp+ssl://, ws:// or wss:// URL with a host and an optional port, e.g. stomp://127.0.0.1:61613 or ws://127.0.0.1:15674/ws',
  })
  .describe(
    'broker address: `stomp://host[:port]` (61613 when left out), `stomp+ssl://host[:port]` (TLS, 61614), or STOMP over WebSocket: `ws://host[:port]/path`, `wss://host[:port]/path` (RabbitMQ Web-STOMP: ws://host:15674/ws)',
  );

export const stompOptions = z.strictObject({
  url: stompUrl,
  tls: clientTlsSettings.optional().describe('TLS for stomp+ssl:// and wss:// URLs: CA to trust, client certificate'),
  login: connectHeaderValue('login').optional().describe('`login` header of CONNECT (user name)'),
  passcode: connectHeaderValue('passcode').optional().describe('`passcode` header of CONNECT (password); never logged'),
  host: connectHeaderValue('host')
    .optional()
    .describe('`host` header of CONNECT: the virtual host. RabbitMQ takes its vhost name here (`/` is the default vhost); ActiveMQ ignores it. Default: the host of `url`'),
  heartBeat: z
    .strictObject({
      outgoingMs: ms('how often Ferry offers to send heart-beats, ms; 0 = never (STOMP 1.2 §Heart-beating: the larger of this and what the broker wants is used)').default(10_000),
      incomingMs: ms('how often Ferry wants heart-beats from the broker, ms; 0 = none. The connection is dropped after twice this without any byte from the broker').default(10_000),
    })
    .default({ outgoingMs: 10_000, incomingMs: 10_000 })
    .describe('heart-beat header of CONNECT'),
  reconnect: reconnectOption,
  connectTimeoutMs: z.number().int().min(1).default(10_000).describe('give up a connection attempt (TCP + CONNECT/CONNECTED) after this long, ms'),
  receiptTimeoutMs: z
    .number()
    .int()
    .min(1)
    .default(30_000)
    .describe('a SEND whose RECEIPT has not come after this long fails with SINK_TIMEOUT (transient: the route may retry it)'),
  prefetch: z
    .number()
    .int()
    .min(1)
    .max(65_535)
    .default(1000)
    .describe('unacknowledged MESSAGEs the broker may push per subscription: RabbitMQ `prefetch-count`, ActiveMQ `activemq.prefetchSize` on SUBSCRIBE'),
  maxInflight: z.number().int().min(1).default(1000).describe('SEND frames waiting for their RECEIPT at once; up to as many more writes wait for a slot, beyond that a write fails LIMIT_EXCEEDED (transient)'),
  maxFrameBytes: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024)
    .describe('largest frame accepted from the broker, bytes; a larger one is a protocol error that drops the connection'),
  broker: z
    .enum(['auto', 'rabbitmq', 'activemq', 'generic'])
    .default('auto')
    .describe(
      'which broker dialect to speak (message-id, expiry, prefetch and NACK headers differ); `auto` reads the `server` header of CONNECTED (RabbitMQ/..., ActiveMQ/...)',
    ),
});

export const stompFrom = z.strictObject({
  destination: z
    .string()
    .min(1)
    .regex(NO_LINE_BREAKS, 'a destination may not contain CR, LF or NUL')
    .describe('destination to SUBSCRIBE to: `/queue/q`, `/topic/a.b.*`, `/exchange/x/rk`, `/amq/queue/q` (RabbitMQ), `/queue/q`, `/topic/t` (ActiveMQ)'),
  ack: z
    .enum(['client-individual', 'auto'])
    .default('client-individual')
    .describe(
      '`client-individual` (default): each MESSAGE is ACKed only after every destination confirmed it (at-least-once). `auto`: the broker forgets the message as soon as it sent it (at-most-once)',
    ),
});

export const stompTo = z.strictObject({
  destination: z
    .string()
    .min(1)
    .describe('destination to SEND to; may hold templates (`{1}`, `{address}`, `{header.NAME}`). RabbitMQ: `/exchange/x/rk`, `/amq/queue/q`, `/queue/q` (declares q durable), `/topic/rk`'),
  persistent: z
    .boolean()
    .optional()
    .describe('`persistent` header of SEND; default: true for at-least-once messages, false for at-most-once ones'),
});

export type StompOptions = z.infer<typeof stompOptions>;
export type StompFrom = z.infer<typeof stompFrom>;
export type StompTo = z.infer<typeof stompTo>;

type StompScheme = 'stomp' | 'stomp+ssl' | 'ws' | 'wss';

export interface StompAddress {
  readonly scheme: StompScheme;
  readonly host: string;
  readonly port: number;
  /** the WebSocket URL path (with its query), `/` when none */
  readonly path: string;
}

/** the ports STOMP brokers use when a URL names none (ActiveMQ and RabbitMQ for stomp, stomp+ssl) */
const DEFAULT_PORTS: Readonly<Record<StompScheme, number>> = { stomp: 61613, 'stomp+ssl': 61614, ws: 80, wss: 443 };

/** `stomp://`, `stomp+ssl://`, `ws://`, `wss://` → where to connect; undefined when it is not such a URL. */
export function parseStompUrl(url: string): StompAddress | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = u.protocol.slice(0, -1);
  if (!(scheme in DEFAULT_PORTS) || u.hostname === '' || u.username !== '' || u.password !== '') return undefined;
  const s = scheme as StompScheme;
  const web = s === 'ws' || s === 'wss';
  if (!web && u.pathname !== '' && u.pathname !== '/') return undefined;
  const port = u.port === '' ? DEFAULT_PORTS[s] : Number(u.port);
  // IPv6 literals come bracketed from URL; net.connect wants them bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { scheme: s, host, port, path: web ? `${u.pathname === '' ? '/' : u.pathname}${u.search}` : '/' };
}
