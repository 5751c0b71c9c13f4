import { listenerTransportShape } from '@ferry/net';
import { anonymousAgrees, passwordsPresent, listenerAuthOptions, listenerUser, reconnectOption } from '@ferry/core';
import { z } from 'zod';
import { ClientIdRule } from './listener/client-id-rule.js';

/**
 * Option schemas of the two MQTT connector types. Every field carries a description because
 * config/schema.json and docs/connectors/mqtt.md are generated from these schemas.
 */

const qos = z.union([z.literal(0), z.literal(1), z.literal(2)]);

const topicFilter = z
  .string()
  .min(1)
  .describe('MQTT topic filter (MQTT 5 §4.7): levels separated by "/", "+" matches one level, "#" the rest (last level only)');

const topicName = z
  .string()
  .min(1)
  .describe('MQTT topic name to publish to (no wildcards); may hold templates {1}, {address}, {header.NAME}');

/**
 * How many QoS 1/2 messages may be in flight at once: at least one, and no more than there are
 * packet identifiers (16 bits, none of them 0: MQTT 5 §2.2.1), the bound Receive Maximum has too
 * (§3.1.2.11.3).
 */
const inflightWindow = () => z.number().int().min(1).max(65535);
const durationSeconds = (what: string) => z.number().int().min(0).describe(what);

export const mqttOptions = z.strictObject({
  url: z
    .string()
    .regex(/^(mqtts?|wss?):\/\/[^/]+/, 'expected mqtt://host:port, mqtts://host:port, ws://host:port/path or wss://host:port/path')
    .describe('broker URL: mqtt://host:port, mqtts://host:port for TLS, or MQTT over WebSocket: ws://host:port/path, wss://host:port/path (subprotocol mqtt)'),
  protocolVersion: z
    .union([z.literal(4), z.literal(5)])
    .default(4)
    .describe('4 = MQTT 3.1.1, 5 = MQTT 5.0 (properties, reason codes, subscription identifiers)'),
  clientId: z
    .string()
    .min(1)
    .max(65535)
    .optional()
    .describe('MQTT client identifier; default ferry-<gatewayId>-<connector name>. Keep it stable: the persistent session is keyed by it'),
  username: z.string().optional().describe('user name sent in CONNECT'),
  password: z.string().optional().describe('password sent in CONNECT'),
  clean: z
    .boolean()
    .default(false)
    .describe(
      'clean session (3.1.1) / clean start (5). Default false: a persistent session, so unacknowledged QoS 1 messages survive reconnects and are redelivered',
    ),
  sessionExpiryInterval: durationSeconds('MQTT 5 session expiry interval in seconds (§3.1.2.11.2); how long the broker keeps the session after a disconnect')
    .max(0xffffffff)
    .default(86400),
  keepalive: durationSeconds('keep alive in seconds (§3.1.2.10); 0 disables it').max(65535).default(30),
  reconnect: reconnectOption,
  connectTimeoutMs: z.number().int().min(1).default(10_000).describe('time allowed for TCP/TLS connect plus CONNACK, ms'),
  maxInflight: inflightWindow()
    .default(1000)
    .describe('QoS 1/2 publishes awaiting PUBACK/PUBCOMP per connection; further writes wait (up to the same number again), then fail with LIMIT_EXCEEDED'),
  receiveMaximum: inflightWindow()
    .default(100)
    .describe(
      'QoS 1/2 messages of one connection routed at a time, awaiting settlement; announced to an MQTT 5 broker as Receive Maximum (§3.1.2.11.3) and kept by Ferry whatever the broker sends (the rest wait unrouted, the connection unread). Bounds the duplicates after a lost connection or a killed Ferry. MQTT 3.1.1 has no such field: the broker\'s own setting (Mosquitto max_inflight_messages, default 20) may bound it lower',
    ),
  maxTopicLevels: z
    .number()
    .int()
    .min(1)
    .default(201)
    .describe(
      'most topic levels a publish may have; a message with more is refused permanently (dead letter / reject) instead of sent. The default is what Mosquitto takes (200 "/"): it closes the connection on a longer topic',
    ),
  tls: z
    .strictObject({
      ca: z.string().optional().describe('CA certificate file (PEM), relative to the route file'),
      cert: z.string().optional().describe('client certificate file (PEM), relative to the route file'),
      key: z.string().optional().describe('client private key file (PEM), relative to the route file'),
      rejectUnauthorized: z.boolean().default(true).describe('verify the broker certificate'),
    })
    .optional()
    .describe('TLS settings for mqtts:// and wss:// URLs'),
});

