/**
 * The one message every source sends, in each protocol's own terms. The values do not depend
 * on the run, so the observed table in docs/mapping.md is the same on every run.
 */
import type { End } from './ends.js';

/** The body of all 16 messages: NUL, 0xff, CR LF among text. Must arrive identical everywhere. */
export const BODY = Buffer.concat([Buffer.from([0x00, 0xff, 0x0d, 0x0a]), Buffer.from('matrix'), Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x00])]);

export const CONTENT_TYPE = 'application/x-ferry-matrix';
/** `x-k`: a string with a colon (STOMP escapes it as `\c`, STOMP 1.2 §Value Encoding) */
export const XK = 'v:1';
/** `x-n`: 42, typed where the source can type it (AMQP 1.0 int, AMQP 0-9-1 field-table integer), else the text "42" */
export const XN = 42;
export const EXPIRY_MS = 3_600_000;
const PRIORITY = 7;

export const correlation = (source: End): string => `corr-${source}`;
export const replyTo = (source: End): string => `reply-${source}`;
/** MQTT has no message id (docs/mapping/mqtt.md): undefined there */
export const messageId = (source: End): string | undefined => (source === 'mqtt' ? undefined : `mid-${source}`);
/** MQTT has no priority: undefined there */
export const priority = (source: End): number | undefined => (source === 'mqtt' ? undefined : PRIORITY);

/** What each source protocol can say about `x-n` (the brief: a number where it can be typed). */
export const XN_AS_SENT: Record<End, string> = {
  mqtt: 'User Property "42" (strings only)',
  stomp: 'header "42" (strings only)',
  amqp10: 'application property int 42',
  amqp091: 'field-table integer 42 (amqplib picks the tag)',
};
