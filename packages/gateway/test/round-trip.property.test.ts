/**
 * Request/reply round trips, property-based (fast-check): for every ordered pair of protocols
 * A → B → A, a generated message in A's own frame goes through A's source mapping, the route
 * table (a route A → B with `{address}`, or `/topic/{1}` into STOMP), B's sink mapping into B's frame, B's source mapping, the
 * route back B → A, and A's sink mapping. What comes back in A's frame must be what was sent:
 * body bytes, headers (with their types where both protocols have types), correlation id (its
 * bytes and its kind), reply-to and address. No broker: the frames are what each protocol
 * library would put on the wire (AMQP 0-9-1 headers go through amqplib's own field-table codec,
 * AMQP 1.0 messages through Ferry's AMQP 1.0 codec).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { createMessage, type GatewayMessage, type HeaderValue, type Protocol, type RouteSpec } from '@ferry/core';
import { fromMqttPublish, toMqttPublish, type PublishProperties } from '@ferry/mqtt';
import { fromDelivery, toPublish } from '@ferry/amqp091';
import { buildMessage, parseMessage, toAmqp10, toGatewayMessage, type AmqpValue } from '@ferry/amqp10';
import { messageToBroker, sendToMessage, type HeaderEntry } from '@ferry/stomp';
import { RouteTable } from '@ferry/router';
import type { ConsumeMessage } from 'amqplib';
import { defaultRegistry } from '../src/registry.js';

// amqplib's field-table codec is not among its package exports: loaded by its path
const require = createRequire(import.meta.url);
const amqplibCodec = require(join(dirname(require.resolve('amqplib')), 'lib', 'codec.js')) as {
  encodeTable(buffer: Buffer, value: unknown, offset: number): number;
  decodeFields(slice: Buffer): Record<string, unknown>;
};

/** A field table as a consumer receives it: encoded and decoded by amqplib. */
/**
 * The largest magnitude below which amqplib's codec sends a plain JS number with a fraction as a
 * double: from 2^50 on it takes the number for an integer and throws on the fraction
 * (lib/codec.js isFloatingPoint). A producer using amqplib cannot send such a header value at all,
 * so the generator keeps below it; Ferry's own writes name their types and are not affected.
 */
const AMQPLIB_FRACTION_LIMIT = 2 ** 50;

function overTheWire(table: Record<string, unknown>): Record<string, unknown> {
  const buf = Buffer.alloc(1 << 16);
  const size = amqplibCodec.encodeTable(buf, table, 0);
  return amqplibCodec.decodeFields(buf.subarray(4, size));
}

// ───────────────────────── one connector and frame per protocol ─────────────────────────

const PROTOCOLS = ['mqtt', 'amqp091', 'amqp10', 'stomp'] as const;
type P = (typeof PROTOCOLS)[number];

const CONNECTOR: Record<P, { name: string; type: string; from: Record<string, unknown>; to: Record<string, unknown> }> = {
  mqtt: { name: 'm', type: 'mqtt-listener', from: { topic: '#' }, to: { topic: '{address}' } },
  amqp091: { name: 'a', type: 'amqp091', from: { exchange: 'in', bindingKey: '#' }, to: { exchange: 'out', routingKey: '{address}' } },
  amqp10: { name: 'q', type: 'amqp10', from: { address: '#' }, to: { address: '{address}' } },
  // the stomp-listener's destinations start with /topic/ or /queue/ literally: `{1}` is every word `#` matched
  stomp: { name: 's', type: 'stomp-listener', from: { destination: '/topic/#' }, to: { destination: '/topic/{1}' } },
};

type Frame =
  | { readonly p: 'mqtt'; readonly topic: string; readonly payload: Buffer; readonly properties: PublishProperties }
  | { readonly p: 'amqp091'; readonly routingKey: string; readonly content: Buffer; readonly properties: Record<string, unknown> }
  | { readonly p: 'amqp10'; readonly address: string; readonly bytes: Buffer }
  | { readonly p: 'stomp'; readonly destination: string; readonly headers: readonly HeaderEntry[]; readonly body: Buffer };