export const mqttFrom = z.strictObject({
  topic: topicFilter,
  share: z
    .string()
    .min(1)
    .regex(/^[^/+#]+$/, 'a share name has no "/", "+" or "#" (MQTT 5 §4.8.2)')
    .optional()
    .describe(
      'subscribe as a member of the shared subscription $share/<share>/<topic> (MQTT 5 §4.8.2; Mosquitto also allows it over 3.1.1): of several Ferry replicas with the same share name, the broker gives each message to one',
    ),
  qos: qos
    .default(1)
    .describe('subscription QoS: 0 at-most-once, 1 at-least-once (PUBACK after every destination confirmed). 2 is subscribed as 1, see docs/connectors/mqtt.md'),
});

export const mqttTo = z.strictObject({
  topic: topicName,
  qos: qos.default(1).describe('publish QoS; write resolves on PUBACK (1), PUBCOMP (2) or when written (0)'),
  retain: z.boolean().optional().describe("retain flag; default: the message's own retain flag"),
});

export const mqttListenerOptions = z.strictObject({
  port: z.number().int().min(0).max(65535).describe('TCP port devices connect to (TLS only when `tls` has no port of its own)'),
  host: z.string().default('0.0.0.0').describe('interface to listen on'),
  ...listenerTransportShape,
  users: z
    .array(listenerUser('mqtt', 'username', 'user name', 'password'))
    .optional()
    .describe('accepted credentials; when present, clients must authenticate (CONNACK 0x04/0x05 in 3.1.1, 0x86/0x87 in 5 otherwise)'),
  allowAnonymous: z.boolean().optional().describe('the older name of anonymous'),
  ...listenerAuthOptions('mqtt'),
  clientIdPattern: z
    .string()
    .superRefine((p, ctx) => {
      const problem = ClientIdRule.problem(p);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional()
    .describe(
      'client ids a user may connect with: "{username}" (the id must be the user name, as Mosquitto\'s use_username_as_clientid) or a pattern around {username} ending in "*" for any suffix ("{username}-*"). Other ids, and clients without a user name, get CONNACK 0x85 (5) / 0x02 (3.1.1); an empty id is given the pattern filled in',
    ),
  keepaliveLimit: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe(
      'largest keep alive (s) accepted; default: no limit, and keep alive 0 (no keep alive, §3.1.2.10) accepted, as Mosquitto does. When set, MQTT 3.1.1 clients asking for more (or 0) are refused with CONNACK 0x02; MQTT 5 clients are told the limit as Server Keep Alive (§3.2.2.3.14)',
    ),
  maxPacketSize: z
    .number()
    .int()
    .min(64)
    .max(268_435_460)
    .default(1_048_576)
    .describe('largest MQTT packet accepted, bytes, checked at the socket from the fixed header before buffering; larger → DISCONNECT 0x95 (5) / close (3.1.1)'),
  maxClients: z.number().int().min(1).optional().describe('most simultaneous client connections; more are refused (CONNACK 0x03 / 0x97)'),
  receiveMaximum: inflightWindow()
    .default(1000)
    .describe('QoS 1/2 publishes from one client held awaiting settlement (§3.2.2.3.3); beyond it the socket is not read until some settle'),
  sessionQueueLimit: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .describe(
      "QoS 1/2 messages queued per session for an offline or slow subscriber; beyond it a device's publish or a route's write for a connected subscriber waits for room with its PUBACK/PUBREC or the write's confirm held (sessionQueueWaitMs), and other new messages for that session are dropped and counted",
    ),
  sessionQueueBytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024)
    .describe('bytes (payload and topic) of the QoS 1/2 messages queued per session; beyond it as beyond sessionQueueLimit (drops counted in messages_dropped_total{reason="queue-full"})'),
  sessionQueueWaitMs: z
    .number()
    .int()
    .min(0)
    .default(10_000)
    .describe(
      "how long a device's QoS 1/2 publish or a route's write may wait for room in a connected subscriber's full session queue while that queue admits nothing; its PUBACK/PUBREC or the write's confirm waits meanwhile, so the publisher is paced by its own in-flight window (a route by its maxInFlight) instead of the message being dropped. After it, the waiting copies are dropped and counted (queue-full), a route's write fails LIMIT_EXCEEDED (transient) instead of confirming, and new copies for that subscriber are dropped at once until it takes messages again. 0: never wait, drop at once. Keep it below the engine's sink timeout",
    ),
  maxInflightMessages: inflightWindow()
    .default(1000)
    .describe(
      "QoS 1/2 messages written to one subscriber and not yet acknowledged (for MQTT 5 also at most the client's Receive Maximum; maxInflightBytes bounds their bytes); the rest wait in the session queue. The same bound as receiveMaximum on a device's publishes. Like Mosquitto's max_inflight_messages",
    ),
  maxInflightBytes: z
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024)
    .describe('bytes of the QoS 1/2 messages written to one subscriber and not yet acknowledged (one message always goes, however large); like Mosquitto\'s max_inflight_bytes'),
  retainedBytesLimit: z
    .number()
    .int()
    .min(0)
    .default(64 * 1024 * 1024)
    .describe(
      'total bytes (payload and topic) of the retained messages kept; a retained publish beyond it is refused (MQTT 5: PUBACK/PUBREC 0x97 Quota exceeded), logged and counted (messages_dropped_total{reason="retained-full"})',
    ),
  maxSubscriptionsPerSession: z
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('topic filters one session may subscribe; a SUBSCRIBE beyond it gets SUBACK 0x97 Quota exceeded (MQTT 5) / 0x80 Failure (3.1.1) for the new filters'),
  maxSessionExpiry: z
    .number()
    .int()
    .min(0)
    .max(2_147_483)
    .default(7200)
    .describe(
      'seconds a session is kept after its client disconnected, at most: MQTT 3.1.1 persistent sessions (clean session 0, which 3.1.1 never expires) for exactly this long, MQTT 5 Session Expiry Intervals capped to it (told in CONNACK, §3.2.2.3.2). Like Mosquitto\'s persistent_client_expiration',
    ),
}).refine(anonymousAgrees, { path: ['anonymous'], error: 'anonymous and allowAnonymous (its older name) disagree' })
  .refine(passwordsPresent, { path: ['users'], error: 'every user needs a password (only useIdentityAsUsername lets a user log in by certificate alone)' });

export const mqttListenerFrom = z.strictObject({
  topic: topicFilter,
});

export const mqttListenerTo = z.strictObject({
  topic: topicName,
  qos: qos.default(1).describe('QoS the message is published with into the listener (subscribers get min(this, their subscription QoS))'),
  retain: z.boolean().optional().describe("retain flag; default: the message's own retain flag"),
});

export type MqttOptions = z.infer<typeof mqttOptions>;
export type MqttFrom = z.infer<typeof mqttFrom>;
export type MqttTo = z.infer<typeof mqttTo>;
export type MqttListenerOptions = z.infer<typeof mqttListenerOptions>;
export type MqttListenerFrom = z.infer<typeof mqttListenerFrom>;
export type MqttListenerTo = z.infer<typeof mqttListenerTo>;
