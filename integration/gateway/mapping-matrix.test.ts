/**
 * Ferry's promise, checked pair by pair: "carry every header and property across every protocol
 * pair by a documented mapping". One Gateway, four ends, 16 routes (every ordered pair,
 * same-protocol pairs included):
 *   - MQTT 5: mqtt.js devices and a subscriber on Ferry's `mqtt-listener`;
 *   - STOMP 1.2: @stomp/stompjs on Ferry's `stomp-listener`;
 *   - AMQP 1.0: rhea senders and receivers on Ferry's `amqp10-listener`;
 *   - AMQP 0-9-1: amqplib against the test RabbitMQ; Ferry's `amqp091` connector consumes a
 *     queue per route as a source and publishes to a topic exchange as the sink.
 * Each source sends one message per sink (./matrix/sent.ts); each sink's client reads what
 * arrived (./matrix/observed.ts), and every field is compared with what docs/mapping.md and
 * docs/mapping/*.md say it must be (./matrix/expected.ts). The observed table is docs/mapping.md's
 * section "Every pair, observed"; the test fails when they differ (FERRY_WRITE_DOCS=1 rewrites it).
 */
import type { Socket } from 'node:net';
import type { IMessage } from '@stomp/stompjs';
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import mqtt, { type MqttClient } from 'mqtt';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import type { Gateway } from '@ferry/gateway';
import { Tally, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { plainClient, runId, type Plain } from '../scenarios/helpers.js';
import { deactivate, stompjs, type StompJsClient } from '../stomp-listener/helpers.js';
import { captureRaw, rawMessage, readAmqp10 } from './matrix/amqp10-read.js';
import { Addresses, CONNECTOR, ENDS, EXCHANGE, PAIRS, SINK_QUEUE, pairId, type End, type Pair } from './matrix/ends.js';
import { differences, expected } from './matrix/expected.js';
import { fromAmqp091, fromAmqp10, fromMqtt, fromStomp, type Observed } from './matrix/observed.js';
import { BODY, CONTENT_TYPE, EXPIRY_MS, XK, XN, correlation, messageId, priority, replyTo } from './matrix/sent.js';
import { documentedSection, renderSection, writeSection } from './matrix/table.js';

jest.setTimeout(30_000);
captureRaw();

const run = runId('mx');
const at = new Addresses(run);

let vhost: string;
let gateway: Gateway;
let plain: Plain;
const ports = { mqtt: 0, stomp: 0, amqp10: 0 };
const mqttClients: MqttClient[] = [];
const stompClients: StompJsClient[] = [];
const rheaConnections: rhea.Connection[] = [];

function routeFile(): string {
  const queues = [...ENDS.map((sink) => `{ name: "${at.source({ source: 'amqp091', sink })}" }`), `{ name: ${SINK_QUEUE} }`];
  return `
gateway: { id: ${run} }
connectors:
  ${CONNECTOR.mqtt}: { type: mqtt-listener, port: ${ports.mqtt}, host: 127.0.0.1, anonymous: true }
  ${CONNECTOR.stomp}: { type: stomp-listener, port: ${ports.stomp}, host: 127.0.0.1, anonymous: true }
  ${CONNECTOR.amqp10}: { type: amqp10-listener, port: ${ports.amqp10}, host: 127.0.0.1, anonymous: true }
  ${CONNECTOR.amqp091}:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: ${EXCHANGE}, type: topic } ]
      queues: [ ${queues.join(', ')} ]
      bindings: [ { queue: ${SINK_QUEUE}, source: ${EXCHANGE}, bindingKey: "out.*" } ]
routes:
${PAIRS.map((p) => at.route(p)).join('\n')}
`;
}

async function mqttClient(id: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, { protocolVersion: 5, clientId: `${run}-${id}`, reconnectPeriod: 0 });
  (c.stream as unknown as Socket).setNoDelay(true);
  c.on('error', () => undefined);
  mqttClients.push(c);
  return c;
}

