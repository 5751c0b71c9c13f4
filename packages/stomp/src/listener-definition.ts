import { anonymousAgrees, auditListenerAuth, passwordsPresent, defineConnector, LazyModule, listenerAuthOptions, listenerUser } from '@ferry/core';
import { listenerRole, listenerTransportShape } from '@ferry/net';
import { stompAddressing } from './addressing.js';
import { z } from 'zod';
import type { StompListenerFrom, StompListenerOptions, StompListenerTo } from './server/listener-options.js';
import { stompAuthInput } from './server/auth-input.js';

/** the STOMP server's code, loaded only when a configuration uses the type (the package's main entry provides it) */
export const stompListenerCode = new LazyModule('the stomp-listener connector', () => import('./server/listener-connector.js'));

const destination = z
  .string()
  .regex(/^\/(topic|queue)\/.+/, 'a destination /topic/<name> or /queue/<name>')
  .describe('STOMP destination: /topic/<name> (every subscriber gets a copy) or /queue/<name> (one subscriber each)');

const int = (min: number) => z.number().int().min(min);

const options = z.strictObject({
  port: int(1).max(65535).describe('TCP port to listen on (TLS only when `tls` has no port of its own)'),
  host: z.string().min(1).default('0.0.0.0').describe('address to bind'),
  ...listenerTransportShape,
  users: z
    .array(listenerUser('stomp', 'login', 'the CONNECT login', 'passcode'))
    .default([])
    .describe('clients allowed to connect (CONNECT login/passcode); passcode is an scrypt hash from "ferry passwd" (plain text still works, with a warning at start)'),
  allowAnonymous: z.boolean().optional().describe('the older name of anonymous'),
  ...listenerAuthOptions('stomp'),
  heartBeat: z
    .strictObject({
      sendMs: int(0).default(10_000).describe('the server can send a heart-beat this often (0: never)'),
      receiveMs: int(0).default(10_000).describe('the server wants to hear from clients this often (0: no check); silence for twice the agreed interval closes the connection'),
      idleTimeoutMs: int(0)
        .default(600_000)
        .describe('a client with no heart-beats towards the server (it offered 0, or speaks STOMP 1.0) that sends nothing for this long gets an ERROR and is closed (0: never)'),
    })
    .prefault({})
    .describe('heart-beat offered in CONNECTED (STOMP 1.2 §Heart-beating)'),
  limits: z
    .strictObject({
      maxFrameBytes: int(64).default(1024 * 1024).describe('largest frame (headers + body) a client may send'),
      maxHeaders: int(1).default(100).describe('most headers in one frame'),
      maxHeaderLineBytes: int(16).default(8 * 1024).describe('longest command or header line'),
    })
    .prefault({})
    .describe('frame limits; a client over one gets an ERROR frame and is disconnected'),
  queueBufferMessages: int(1).default(10_000).describe('messages a /queue holds while no subscriber can take them; a SEND over it gets an ERROR'),
  queueBufferBytes: int(1024)
    .default(16 * 1024 * 1024)
    .describe('bytes (bodies and headers) a /queue, or a slow /topic subscriber, holds; a SEND over it gets an ERROR (a topic subscriber loses the message, counted)'),
  maxBufferedBytes: int(1024)
    .default(64 * 1024 * 1024)
    .describe('bytes the whole listener holds: queues, slow topic subscribers, unacknowledged deliveries; a SEND over it gets an ERROR'),
  maxUnackedPerSubscription: int(1).optional().describe('client / client-individual subscriptions: deliveries outstanding before the subscription waits for ACKs'),
  maxUnackedBytesPerSubscription: int(1024)
    .default(4 * 1024 * 1024)
    .describe('client / client-individual subscriptions: unacknowledged bytes before the subscription waits for ACKs (one message always goes out)'),
  maxTransactionBytes: int(1024)
    .default(16 * 1024 * 1024)
    .describe('bytes the open transactions of one connection hold before COMMIT; a SEND over it gets an ERROR'),
}).refine(anonymousAgrees, { path: ['anonymous'], error: 'anonymous and allowAnonymous (its older name) disagree' })
  .refine(passwordsPresent, { path: ['users'], error: 'every user needs a passcode (only useIdentityAsUsername lets a user log in by certificate alone)' });

export const stompListenerDefinition = defineConnector<StompListenerOptions, StompListenerFrom, StompListenerTo>({
  ...stompAddressing,
  ...listenerRole,
  type: 'stomp-listener',
  description: "Ferry's own STOMP 1.0/1.1/1.2 server: clients connect to the gateway, SEND to /topic or /queue destinations and SUBSCRIBE to them.",
  options,
  from: z.strictObject({ destination }),
  to: z.strictObject({ destination }),
  ...stompListenerCode.connector((m) => m.StompListenerConnector),
  // its options name users the STOMP way (login/passcode): the audit reads them as core's
  audit: (o, baseDir) => auditListenerAuth(stompAuthInput(o), baseDir),
});
