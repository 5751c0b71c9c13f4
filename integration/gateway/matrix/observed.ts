/**
 * What one sink's client saw, in one shape for all four protocols, so a pair's arrival can be
 * compared with what docs/mapping.md says and shown in one table.
 *
 * Values are rendered as text that keeps the type where the type is the point: `"v:1"` is a
 * string, `int 42` an AMQP 1.0 int, `42` a number as amqplib decodes any field-table integer
 * (docs/mapping/amqp091.md, Limit), `bytes "corr-mqtt"` binary (MQTT correlation data, AMQP 1.0
 * binary). Fields whose AMQP 1.0 type the spec fixes (content-type symbol, priority ubyte)
 * show the plain value when it had that type, and the type when it did not.
 */
import type { IMessage } from '@stomp/stompjs';
import type { ConsumeMessage } from 'amqplib';
import type { IPublishPacket } from 'mqtt';
import type { Amqp10Sections, Wire } from './amqp10-read.js';

/** An expiry field as it arrived: `left` is a time to live (ms), `at` an absolute time (ms since the epoch). */
interface Expiry {
  readonly field: string;
  readonly kind: 'left' | 'at';
  readonly ms: number;
}

export interface Observed {
  readonly body: Buffer;
  readonly xk: string | undefined;
  readonly xn: string | undefined;
  readonly contentType: string | undefined;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  readonly messageId: string | undefined;
  readonly priority: string | undefined;
  readonly expiry: readonly Expiry[];
  /** everything else the client saw, `name value`, run ids as `<run>`, sorted */
  readonly other: readonly string[];
  /** when the test client got it (ms since the epoch) */
  readonly at: number;
}

const text = (s: string): string => JSON.stringify(s);

export function bytes(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const s = buf.toString('utf8');
  // readable UTF-8 is shown as text, anything else as hex
  return Buffer.from(s, 'utf8').equals(buf) && /^[\x20-\x7e]*$/.test(s) ? `bytes ${text(s)}` : `bytes ${buf.toString('hex')}`;
}

function wireValue(w: Wire): string {
  if (w.type === 'string') return text(String(w.value));
  if (w.type === 'binary') return bytes(w.value as Buffer);
  if (w.value instanceof Date) return `${w.type} ${w.value.getTime()}`;
  if (Buffer.isBuffer(w.value)) return `${w.type} ${w.value.toString('hex')}`;
  return `${w.type} ${String(w.value)}`;
}

/** a field whose AMQP 1.0 type is fixed by the spec: the plain value when it has that type */
function fixedType(w: Wire | undefined, type: string): string | undefined {
  if (w === undefined) return undefined;
  return w.type === type ? (typeof w.value === 'string' ? text(w.value) : String(w.value)) : wireValue(w);
}

/** an amqplib field-table value (amqplib gives every integer and float as a number, a timestamp as {'!','value'}) */
function amqplibValue(v: unknown): string {
  if (typeof v === 'string') return text(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Buffer.isBuffer(v)) return bytes(v);
  return JSON.stringify(v);
}

function timeMs(v: unknown): number {
  return v instanceof Date ? v.getTime() : Number(v);
}