async function rheaConnection(): Promise<rhea.Connection> {
  const container = rhea.create_container({ id: `${run}-rhea` });
  const conn = container.connect({ host: '127.0.0.1', port: ports.amqp10, reconnect: false, tcp_no_delay: true } as rhea.ConnectionOptions);
  conn.on('error', () => undefined);
  rheaConnections.push(conn);
  await new Promise<void>((resolve, reject) => {
    conn.once('connection_open', () => resolve());
    conn.once('disconnected', () => reject(new Error('AMQP 1.0 client could not connect')));
  });
  return conn;
}

beforeAll(async () => {
  vhost = await createVhost('mapping-matrix');
  ports.mqtt = await freePort();
  ports.stomp = await freePort();
  ports.amqp10 = await freePort();
  gateway = await startGateway(routeFile());
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
  await connectClients();
});

afterAll(async () => {
  await Promise.all(mqttClients.map((c) => c.endAsync(true).catch(() => undefined)));
  await deactivate(...stompClients).catch(() => undefined);
  for (const c of rheaConnections) if (c.is_open()) c.close();
  await ifAssigned(plain)?.close();
  await ifAssigned(gateway)?.stop(2000);
  if (vhost) await deleteVhost(vhost).catch(() => undefined);
});

/** The end named by the last part of an address (`…/out/<source>`, `….out.<source>`), or undefined. */
function endOf(address: string | undefined): End | undefined {
  const last = address?.split(/[./]/).pop();
  return ENDS.find((e) => e === last);
}

/** Everything any sink's client got, in arrival order: the pair its address names, and what it saw. */
interface Arrival {
  readonly id: string;
  readonly observed: Observed;
}
const arrivals: Arrival[] = [];
const arrive = (source: End | undefined, sink: End, observed: Observed): void => {
  arrivals.push({ id: source === undefined ? `?>${sink}` : pairId({ source, sink }), observed });
};

/** The four sources' clients. */
interface Sources {
  readonly device: MqttClient;
  readonly stomp: StompJsClient;
  readonly amqp10: ReadonlyMap<End, rhea.Sender>;
}
let sources: Sources;
let stompSub: StompJsClient;

/** The four sinks' clients listen (before anything is sent), then the sources' clients connect. */
async function connectClients(): Promise<void> {
  const mqttSub = await mqttClient('sub');
  mqttSub.on('message', (topic, _payload, packet) => arrive(endOf(topic), 'mqtt', fromMqtt(packet, run, Date.now())));
  await mqttSub.subscribeAsync(`${run}/out/+`, { qos: 1 });

  stompSub = await stompjs(ports.stomp, '1.2');
  stompClients.push(stompSub);
  await Promise.all(
    ENDS.map(
      (source) =>
        new Promise<void>((resolve) => {
          // SUBSCRIBE has no reply of its own: its RECEIPT says it was processed
          const receipt = `sub-${source}`;
          stompSub.client.watchForReceipt(receipt, () => resolve());
          stompSub.client.subscribe(at.sink({ source, sink: 'stomp' }), (m: IMessage) => arrive(endOf(m.headers['destination']), 'stomp', fromStomp(m, run, Date.now())), {
            id: `s-${source}`,
            receipt,
          });
        }),
    ),
  );

  const conn = await rheaConnection();
  await Promise.all(
    ENDS.map(
      (source) =>
        new Promise<void>((resolve) => {
          const r = conn.open_receiver({ source: { address: at.sink({ source, sink: 'amqp10' }) } });
          r.on('message', (ctx: rhea.EventContext) => {
            const raw = ctx.message === undefined ? undefined : rawMessage(ctx.message);
            if (raw === undefined) throw new Error('an AMQP 1.0 message without its bytes');
            arrive(source, 'amqp10', fromAmqp10(readAmqp10(raw), run, Date.now()));
          });
          r.once('receiver_open', () => resolve());
        }),
    ),
  );

  await plain.ch.consume(SINK_QUEUE, (m: ConsumeMessage | null) => {
    if (m === null) return;
    plain.ch.ack(m);
    arrive(endOf(m.fields.routingKey), 'amqp091', fromAmqp091(m, run, Date.now()));
  });

  const device = await mqttClient('device');
  const stomp = await stompjs(ports.stomp, '1.2');
  stompClients.push(stomp);
  const amqp10 = new Map<End, rhea.Sender>();
  for (const sink of ENDS) {
    const s = conn.open_sender({ target: { address: at.source({ source: 'amqp10', sink }) } });
    await new Promise<void>((resolve, reject) => {
      s.once('sendable', () => resolve());
      s.once('sender_close', () => reject(new Error(`sender refused: ${JSON.stringify(s.error)}`)));
    });
    amqp10.set(sink, s);
  }
  sources = { device, stomp, amqp10 };
}

