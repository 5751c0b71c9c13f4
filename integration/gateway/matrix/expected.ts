/**
 * What docs/mapping.md and docs/mapping/{mqtt,amqp091,amqp10,stomp}.md say each sink receives
 * from each source, field by field, for the message of ./sent.ts. Each rule names the table
 * row it comes from; nothing here is read from what Ferry did.
 */
import { type End, type Pair } from './ends.js';
import { CONTENT_TYPE, EXPIRY_MS, XK, XN, correlation, messageId, priority, replyTo } from './sent.js';
import { bytes, type Observed } from './observed.js';

interface ExpectedExpiry {
  readonly field: string;
  readonly kind: 'left' | 'at';
  /** inclusive bounds, ms (a time to live, or ms since the epoch) */
  readonly lo: number;
  readonly hi: number;
}

export interface Expected {
  readonly xk: string | undefined;
  readonly xn: string | undefined;
  readonly contentType: string | undefined;
  readonly correlationId: string | undefined;
  readonly replyTo: string | undefined;
  readonly messageId: string | undefined;
  readonly priority: string | undefined;
  readonly expiry: readonly ExpectedExpiry[];
  readonly other: readonly string[];
}

/** Times the expiry rules depend on. */
export interface Clock {
  /** just before the test sent this pair's message */
  readonly sentAfter: number;
  /** when the test client got it */
  readonly arrived: number;
  /** the STOMP source's `expires` header (absolute ms), as sent */
  readonly stompExpires: number;
}

const text = (s: string): string => JSON.stringify(s);

/**
 * The canonical `x-n` each source produces (docs/mapping/*.md, source tables): string-only
 * sources give the text; AMQP 1.0 keeps its type (TypedNumber int); amqplib hands Ferry a plain
 * number whose tag it does not say (docs/mapping/amqp091.md, Limit).
 */
type CanonicalXn = { readonly kind: 'string' } | { readonly kind: 'typed'; readonly type: 'int' } | { readonly kind: 'number' };
const CANONICAL_XN: Record<End, CanonicalXn> = {
  mqtt: { kind: 'string' },
  stomp: { kind: 'string' },
  amqp10: { kind: 'typed', type: 'int' },
  amqp091: { kind: 'number' },
};

function xnAt(sink: End, source: End): string {
  const c = CANONICAL_XN[source];
  // string-only sinks: core's headerToString, numbers in decimal (docs/mapping.md, rules)
  if (sink === 'mqtt' || sink === 'stomp' || c.kind === 'string') return text(String(XN));
  if (sink === 'amqp10') {
    // docs/mapping/amqp10.md, application properties: a TypedNumber keeps its type; a plain
    // number becomes the smallest signed integer type that holds it (42: byte)
    return c.kind === 'typed' ? `${c.type} ${XN}` : `byte ${XN}`;
  }
  // amqp091 sink: a TypedNumber int goes as `I`, a plain number by amqplib's rule; amqplib's
  // consumer decodes either as a plain number (docs/mapping/amqp091.md, Headers and Limit)
  return String(XN);
}

/**
 * The correlation id at each sink. Every source sent a text id (MQTT: correlation data that is
 * valid UTF-8, which Ferry reads as a text id, docs/mapping.md "Request/reply"), so every sink
 * but MQTT writes it as a string; MQTT correlation data is its UTF-8 bytes.
 */
function correlationAt(sink: End, source: End): string {
  const c = correlation(source);
  return sink === 'mqtt' ? bytes(Buffer.from(c, 'utf8')) : text(c);
}

function priorityAt(sink: End, source: End): string | undefined {
  const p = priority(source);
  // MQTT has no priority to send or to receive (docs/mapping/mqtt.md)
  if (p === undefined || sink === 'mqtt') return undefined;
  if (sink === 'stomp') return text(String(p)); // a header, 0–9
  return String(p); // AMQP 1.0 header priority (ubyte), AMQP 0-9-1 priority (octet)
}

