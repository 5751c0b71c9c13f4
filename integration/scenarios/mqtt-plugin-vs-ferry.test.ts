/**
 * Scenario 4: the same MQTT 5 message into RabbitMQ two ways, consumed by amqplib,
 * compared field by field:
 *   (a) through RabbitMQ's own MQTT plugin (3.10: MQTT 3.1.1 only, publishes to amq.topic with
 *       `/` → `.`). An MQTT 5 CONNECT is not even answered there, so the closest 3.1.1
 *       equivalent is sent: same topic, payload, QoS and retain flag, and no properties;
 *   (b) through Ferry: device → mqtt-listener → amqp091 sink.
 * Ferry's column must keep every field of the message. The observed table is what
 * docs/mapping.md's section "MQTT → AMQP 0-9-1: RabbitMQ's MQTT plugin vs Ferry" shows; this
 * test fails when the two differ (FERRY_WRITE_DOCS=1 rewrites the section from what it saw).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { brokerPorts, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, runId, type Plain } from './helpers.js';

jest.setTimeout(60_000);

const DOC = fileURLToPath(new URL('../../docs/mapping.md', import.meta.url));
const SECTION = '## MQTT → AMQP 0-9-1: RabbitMQ\'s MQTT plugin vs Ferry';

const run = runId('s4');
let vhost: string;
let gateway: Gateway;
let listenerPort: number;
let plain: Plain;
const clients: MqttClient[] = [];

const topic = `${run}/sensor/kitchen`;
const payload = Buffer.from([0x00, 0x01, 0x00, 0xff, 0x7b, 0x22, 0x74, 0x22, 0x3a, 0x32, 0x31, 0x7d, 0x00, 0x0d, 0x0a, 0x00]);
const correlation = Buffer.from([0x72, 0x65, 0x71, 0x2d, 0x34, 0x32, 0x00, 0x2a]); // "req-42\0*"
const EXPIRY_S = 3600;
const properties: NonNullable<IClientPublishOptions['properties']> = {
  userProperties: { unit: 'celsius', site: 'lisbon', tag: ['a', 'b'] },
  contentType: 'application/vnd.ferry.reading',
  correlationData: correlation,
  responseTopic: `${run}/replies/kitchen`,
  messageExpiryInterval: EXPIRY_S,
};

beforeAll(async () => {
  vhost = await createVhost('scen-compare');
  listenerPort = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: ferry-mqtt, type: topic } ]
      queues: [ { name: via-ferry } ]
      bindings: [ { queue: via-ferry, source: ferry-mqtt, bindingKey: "#" } ]
routes:
  - name: sensors
    from: { connector: devices, topic: "${run}/sensor/#" }
    to: { connector: rabbit, exchange: ferry-mqtt, routingKey: "{address}" }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
  // RabbitMQ's plugin publishes to amq.topic of the vhost named in the user name ("vhost:user")
  await plain.ch.assertQueue('via-plugin', { durable: false });
  await plain.ch.bindQueue('via-plugin', 'amq.topic', `${run}.sensor.#`);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

/** What an MQTT 5 CONNECT gets from RabbitMQ 3.10's plugin. */
async function tryMqtt5AtPlugin(): Promise<string> {
  const c = mqtt.connect(`mqtt://127.0.0.1:${brokerPorts().rabbitMqtt}`, {
    protocolVersion: 5,
    username: `${vhost}:guest`,
    password: 'guest',
    clientId: `${run}-v5`,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const packets: string[] = [];
  c.on('packetreceive', (p) => packets.push(p.cmd));
  c.on('error', () => undefined);
  const outcome = await new Promise<string>((resolve) => {
    c.once('connect', () => resolve('CONNACK 0 (accepted)'));
    c.once('close', () => resolve(packets.length === 0 ? 'connection closed without a CONNACK' : `closed after ${packets.join(',')}`));
  });
  c.end(true);
  return outcome;
}

type Row = readonly [field: string, plugin: string, ferry: string];

const show = (v: unknown): string => (v === undefined ? '— (absent)' : JSON.stringify(v));
const hex = (b: Buffer): string => b.toString('hex').replace(/(..)/g, '$1 ').trim();

/** The AMQP 0-9-1 fields of one delivery, as table cells. */
function cells(m: ConsumeMessage): Record<string, string> {
  const p = m.properties;
  const headers = { ...(p.headers ?? {}) } as Record<string, unknown>;
  if (typeof headers['x-ferry-publish-id'] === 'string') headers['x-ferry-publish-id'] = '<unique id>';
  const pick = (names: string[]): Record<string, unknown> => Object.fromEntries(names.filter((n) => n in headers).map((n) => [n, headers[n]]));
  const user = pick(['unit', 'site', 'tag']);
  const others = Object.fromEntries(Object.entries(headers).filter(([k]) => !['unit', 'site', 'tag'].includes(k)));
  const exp = p.expiration === undefined ? undefined : String(p.expiration);
  return {
    body: m.content.equals(payload) ? `${m.content.length} bytes, identical (${hex(m.content)})` : `DIFFERENT: ${hex(m.content)}`,
    exchange: `exchange ${show(m.fields.exchange)}, routing key ${show(m.fields.routingKey)}`,
    qos: `delivery-mode ${show(p.deliveryMode)}${'x-mqtt-publish-qos' in headers ? `, header x-mqtt-publish-qos ${show(headers['x-mqtt-publish-qos'])}` : ''}`,
    retain: 'x-mqtt-retain' in headers ? `header x-mqtt-retain ${show(headers['x-mqtt-retain'])}` : 'not carried (no header)',
    user: Object.keys(user).length === 0 ? '— (absent)' : `headers ${JSON.stringify(user)}`,
    contentType: `content-type ${show(p.contentType)}`,
    correlation: `correlation-id ${show(p.correlationId)}`,
    responseTopic: `reply-to ${show(p.replyTo)}`,
    expiry: exp === undefined ? '— (absent)' : `expiration ${show(exp)} (ms left when Ferry published)`,
    others: Object.keys(others).length === 0 ? '—' : JSON.stringify(others),
    ids: `message-id ${show(p.messageId)}, timestamp ${show(p.timestamp)}, type ${show(p.type)}, app-id ${show(p.appId)}`,
  };
}

function renderSection(rows: readonly Row[], v5AtPlugin: string): string {
  const lines = [
    SECTION,
    '',
    'One MQTT 5 PUBLISH (QoS 1, RETAIN 0, user properties, content type, correlation data, response',
    `topic, message expiry ${EXPIRY_S} s, a payload with NUL bytes) sent into RabbitMQ 3.10.8 two ways and read`,
    'back with amqplib from a queue bound to the exchange each one publishes to. RabbitMQ 3.10\'s MQTT plugin',
    `speaks MQTT 3.1.1 only (an MQTT 5 CONNECT: ${v5AtPlugin}), so its column is the closest`,
    '3.1.1 equivalent: the same topic, payload, QoS and retain flag, and no properties, which 3.1.1 cannot',
    'carry. Ferry\'s column is device (MQTT 5) → `mqtt-listener` → `amqp091` sink with',
    '`routingKey: "{address}"`. Every cell is what integration/scenarios/mqtt-plugin-vs-ferry.test.ts observed;',
    'the test fails when this table and what it sees differ (`FERRY_WRITE_DOCS=1` rewrites it).',
    '',
    '| MQTT 5 field (sent) | RabbitMQ MQTT plugin (3.10) | Ferry |',
    '| --- | --- | --- |',
    ...rows.map(([f, a, b]) => `| ${f} | ${a.replace(/\|/g, '\\|')} | ${b.replace(/\|/g, '\\|')} |`),
    '',
    'Notes:',
    '- Correlation data goes into `correlation-id` (a shortstr) as its UTF-8 text when it is valid UTF-8,',
    '  NUL bytes included; binary correlation data that is not UTF-8 goes as base64 (docs/mapping/amqp091.md).',
    '- `expiration` is the time left when Ferry published (MQTT 5 §3.3.2.3.3: the interval minus the time',
    '  the message waited), so it is at most the interval × 1000.',
    '- Ferry adds `x-ferry-publish-id` to each mandatory publish so a basic.return can be matched to its',
    '  publish; an `amqp091` source drops it again.',
    '- MQTT QoS 1 becomes delivery-mode 2 (persistent) in both; neither keeps the RETAIN flag as a header.',
    '- The plugin also names the QoS and the DUP flag in headers (`x-mqtt-publish-qos`, `x-mqtt-dup`). Ferry',
    '  does not: its QoS shows only as the delivery mode (QoS 0 → 1, QoS 1 and 2 → 2), so a consumer written',
    '  against the plugin\'s `x-mqtt-publish-qos` finds no such header. No message data is lost by that.',
    '- docker-compose.yml runs `rabbitmq:3.13`, whose MQTT plugin speaks MQTT 5 as well and so fills more',
    '  of its column; this table is what the RabbitMQ the test suite runs (Debian\'s 3.10.8) does.',
    '',
  ];
  return lines.join('\n');
}

/** The section without the digits of values that change run to run (the expiration left, run ids). */
function normalize(section: string): string {
  return section.replace(/expiration "\d+"/g, 'expiration "<n>"').replace(/s4[0-9a-z]+/g, '<run>');
}

it('keeps every field of an MQTT 5 message where the RabbitMQ plugin (3.1.1) cannot carry them', async () => {
  const viaPlugin = await collectQueue(plain.ch, 'via-plugin');
  const viaFerry = await collectQueue(plain.ch, 'via-ferry');
  const v5AtPlugin = await tryMqtt5AtPlugin();
  expect(v5AtPlugin).toBe('connection closed without a CONNACK');

  // (a) the plugin: MQTT 3.1.1, the only version it speaks; no properties exist in 3.1.1
  const old = await device(brokerPorts().rabbitMqtt, `${run}-311`, { protocolVersion: 4, username: `${vhost}:guest`, password: 'guest' });
  clients.push(old);
  await old.publishAsync(topic, payload, { qos: 1, retain: false });
  // (b) Ferry: the MQTT 5 message with every property
  const dev = await device(listenerPort, `${run}-v5`);
  clients.push(dev);
  await dev.publishAsync(topic, payload, { qos: 1, retain: false, properties });
  await waitFor(() => viaPlugin.length === 1 && viaFerry.length === 1, 'one delivery from each path');

  const a = viaPlugin[0]!;
  const b = viaFerry[0]!;
  // Ferry keeps every field, compared with what was sent
  expect(b.content.equals(payload)).toBe(true);
  expect(b.fields.routingKey).toBe(topic.replace(/\//g, '.'));
  expect(b.properties.deliveryMode).toBe(2);
  const { 'x-ferry-publish-id': tag, 'x-ferry-hops': hops, ...userHeaders } = b.properties.headers ?? {};
  expect(typeof tag).toBe('string');
  expect(hops).toBe(1);
  expect(userHeaders).toEqual(properties.userProperties);
  expect(b.properties.contentType).toBe(properties.contentType);
  expect(Buffer.from(String(b.properties.correlationId), 'utf8').equals(correlation)).toBe(true);
  // the response topic as a routing key, '/' and '.' swapped (docs/mapping.md "Addresses"), so a reply to it comes back
  expect(b.properties.replyTo).toBe(`${run}.replies.kitchen`);
  expect(Number(b.properties.expiration)).toBeLessThanOrEqual(EXPIRY_S * 1000);
  expect(Number(b.properties.expiration)).toBeGreaterThan(EXPIRY_S * 1000 - 60_000);
  // the plugin: the same bytes and routing, none of the MQTT 5 properties (3.1.1 has none)
  expect(a.content.equals(payload)).toBe(true);
  expect(a.fields).toMatchObject({ exchange: 'amq.topic', routingKey: topic.replace(/\//g, '.') });
  expect([a.properties.contentType, a.properties.correlationId, a.properties.replyTo, a.properties.expiration]).toEqual([undefined, undefined, undefined, undefined]);

  const A = cells(a);
  const B = cells(b);
  const rows: Row[] = [
    ['payload (16 bytes, NULs, 0xff, CR LF)', A['body']!, B['body']!],
    [`topic \`<run>/sensor/kitchen\``, A['exchange']!, B['exchange']!],
    ['QoS 1', A['qos']!, B['qos']!],
    ['RETAIN 0', A['retain']!, B['retain']!],
    ['User Property unit=celsius, site=lisbon, tag=a, tag=b', `${A['user']!} (3.1.1 cannot send them)`, B['user']!],
    ['Content Type', `${A['contentType']!} (3.1.1 cannot send it)`, B['contentType']!],
    ['Correlation Data `72 65 71 2d 34 32 00 2a` ("req-42\\0*")', `${A['correlation']!} (3.1.1 cannot send it)`, B['correlation']!],
    ['Response Topic', `${A['responseTopic']!} (3.1.1 cannot send it)`, B['responseTopic']!],
    [`Message Expiry Interval ${EXPIRY_S} s`, `${A['expiry']!} (3.1.1 cannot send it)`, B['expiry']!],
    ['other headers added', A['others']!, B['others']!],
    ['message-id, timestamp, type, app-id', A['ids']!, B['ids']!],
  ];
  const section = renderSection(rows, v5AtPlugin).replace(new RegExp(run, 'g'), '<run>');
  console.log(section);

  if (process.env.FERRY_WRITE_DOCS === '1') {
    let doc = await readFile(DOC, 'utf8').catch(() => '# Mapping tables\n\nPer-protocol tables: [docs/mapping/](mapping/).\n\n');
    const start = doc.indexOf(SECTION);
    if (start < 0) doc = `${doc.trimEnd()}\n\n${section}`;
    else {
      const next = doc.indexOf('\n## ', start + SECTION.length);
      doc = doc.slice(0, start) + section + (next < 0 ? '' : doc.slice(next + 1));
    }
    await writeFile(DOC, doc);
  }
  const doc = await readFile(DOC, 'utf8');
  const start = doc.indexOf(SECTION);
  expect(start).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + SECTION.length);
  const documented = doc.slice(start, next < 0 ? undefined : next + 1);
  expect(normalize(documented).trimEnd()).toBe(normalize(section).trimEnd());
});