const NOW = 1_700_000_000_000;

/** A's source mapping: the frame as Ferry's source of that protocol reads it. */
function frameIn(f: Frame): GatewayMessage {
  const c = CONNECTOR[f.p].name;
  switch (f.p) {
    case 'mqtt':
      return fromMqttPublish({ topic: f.topic, payload: f.payload, qos: 1, retain: false, properties: f.properties }, c, NOW);
    case 'amqp091':
      return fromDelivery(
        {
          content: f.content,
          fields: { deliveryTag: 1, redelivered: false, exchange: 'in', routingKey: f.routingKey, consumerTag: 't' },
          properties: f.properties,
        } as unknown as ConsumeMessage,
        { connector: c, queue: 'q', now: NOW },
      );
    case 'amqp10':
      return toGatewayMessage(f.bytes, { connector: c, address: f.address, presettled: false, format: 0, now: NOW });
    case 'stomp':
      return sendToMessage({ destination: f.destination, headers: f.headers, body: f.body, confirmed: true, sessionId: 's', login: undefined, version: '1.2' }, c);
  }
}

/** B's sink mapping: the frame Ferry's sink of that protocol writes for a dispatch. */
function frameOut(p: P, m: GatewayMessage, to: Record<string, unknown>): Frame {
  switch (p) {
    case 'mqtt': {
      const r = toMqttPublish(m, { topic: to['topic'] as string, qos: 1 }, 5, NOW);
      if (r.kind !== 'publish') throw new Error('expired');
      return { p, topic: r.publish.topic, payload: r.publish.payload, properties: r.publish.properties ?? {} };
    }
    case 'amqp091': {
      const plan = toPublish(m, { now: NOW, username: undefined, persistent: undefined, mandatory: false });
      if (plan.kind !== 'publish') throw new Error('expired');
      // amqplib types the headers as any; toPublish fills them with a field table
      const options: Omit<typeof plan.options, 'headers'> & { headers: Record<string, unknown> } = plan.options;
      const { headers, persistent: _p, mandatory: _m, ...rest } = options;
      return { p, routingKey: to['routingKey'] as string, content: m.body, properties: { ...rest, headers: overTheWire(headers) } };
    }
    case 'amqp10':
      return { p, address: to['address'] as string, bytes: toAmqp10(m, { to: to['address'] as string, now: NOW }).bytes };
    case 'stomp': {
      const b = messageToBroker(m, to['destination'] as string);
      return { p, destination: b.destination, headers: b.headers, body: b.body };
    }
  }
}

/** The fields a round trip must keep, read from A's frame as A's peer sees it. */
interface View {
  address: string;
  body: string;
  headers: [string, unknown][];
  correlation: unknown;
  replyTo: unknown;
  contentType: unknown;
}

/** Ferry's own bookkeeping headers: added on the way, not the application's. */
const OWN = new Set(['x-ferry-hops']);

function amqpValueView(v: AmqpValue): unknown {
  if (v.type === 'binary') return { binary: v.value.toString('hex') };
  if ('value' in v && typeof v.value === 'bigint') return { [v.type]: v.value.toString() };
  return 'value' in v ? { [v.type]: v.value } : v.type;
}