function expiryAt(p: Pair, clock: Clock): ExpectedExpiry[] {
  // Expiry counts down inside Ferry (docs/mapping.md, rules): a time to live arrives as what was
  // left when the sink wrote it, between 1 h minus the transit and 1 h; an absolute time is
  // the source's arrival in Ferry + 1 h, or the STOMP source's own `expires`.
  const transit = clock.arrived - clock.sentAfter;
  const left = (field: string): ExpectedExpiry => ({ field, kind: 'left', lo: EXPIRY_MS - transit, hi: EXPIRY_MS });
  const at = (field: string): ExpectedExpiry =>
    p.source === 'stomp'
      ? { field, kind: 'at', lo: clock.stompExpires, hi: clock.stompExpires }
      : { field, kind: 'at', lo: clock.sentAfter + EXPIRY_MS, hi: clock.arrived + EXPIRY_MS };
  switch (p.sink) {
    case 'mqtt':
      return [left('Message Expiry Interval')]; // §3.3.2.3.3, ⌈ms left / 1000⌉ s
    case 'stomp':
      return [at('expires')]; // ms since the epoch
    case 'amqp091':
      return [left('expiration')]; // ms left, ceil
    case 'amqp10':
      // between two AMQP 1.0 ends the encoded message is forwarded untouched but for the header's
      // ttl, which is the time left (§3.2.1: an intermediary sends the reduced ttl), and there is
      // no absolute-expiry-time the sender did not send (docs/mapping/amqp10.md, The rule);
      // re-encoded: ttl = ms left, absolute-expiry-time = expiresAt
      return p.source === 'amqp10' ? [left('ttl')] : [left('ttl'), at('absolute-expiry-time')];
  }
}

function otherAt(p: Pair): string[] {
  // every message Ferry writes counts its passage in x-ferry-hops (loop protection,
  // docs/mapping.md), in each protocol's own header form
  switch (p.sink) {
    case 'mqtt':
      // the route's `to.qos` defaults to 1, the subscription is QoS 1: min(1, 1); nothing else
      // (Ferry does not invent user properties for message id or priority)
      return ['qos 1', `user property x-ferry-hops ${text('1')}`];
    case 'stomp':
      // `persistent` only when the message came from STOMP with it (the test's SEND has none)
      return [`x-ferry-hops ${text('1')}`];
    case 'amqp091':
      // every mandatory publish carries x-ferry-publish-id; delivery-mode: the 0-9-1 source's
      // own mode (persistent), else at-least-once → 2
      return ['delivery-mode 2', 'header x-ferry-hops 1', 'x-ferry-publish-id <id>'];
    case 'amqp10':
      // pass-through: what the AMQP 1.0 client sent (durable true, no `to`) and the hop count,
      // the one section written again; re-encoded: durable from the guarantee (at-least-once →
      // true) and `to` = the sink's address; the hop count in the smallest integer type
      return p.source === 'amqp10'
        ? ['application property x-ferry-hops byte 1', 'durable boolean true']
        : ['application property x-ferry-hops byte 1', 'durable boolean true', `to ${text(`<run>.out.${p.source}`)}`].sort();
  }
}

export function expected(p: Pair, clock: Clock): Expected {
  const mid = messageId(p.source);
  return {
    // x-k is a string everywhere (STOMP unescapes `\c`)
    xk: text(XK),
    xn: xnAt(p.sink, p.source),
    contentType: text(CONTENT_TYPE),
    correlationId: correlationAt(p.sink, p.source),
    replyTo: text(replyTo(p.source)),
    // MQTT has no message id: none from an MQTT source, none to an MQTT sink; the STOMP listener
    // writes it as ferry-message-id (read as such in observed.ts)
    messageId: mid === undefined || p.sink === 'mqtt' ? undefined : text(mid),
    priority: priorityAt(p.sink, p.source),
    expiry: expiryAt(p, clock),
    other: otherAt(p),
  };
}

/** Every difference between what arrived and what the docs say, as readable lines. */
export function differences(label: string, got: Observed, want: Expected, body: Buffer): string[] {
  const out: string[] = [];
  if (!got.body.equals(body)) out.push(`${label} body: sent ${body.toString('hex')}, got ${got.body.toString('hex')}`);
  for (const f of ['xk', 'xn', 'contentType', 'correlationId', 'replyTo', 'messageId', 'priority'] as const) {
    if (got[f] !== want[f]) out.push(`${label} ${f}: docs say ${want[f] ?? 'absent'}, got ${got[f] ?? 'absent'}`);
  }
  const fieldsGot = got.expiry.map((e) => `${e.field} (${e.kind})`).join(', ');
  const fieldsWant = want.expiry.map((e) => `${e.field} (${e.kind})`).join(', ');
  if (fieldsGot !== fieldsWant) out.push(`${label} expiry fields: docs say [${fieldsWant}], got [${fieldsGot}]`);
  else {
    want.expiry.forEach((w, i) => {
      const g = got.expiry[i]!;
      if (!(g.ms >= w.lo && g.ms <= w.hi)) out.push(`${label} ${w.field}: docs say ${w.lo}..${w.hi}, got ${g.ms}`);
    });
  }
  if (JSON.stringify(got.other) !== JSON.stringify(want.other)) out.push(`${label} other: docs say ${JSON.stringify(want.other)}, got ${JSON.stringify(got.other)}`);
  return out;
}