/** A STOMP SEND with a receipt; resolves with 'accepted' on the RECEIPT (Ferry confirms a SEND only when every sink took it). */
function stompSend(p: Pair, expires: number, body: Buffer = BODY): Promise<string> {
  const receipt = `r-${pairId(p)}-${expires}`;
  return new Promise((resolve) => {
    sources.stomp.client.watchForReceipt(receipt, () => resolve('accepted'));
    sources.stomp.client.publish({
      destination: at.source(p),
      binaryBody: new Uint8Array(body),
      headers: {
        receipt,
        'content-type': CONTENT_TYPE,
        'correlation-id': correlation('stomp'),
        'reply-to': replyTo('stomp'),
        'message-id': messageId('stomp')!,
        expires: String(expires),
        priority: String(priority('stomp')),
        'x-k': XK,
        'x-n': String(XN),
      },
    });
  });
}

/** Send the pair's message from its source; resolves with how the source's peer was answered. */
function send(p: Pair, stompExpires: number, body: Buffer = BODY): Promise<string> {
  switch (p.source) {
    case 'mqtt':
      return sources.device
        .publishAsync(at.source(p), body, {
          qos: 1,
          properties: {
            userProperties: { 'x-k': XK, 'x-n': String(XN) },
            contentType: CONTENT_TYPE,
            correlationData: Buffer.from(correlation('mqtt'), 'utf8'),
            responseTopic: replyTo('mqtt'),
            messageExpiryInterval: EXPIRY_MS / 1000,
          },
        })
        .then(
          () => 'accepted', // the PUBACK: mqtt.js rejects a PUBACK with a failure reason code
          (e: unknown) => `error ${String(e)}`,
        );
    case 'stomp':
      return stompSend(p, stompExpires, body);
    case 'amqp10': {
      const s = sources.amqp10.get(p.sink)!;
      const d = s.send({
        message_id: messageId('amqp10'),
        correlation_id: correlation('amqp10'),
        reply_to: replyTo('amqp10'),
        content_type: CONTENT_TYPE,
        ttl: EXPIRY_MS,
        priority: priority('amqp10'),
        durable: true,
        application_properties: { 'x-k': XK, 'x-n': rhea.types.wrap_int(XN) },
        body: dataSection(body),
      });
      return new Promise((resolve) => {
        for (const outcome of ['accepted', 'rejected', 'released', 'modified']) {
          s.on(outcome, (ctx: rhea.EventContext) => {
            if (ctx.delivery?.id === d.id) resolve(outcome);
          });
        }
      });
    }
    case 'amqp091':
      return new Promise((resolve) => {
        plain.confirm.publish(
          '',
          at.source(p),
          body,
          {
            contentType: CONTENT_TYPE,
            correlationId: correlation('amqp091'),
            replyTo: replyTo('amqp091'),
            messageId: messageId('amqp091'),
            expiration: String(EXPIRY_MS),
            priority: priority('amqp091'),
            persistent: true,
            headers: { 'x-k': XK, 'x-n': XN },
          },
          (err) => resolve(err ? `nacked ${String(err)}` : 'accepted'),
        );
      });
  }
}

/** The body of a message sent behind the counted ones, not counted itself. */
const LAST = Buffer.from('last');
const isLast = (a: Arrival): boolean => a.observed.body.equals(LAST);

/**
 * Sends LAST on each of `pairs` and waits until `arrived` says every one came: each pair's
 * message takes one path (its source client's connection, its route, its sink's connection or
 * queue), which keeps order, so anything sent on it before would have come first.
 */