function view(f: Frame): View {
  switch (f.p) {
    case 'mqtt': {
      const up = f.properties.userProperties ?? {};
      return {
        address: f.topic,
        body: f.payload.toString('hex'),
        headers: Object.entries(up).filter(([k]) => !OWN.has(k)),
        correlation: f.properties.correlationData?.toString('hex'),
        replyTo: f.properties.responseTopic,
        contentType: f.properties.contentType,
      };
    }
    case 'amqp091': {
      const h = (f.properties['headers'] ?? {}) as Record<string, unknown>;
      const x = h['x-correlation-id'];
      const corr = f.properties['correlationId'] ?? x;
      return {
        address: f.routingKey,
        body: f.content.toString('hex'),
        headers: Object.entries(h)
          .filter(([k]) => !OWN.has(k) && k !== 'x-correlation-id')
          .map(([k, v]) => [k, Buffer.isBuffer(v) ? { bytes: v.toString('hex') } : v]),
        correlation: Buffer.isBuffer(corr) ? { binary: corr.toString('hex') } : corr,
        replyTo: f.properties['replyTo'],
        contentType: f.properties['contentType'],
      };
    }
    case 'amqp10': {
      const p = parseMessage(f.bytes);
      const body = p.body.kind === 'data' ? Buffer.concat(p.body.chunks) : Buffer.alloc(0);
      return {
        address: f.address,
        body: body.toString('hex'),
        headers: (p.applicationProperties ?? []).filter(([k]) => !OWN.has(k)).map(([k, v]) => [k, amqpValueView(v)]),
        correlation: p.properties?.correlationId === undefined ? undefined : amqpValueView(p.properties.correlationId),
        replyTo: p.properties?.replyTo,
        contentType: p.properties?.contentType,
      };
    }
    case 'stomp': {
      const mapped = new Set(['content-type', 'correlation-id', 'reply-to', 'ferry-correlation-encoding']);
      const get = (n: string): string | undefined => f.headers.find(([k]) => k === n)?.[1];
      return {
        address: f.destination,
        body: f.body.toString('hex'),
        headers: f.headers.filter(([k]) => !mapped.has(k) && !OWN.has(k)).map(([k, v]) => [k, v]),
        correlation: get('correlation-id') === undefined ? undefined : { value: get('correlation-id'), encoding: get('ferry-correlation-encoding') ?? null },
        replyTo: get('reply-to'),
        contentType: get('content-type'),
      };
    }
  }
}

// ─────────────────────────────────── generators ───────────────────────────────────

const word = (chars: string, min = 1, max = 6) => fc.string({ unit: fc.constantFrom(...chars.split('')), minLength: min, maxLength: max });
const ALNUM = 'abcxyz0189-_';
/** an MQTT topic level may hold '.'; a routing-key word may hold '/' */
const mqttTopic = fc.array(word(ALNUM + '.'), { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const routingKey = fc.array(word(ALNUM + '/'), { minLength: 1, maxLength: 4 }).map((w) => w.join('.'));
const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
const headerName = word('abcdefgh', 1, 6).map((n) => `h-${n}`);
const contentType = fc.option(fc.constantFrom('text/plain', 'application/x-ferry', 'application/json; charset=utf-8'), { nil: undefined });
const body = fc.uint8Array({ maxLength: 48 }).map((b) => Buffer.from(b));

/** Header values both A and B can hold exactly (typed only between two AMQP ends). */
function headerValue(a: P, b: P): fc.Arbitrary<unknown> {
  const typed = (a === 'amqp091' || a === 'amqp10') && (b === 'amqp091' || b === 'amqp10');
  if (!typed) return text;
  if (a === 'amqp091') return fc.oneof(text, fc.boolean(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d) && Math.abs(d) < AMQPLIB_FRACTION_LIMIT));
  // an AMQP 1.0 integer crossing AMQP 0-9-1 comes back in the smallest type that holds it
  // (amqplib does not tell its width, docs/mapping.md): strings, booleans and binary keep their type
  return fc.oneof(
    text.map((value): AmqpValue => ({ type: 'string', value })),
    fc.boolean().map((value): AmqpValue => ({ type: 'boolean', value })),
    fc.uint8Array({ maxLength: 8 }).map((value): AmqpValue => ({ type: 'binary', value: Buffer.from(value) })),
  );
}

function headers(a: P, b: P): fc.Arbitrary<[string, unknown][]> {
  return fc.uniqueArray(fc.tuple(headerName, headerValue(a, b)), { maxLength: 4, selector: ([k]) => k });
}

/** A correlation id as A's requester would send it. */
function correlation(a: P): fc.Arbitrary<string | Buffer | undefined> {
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Buffer.from(b));
  const str = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 });
  switch (a) {
    case 'mqtt':
      return fc.option(fc.oneof(bytes, fc.constant(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]))), { nil: undefined });
    case 'amqp091':
    case 'amqp10':
      return fc.option(fc.oneof(str, bytes), { nil: undefined });
    case 'stomp':
      return fc.option(str.filter((s) => !s.includes('\u0000')), { nil: undefined });
  }
}

