import { isUtf8 } from 'node:buffer';
import type { Headers } from './headers.js';

/**
 * Correlation ids across protocols that hold them differently, so that request/reply works
 * through any pair: the id a requester sent comes back to it exactly, whatever carried it on
 * the way (docs/mapping.md "Request/reply").
 *
 * The canonical `correlationId` is a `string` (a text id) or a `Buffer` (a binary id):
 * - AMQP 1.0 says which one it is (§3.2.4: string, binary, ulong or uuid);
 * - MQTT 5 Correlation Data is always binary data (§3.3.2.3.6); Ferry reads bytes that are valid
 *   UTF-8 as a text id (what a requester on any other protocol sent as one), others as binary;
 * - AMQP 0-9-1 `correlation-id` is a shortstr (≤ 255 bytes, §4.2.5.3): a binary id or a longer
 *   one travels in the header `x-correlation-id` instead, as RabbitMQ's MQTT plugin does;
 * - STOMP headers are text without NUL: a binary id, or text holding NUL, travels as base64.
 *
 * Where a carrier cannot tell the two kinds apart by itself, the sink adds the header
 * {@link CORRELATION_ENCODING_HEADER} and the source on the way back reads and removes it; it
 * never reaches an application through a source of Ferry's.
 */

/** The AMQP 0-9-1 header that holds a correlation id `correlation-id` cannot (binary, or over 255 bytes). */
export const AMQP091_CORRELATION_HEADER = 'x-correlation-id';

/**
 * Says how the correlation field of a text-only or bytes-only carrier is to be read back:
 * - `base64`: the field holds the base64 of a binary id (STOMP);
 * - `text-base64`: the field holds the base64 of a text id's UTF-8 (STOMP, a text id with NUL);
 * - `binary`: the field holds the bytes of a binary id that happen to be valid UTF-8 (MQTT).
 */
export const CORRELATION_ENCODING_HEADER = 'ferry-correlation-encoding';

export type CorrelationEncoding = 'base64' | 'text-base64' | 'binary';

export type CorrelationId = string | Buffer;

function takeEncoding(headers: Headers): string | undefined {
  const v = headers.get(CORRELATION_ENCODING_HEADER);
  if (v === undefined) return undefined;
  headers.delete(CORRELATION_ENCODING_HEADER);
  return typeof v === 'string' ? v : undefined;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The id as a text-only protocol (STOMP) writes it: a text id without NUL as it is, anything else
 * as base64 with the encoding to put in {@link CORRELATION_ENCODING_HEADER}.
 */
export function correlationToText(id: CorrelationId): { readonly value: string; readonly encoding?: CorrelationEncoding } {
  if (typeof id === 'string') {
    return id.includes('\u0000') ? { value: Buffer.from(id, 'utf8').toString('base64'), encoding: 'text-base64' } : { value: id };
  }
  return { value: id.toString('base64'), encoding: 'base64' };
}

/**
 * The id as MQTT 5 Correlation Data: a text id's UTF-8, a binary id's bytes, and `binary` to mark
 * a binary id whose bytes would read back as text.
 */
export function correlationToBytes(id: CorrelationId): { readonly bytes: Buffer; readonly encoding?: CorrelationEncoding } {
  if (typeof id === 'string') return { bytes: Buffer.from(id, 'utf8') };
  return isUtf8(id) ? { bytes: id, encoding: 'binary' } : { bytes: id };
}

/**
 * The canonical id of MQTT 5 Correlation Data; takes {@link CORRELATION_ENCODING_HEADER} out of
 * `headers` (the user properties as headers).
 */
export function correlationFromBytes(bytes: Buffer | undefined, headers: Headers): CorrelationId | undefined {
  const encoding = takeEncoding(headers);
  if (bytes === undefined) return undefined;
  if (encoding === 'binary') return bytes;
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes;
}

/**
 * The canonical id of a field that holds text (STOMP, AMQP 0-9-1 `correlation-id`) or a typed id
 * (AMQP 1.0); takes {@link CORRELATION_ENCODING_HEADER} out of `headers` and decodes what it
 * marks. A value that is not base64 although marked so is kept as the text it is.
 */
export function correlationFromField(value: CorrelationId | undefined, headers: Headers): CorrelationId | undefined {
  const encoding = takeEncoding(headers);
  if (value === undefined || typeof value !== 'string') return value;
  if ((encoding === 'base64' || encoding === 'text-base64') && BASE64.test(value)) {
    const bytes = Buffer.from(value, 'base64');
    return encoding === 'base64' ? bytes : bytes.toString('utf8');
  }
  return value;
}