class Others {
  readonly #items: string[] = [];
  constructor(readonly run: string) {}
  add(name: string, value: string): void {
    this.#items.push(`${name} ${value.split(this.run).join('<run>')}`);
  }
  get list(): string[] {
    return [...this.#items].sort();
  }
}

/** a PUBLISH at an MQTT 5 subscriber (mqtt.js) */
export function fromMqtt(packet: IPublishPacket, run: string, at: number): Observed {
  const p = packet.properties ?? {};
  const user = { ...(p.userProperties ?? {}) };
  const prop = (v: string | string[] | undefined): string | undefined => (v === undefined ? undefined : Array.isArray(v) ? JSON.stringify(v) : text(v));
  const xk = prop(user['x-k']);
  const xn = prop(user['x-n']);
  delete user['x-k'];
  delete user['x-n'];
  const other = new Others(run);
  other.add('qos', String(packet.qos));
  if (packet.retain) other.add('retain', 'true');
  for (const [k, v] of Object.entries(user)) other.add(`user property ${k}`, prop(v) ?? '');
  const { contentType, correlationData, responseTopic, messageExpiryInterval, ...rest } = p;
  // user properties are listed one by one above
  for (const [k, v] of Object.entries(rest)) if (k !== 'userProperties') other.add(k, JSON.stringify(v));
  return {
    body: Buffer.from(packet.payload as Buffer),
    xk,
    xn,
    contentType: contentType === undefined ? undefined : text(contentType),
    correlationId: correlationData === undefined ? undefined : bytes(correlationData),
    replyTo: responseTopic === undefined ? undefined : text(responseTopic),
    messageId: undefined, // MQTT 5 has no message id property
    priority: undefined, // nor a priority
    expiry: messageExpiryInterval === undefined ? [] : [{ field: 'Message Expiry Interval', kind: 'left', ms: messageExpiryInterval * 1000 }],
    other: other.list,
    at,
  };
}

/** headers of a MESSAGE the listener writes for itself (docs/mapping/stomp.md, message → MESSAGE) */
const STOMP_FRAME_HEADERS = new Set(['subscription', 'message-id', 'destination', 'ack', 'content-length']);

/** A record's fields as a Map, to take them out one by one; what is left is "other". */
const fields = <T>(o: Readonly<Record<string, T>>): Map<string, T> => new Map(Object.entries(o));

/** Take field `k` out of `m`. */
function pop<T>(m: Map<string, T>, k: string): T | undefined {
  const v = m.get(k);
  m.delete(k);
  return v;
}

/** a MESSAGE at a STOMP 1.2 subscriber (@stomp/stompjs, values unescaped) */
export function fromStomp(m: IMessage, run: string, at: number): Observed {
  const h = fields<string>(m.headers);
  const take = (name: string): string | undefined => {
    const v = pop(h, name);
    return v === undefined ? undefined : text(v);
  };
  const xk = take('x-k');
  const xn = take('x-n');
  const contentType = take('content-type');
  const correlationId = take('correlation-id');
  const replyTo = take('reply-to');
  // the MESSAGE's own message-id is the listener's delivery id; the message's id is ferry-message-id
  const messageId = take('ferry-message-id');
  const priority = take('priority');
  const expires = pop(h, 'expires');
  const other = new Others(run);
  for (const [k, v] of h) if (!STOMP_FRAME_HEADERS.has(k)) other.add(k, text(v));
  return {
    body: Buffer.from(m.binaryBody),
    xk,
    xn,
    contentType,
    correlationId,
    replyTo,
    messageId,
    priority,
    expiry: expires === undefined ? [] : [{ field: 'expires', kind: 'at', ms: Number(expires) }],
    other: other.list,
    at,
  };
}

/** a message at an AMQP 1.0 receiver (rhea), read from its bytes */
export function fromAmqp10(s: Amqp10Sections, run: string, at: number): Observed {
  const header = fields(s.header);
  const props = fields(s.properties);
  const app = fields(s.applicationProperties);
  const xk = pop(app, 'x-k');
  const xn = pop(app, 'x-n');
  const ttl = pop(header, 'ttl');
  const absolute = pop(props, 'absolute-expiry-time');
  const expiry: Expiry[] = [];
  if (ttl !== undefined) expiry.push({ field: 'ttl', kind: 'left', ms: Number(ttl.value) });
  if (absolute !== undefined) expiry.push({ field: 'absolute-expiry-time', kind: 'at', ms: timeMs(absolute.value) });
  const contentType = fixedType(pop(props, 'content-type'), 'symbol');
  const correlation = pop(props, 'correlation-id');
  const replyTo = pop(props, 'reply-to');
  const messageId = pop(props, 'message-id');
  const priority = fixedType(pop(header, 'priority'), 'ubyte');
  const other = new Others(run);
  for (const [k, v] of header) other.add(k, wireValue(v));
  for (const [k, v] of props) other.add(k, wireValue(v));
  for (const [k, v] of app) other.add(`application property ${k}`, wireValue(v));
  if (s.data.length !== 1) other.add('data sections', String(s.data.length));
  if (s.otherBodySections > 0) other.add('amqp-value/amqp-sequence sections', String(s.otherBodySections));
  if (s.deliveryAnnotations) other.add('delivery-annotations', 'present');
  if (s.messageAnnotations) other.add('message-annotations', 'present');
  if (s.footer) other.add('footer', 'present');
  return {
    body: Buffer.concat(s.data),
    xk: xk === undefined ? undefined : wireValue(xk),
    xn: xn === undefined ? undefined : wireValue(xn),
    contentType,
    correlationId: correlation === undefined ? undefined : wireValue(correlation),
    replyTo: replyTo === undefined ? undefined : wireValue(replyTo),
    messageId: messageId === undefined ? undefined : wireValue(messageId),
    priority,
    expiry,
    other: other.list,
    at,
  };
}

/** a delivery at an amqplib consumer */
export function fromAmqp091(m: ConsumeMessage, run: string, at: number): Observed {
  const p = m.properties;
  const headers = fields<unknown>(p.headers ?? {});
  const take = (k: string): string | undefined => {
    const v = pop(headers, k);
    return v === undefined ? undefined : amqplibValue(v);
  };
  const xk = take('x-k');
  const xn = take('x-n');
  const other = new Others(run);
  // unique per publish (docs/mapping/amqp091.md, The x-ferry-publish-id header)
  if (typeof headers.get('x-ferry-publish-id') === 'string') {
    headers.delete('x-ferry-publish-id');
    other.add('x-ferry-publish-id', '<id>');
  }
  for (const [k, v] of headers) other.add(`header ${k}`, amqplibValue(v));
  if (p.deliveryMode !== undefined) other.add('delivery-mode', String(p.deliveryMode));
  for (const k of ['contentEncoding', 'timestamp', 'type', 'userId', 'appId', 'clusterId'] as const) {
    if (p[k] !== undefined) other.add(k, amqplibValue(p[k]));
  }
  const str = (v: unknown): string | undefined => (v === undefined ? undefined : amqplibValue(v));
  return {
    body: m.content,
    xk,
    xn,
    contentType: str(p.contentType),
    correlationId: str(p.correlationId),
    replyTo: str(p.replyTo),
    messageId: str(p.messageId),
    priority: str(p.priority),
    expiry: p.expiration === undefined ? [] : [{ field: 'expiration', kind: 'left', ms: Number(p.expiration) }],
    other: other.list,
    at,
  };
}