function replyTo(a: P): fc.Arbitrary<string | undefined> {
  switch (a) {
    case 'mqtt':
      return fc.option(mqttTopic, { nil: undefined });
    case 'amqp091':
    case 'amqp10':
      return fc.option(routingKey, { nil: undefined });
    case 'stomp':
      return fc.option(fc.oneof(routingKey.map((k) => `/queue/${k}`), routingKey.map((k) => `/topic/${k}`)), { nil: undefined });
  }
}

/** A's first frame, as A's own client library would send it. */
function firstFrame(a: P, b: P): fc.Arbitrary<Frame> {
  return fc
    .record({ body, headers: headers(a, b), correlation: correlation(a), replyTo: replyTo(a), contentType, address: a === 'mqtt' ? mqttTopic : routingKey })
    .map((g): Frame => {
      switch (a) {
        case 'mqtt': {
          const properties: PublishProperties = {};
          if (g.headers.length > 0) properties.userProperties = Object.fromEntries(g.headers as [string, string][]);
          if (g.correlation !== undefined) properties.correlationData = g.correlation as Buffer;
          if (g.replyTo !== undefined) properties.responseTopic = g.replyTo;
          if (g.contentType !== undefined) properties.contentType = g.contentType;
          return { p: a, topic: g.address, payload: g.body, properties };
        }
        case 'amqp091': {
          const table: Record<string, unknown> = Object.fromEntries(g.headers);
          const properties: Record<string, unknown> = {};
          if (typeof g.correlation === 'string' && Buffer.byteLength(g.correlation) <= 255) properties['correlationId'] = g.correlation;
          else if (g.correlation !== undefined) table['x-correlation-id'] = g.correlation;
          if (g.replyTo !== undefined) properties['replyTo'] = g.replyTo;
          if (g.contentType !== undefined) properties['contentType'] = g.contentType;
          properties['headers'] = overTheWire(table);
          return { p: a, routingKey: g.address, content: g.body, properties };
        }
        case 'amqp10': {
          const corr: AmqpValue | undefined = g.correlation === undefined ? undefined : typeof g.correlation === 'string' ? { type: 'string', value: g.correlation } : { type: 'binary', value: g.correlation };
          const bytes = buildMessage({
            properties: {
              to: g.address,
              ...(g.replyTo === undefined ? {} : { replyTo: g.replyTo }),
              ...(corr === undefined ? {} : { correlationId: corr }),
              ...(g.contentType === undefined ? {} : { contentType: g.contentType }),
            },
            applicationProperties: g.headers.map(([k, v]) => [k, typeof v === 'string' ? { type: 'string', value: v } : (v as AmqpValue)] as const),
            body: { kind: 'data', bytes: g.body },
          });
          return { p: a, address: g.address, bytes };
        }
        case 'stomp': {
          const h: HeaderEntry[] = [];
          if (g.contentType !== undefined) h.push(['content-type', g.contentType]);
          if (g.correlation !== undefined) h.push(['correlation-id', g.correlation as string]);
          if (g.replyTo !== undefined) h.push(['reply-to', g.replyTo]);
          for (const [k, v] of g.headers) h.push([k, v as string]);
          return { p: a, destination: `/topic/${g.address}`, headers: h, body: g.body };
        }
      }
    });
}

