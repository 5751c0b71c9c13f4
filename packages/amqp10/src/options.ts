/**
 * The route-file options of `amqp10` and `amqp10-listener`, one schema each. The TypeScript
 * types are inferred from them; JSON Schema and docs/connectors/amqp10.md follow them.
 */
import { clientTlsSettings, listenerTransportShape } from '@ferry/net';
import { anonymousAgrees, passwordsPresent, listenerAuthOptions, listenerUser, reconnectOption } from '@ferry/core';
import { z } from 'zod';

/**
 * rhea keeps every outgoing delivery of a session in a ring of 2048 slots (rhea
 * lib/session.js, DEFAULT_BUFFER_SIZE) and throws when it overflows; in-flight limits stay
 * well below it.
 */
const MAX_INFLIGHT = 1800;

const address = z.string().min(1).describe('AMQP 1.0 address (a node name: a queue, a topic, `/amq/queue/q` on RabbitMQ)');

export const amqp10From = z.strictObject({
  address: address.describe('the address Ferry attaches a receiving link to (its source); the route takes every message delivered on it'),
});

export const amqp10To = z.strictObject({
  address: address.describe('the address Ferry attaches a sending link to (its target); may hold templates ({1}, {address}, {header.NAME})'),
});

export const amqp10Options = z.strictObject({
  url: z
    .string()
    .regex(/^amqps?:\/\/[^/]+/, 'an amqp:// or amqps:// URL')
    .describe('the peer: amqp://host:port (5672 by default) or amqps://host:port (TLS, 5671); user:password in the URL is used when username/password are not set'),
  username: z.string().min(1).optional().describe('SASL PLAIN user name; with neither this nor a user in the URL, SASL ANONYMOUS is used'),
  password: z.string().optional().describe('SASL PLAIN password'),
  hostname: z.string().min(1).optional().describe("the open frame's hostname (AMQP 1.0 §2.7.1); RabbitMQ reads the vhost from it: 'vhost:/'"),
  containerId: z.string().min(1).optional().describe("the container-id Ferry opens the connection with (§2.7.1); default 'ferry-<gateway id>-<connector name>'"),
  idleTimeoutMs: z.number().int().min(0).default(60_000).describe('idle time-out Ferry announces in its open frame (§2.4.5); the peer must send a frame at least this often. 0 disables'),
  reconnect: reconnectOption,
  credit: z.number().int().min(1).max(MAX_INFLIGHT).default(1000).describe('link credit per receiving link (§2.6.7): the most deliveries Ferry holds unsettled per source; credit is given back only as messages settle'),
  maxInflight: z.number().int().min(1).max(MAX_INFLIGHT).default(1000).describe('the most unsettled deliveries Ferry sends per sending link before waiting for dispositions'),
  tls: clientTlsSettings.optional().describe('TLS for amqps:// URLs: the CA to trust (default: the system\'s), a client certificate'),
});

export const amqp10ListenerOptions = z.strictObject({
  port: z.number().int().min(0).max(65535).describe('TCP port the listener binds (TLS only when `tls` has no port of its own)'),
  host: z.string().min(1).default('0.0.0.0').describe('interface the listener binds'),
  ...listenerTransportShape,
  users: z
    .array(listenerUser('amqp10', 'username', 'user name', 'password'))
    .min(1)
    .optional()
    .describe('SASL PLAIN users (password: an scrypt hash from "ferry passwd"; plain text still works, with a warning at start); when absent, clients connect with SASL ANONYMOUS (or no SASL layer)'),
  allowAnonymous: z.boolean().optional().describe('the older name of anonymous'),
  ...listenerAuthOptions('amqp10'),
  maxFrameSize: z.number().int().min(512).max(16 * 1024 * 1024).default(65_536).describe('largest frame a client may send (announced in open, §2.7.1); a larger frame closes the connection with amqp:connection:framing-error'),
  maxMessageBytes: z.number().int().min(1).default(16 * 1024 * 1024).describe('largest message a client may send, over all its transfer frames (announced as max-message-size on attach, §2.7.3)'),
  maxUnfinishedBytes: z
    .number()
    .int()
    .min(1)
    .default(32 * 1024 * 1024)
    .describe('bytes of messages one connection has begun and not finished (split over transfer frames), over all its links; more closes the connection with amqp:resource-limit-exceeded'),
  idleTimeoutMs: z.number().int().min(0).default(60_000).describe('idle time-out announced in open (§2.4.5): a silent client is closed after twice this'),
  credit: z.number().int().min(1).max(MAX_INFLIGHT).default(1000).describe("link credit per client's sending link: the most unsettled messages one client link may have in Ferry (as the mqtt-listener's receiveMaximum)"),
  queueBufferMessages: z.number().int().min(0).default(1000).describe('messages held per address while no client receiver is attached or none has credit; when full, writes fail (transient) and the source redelivers later'),
  topics: z
    .array(z.string().min(1))
    .default([])
    .describe('address patterns (dot-separated words, * one word, # zero or more) that behave like topics: a message for such an address while no receiver is attached is confirmed and dropped (messages_dropped_total reason "no-receiver"), as an MQTT topic nobody subscribes to; other addresses queue'),
  queueBufferBytes: z.number().int().min(1024).default(16 * 1024 * 1024).describe('bytes held per address while no client receiver can take them; over it, writes fail (transient, LIMIT_EXCEEDED)'),
  maxBufferedBytes: z.number().int().min(1024).default(64 * 1024 * 1024).describe('bytes the listener holds for its client receivers in all: every queue and every unsettled delivery; over it, writes fail (transient, LIMIT_EXCEEDED)'),
  maxUnsettledBytesPerReceiver: z
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024)
    .describe('bytes sent to one client receiving link and not yet settled; a receiver over it gets nothing more until it settles, whatever its credit (one message always goes out)'),
})
  .refine(anonymousAgrees, { path: ['anonymous'], error: 'anonymous and allowAnonymous (its older name) disagree' })
  .refine(passwordsPresent, { path: ['users'], error: 'every user needs a password (only useIdentityAsUsername lets a user log in by certificate alone)' });

export type Amqp10Options = z.infer<typeof amqp10Options>;
export type Amqp10ListenerOptions = z.infer<typeof amqp10ListenerOptions>;
export type Amqp10From = z.infer<typeof amqp10From>;
export type Amqp10To = z.infer<typeof amqp10To>;