async function last(pairs: readonly Pair[], arrived: () => boolean): Promise<void> {
  const outcomes = await Promise.all(pairs.map((p) => send(p, Date.now() + EXPIRY_MS, LAST)));
  expect(outcomes.filter((o) => o !== 'accepted')).toEqual([]);
  await waitFor(arrived, 'the last message of every pair, behind the counted ones');
}

it('carries every field of one message across all 16 protocol pairs as docs/mapping.md says', async () => {
  const started = Date.now();
  const tally = new Tally();
  const sentAfter = new Map<string, number>();
  const stompExpires = new Map<string, number>();
  const settled = new Map<string, string>();
  for (const p of PAIRS) {
    const id = pairId(p);
    tally.sent(id);
    sentAfter.set(id, Date.now());
    stompExpires.set(id, Date.now() + EXPIRY_MS);
    void send(p, stompExpires.get(id)!).then((outcome) => settled.set(id, outcome));
  }
  /** the first arrival of each pair; every arrival is counted */
  const seen = new Map<string, Observed>();
  const lasts = new Set<string>();
  const count = (): void => {
    for (const a of arrivals.splice(0)) {
      if (isLast(a)) {
        lasts.add(a.id);
        continue;
      }
      tally.received(a.id);
      if (!seen.has(a.id)) seen.set(a.id, a.observed);
    }
  };
  const done = (): boolean => {
    count();
    return tally.complete && settled.size === PAIRS.length;
  };
  await waitFor(done, 'all 16 messages at their sinks, and confirmed to their senders', 15_000).catch((e: unknown) => {
    console.log(`${tally.summary('matrix')}; confirmed: ${[...settled].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    throw e;
  });
  await last(PAIRS, () => {
    count();
    return lasts.size === PAIRS.length;
  });

  // ---- 16 sent, 16 received, none lost, none duplicated, each confirmed to its sender ----
  console.log(tally.summary('mapping matrix (16 pairs)'));
  expect(tally.counts).toMatchObject({ sent: 16, received: 16, unique: 16, duplicated: 0, lost: 0, unexpected: 0 });
  expect([...settled.entries()].filter(([, v]) => v !== 'accepted')).toEqual([]);
  expect([...sources.stomp.errors, ...stompSub.errors].map((f) => f.headers['message'])).toEqual([]);

  // ---- every field as documented ----
  const observed = PAIRS.map((p) => seen.get(pairId(p))!);
  const mismatches = PAIRS.flatMap((p, i) => {
    const o = observed[i]!;
    const clock = { sentAfter: sentAfter.get(pairId(p))!, arrived: o.at, stompExpires: stompExpires.get(pairId(p))! };
    return differences(pairId(p), o, expected(p, clock), BODY);
  });

  // ---- the observed table, and docs/mapping.md's copy of it ----
  const section = renderSection(PAIRS, observed);
  console.log(`${section}\n(${Date.now() - started} ms from the first send to the last check)`);
  expect(mismatches).toEqual([]);
  if (process.env.FERRY_WRITE_DOCS === '1') await writeSection(section);
  expect((await documentedSection()).trimEnd()).toBe(section.trimEnd());
});

it('a message that expired before it left Ferry is dropped by every sink, never sent (docs/mapping.md, rules)', async () => {
  // Only a STOMP source can hand Ferry an expiry that has already passed (`expires` is absolute).
  arrivals.splice(0);
  const expires = Date.now() - 60_000;
  const pairs = ENDS.map((sink) => ({ source: 'stomp', sink }) as const);
  const outcomes = await Promise.all(pairs.map((p) => stompSend(p, expires)));
  // dropping an expired message is a success: every SEND gets its RECEIPT
  expect(outcomes).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
  await last(pairs, () => arrivals.filter(isLast).length === pairs.length);
  expect([...sources.stomp.errors, ...stompSub.errors].map((f) => f.headers['message'])).toEqual([]);
  // MQTT (§3.3.2.3.3), AMQP 0-9-1, the STOMP listener and the AMQP 1.0 listener (§3.2.1) drop it
  expect(arrivals.filter((a) => !isLast(a)).map((a) => a.id)).toEqual([]);
});