// ───────────────────────────────── the route table ─────────────────────────────────

const registry = defaultRegistry();
const connectors = new Map(
  PROTOCOLS.map((p) => {
    const c = CONNECTOR[p];
    const definition = registry.get(c.type);
    if (definition === undefined) throw new Error(`no connector type ${c.type}`);
    return [c.name, { spec: { name: c.name, type: c.type, options: {} }, definition }] as const;
  }),
);
const routes: RouteSpec[] = [];
for (const a of PROTOCOLS) {
  for (const b of PROTOCOLS) {
    const from = connectors.get(CONNECTOR[a].name)!.definition;
    const to = connectors.get(CONNECTOR[b].name)!.definition;
    routes.push({
      name: `${a}-${b}`,
      from: { connector: CONNECTOR[a].name, fields: from.from!.parse(CONNECTOR[a].from) as Record<string, unknown> },
      to: [{ connector: CONNECTOR[b].name, fields: to.to!.parse(CONNECTOR[b].to) as Record<string, unknown> }],
      headers: { set: {}, remove: [] },
    });
  }
}
const table = RouteTable.compile(routes, connectors);

/** One hop through Ferry: source mapping, the route `from-to`, sink mapping. */
function hop(f: Frame, to: P): Frame {
  const m = frameIn(f);
  const [match] = table.match(CONNECTOR[f.p].name, m, [`${f.p}-${to}`]);
  if (match === undefined) throw new Error(`route ${f.p}-${to} did not take ${m.source.address}`);
  const plan = table.plan(m, match);
  if (plan.failed.length > 0) throw plan.failed[0]!.error;
  const d = plan.dispatches[0]!;
  return frameOut(to, d.message, d.to);
}

const PAIRS = PROTOCOLS.flatMap((a) => PROTOCOLS.filter((b) => b !== a).map((b) => [a, b] as const));

describe('request/reply round trips A → B → A (fast-check)', () => {
  it.each(PAIRS)('%s → %s → back: body, headers, correlation, reply-to and address come back identical', (a, b) => {
    fc.assert(
      fc.property(firstFrame(a, b), (f0) => {
        const f2 = hop(hop(f0, b), a);
        expect(view(f2)).toEqual(view(f0));
      }),
      { numRuns: 150 },
    );
  });

  it("request/reply example: MQTT 5 correlation data de ad be ef 00 80 through AMQP 0-9-1 comes back as those bytes, and sensors/v1.2/temp as that topic", () => {
    const correlationData = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80]);
    const f0: Frame = { p: 'mqtt', topic: 'sensors/v1.2/temp', payload: Buffer.from('21.5'), properties: { correlationData, responseTopic: 'dev/d1/resp' } };
    const mid = hop(f0, 'amqp091');
    expect(mid).toMatchObject({ routingKey: 'sensors.v1/2.temp', properties: { replyTo: 'dev.d1.resp', headers: { 'x-correlation-id': correlationData } } });
    const back = hop(mid, 'mqtt');
    expect(back).toMatchObject({ topic: 'sensors/v1.2/temp', properties: { correlationData, responseTopic: 'dev/d1/resp' } });
  });

  it('a message that is not an MQTT frame still needs a topic: an AMQP word holding "+" cannot become one (a failure, not a mis-route)', () => {
    const m = createMessage({ body: Buffer.alloc(0), headers: new Map<string, HeaderValue>(), source: { connector: 'a', protocol: 'amqp091' satisfies Protocol, address: 'a.b+c' } });
    const [match] = table.match('a', m, ['amqp091-mqtt']);
    const plan = table.plan(m, match!);
    expect(plan.failed.map((f) => f.error.code)).toEqual(['TEMPLATE_INVALID']);
  });
});
