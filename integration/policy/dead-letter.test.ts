/**
 * Poison messages through a real gateway: a route from the mqtt-listener to a RabbitMQ
 * topic exchange, routed by a header, with a dead-letter destination (a RabbitMQ queue).
 *  - a message without the header its routing key needs (template missing value) and
 *  - a message whose routing key no queue is bound to (unroutable, basic.return)
 * land in the dead-letter queue with the x-ferry-* reason headers, body untouched, and the
 * device gets a successful PUBACK (the message is safely somewhere). The messages around them
 * flow on to their queue. Every message is counted.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { ConsumeMessage } from 'amqplib';
import type { Gateway } from '@ferry/gateway';
import { captureLogger, createVhost, deleteVhost, freePort, ifAssigned, rabbitUrl, Tally, waitFor } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishWindowed, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(60_000);

const run = runId('dl');
let vhost: string;
let gateway: Gateway;
let plain: Plain;
let listenerPort: number;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('policy-dl');
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
      exchanges: [ { name: commands, type: topic } ]
      queues: [ { name: good }, { name: dead } ]
      bindings: [ { queue: good, source: commands, bindingKey: "cmd.known" } ]
routes:
  - name: poison
    from: { connector: devices, topic: "${run}/in/+" }
    to: { connector: rabbit, exchange: commands, routingKey: "cmd.{header.device}" }
    onFailure:
      retry: { maxAttempts: 3, initialMs: 20, maxMs: 100 }
      deadLetter: { connector: rabbit, exchange: "", routingKey: dead }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.connectorStates()['rabbit'] === 'up', 'RabbitMQ connected');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

function header(m: ConsumeMessage, name: string): unknown {
  const v: unknown = m.properties.headers?.[name];
  return Buffer.isBuffer(v) ? v.toString() : v;
}

it('a missing template value and an unroutable message are dead-lettered with their reason; the stream goes on; all counted', async () => {
  const N = 300;
  const kind = (i: number): 'missing' | 'unroutable' | 'good' => (i % 10 === 3 ? 'missing' : i % 10 === 7 ? 'unroutable' : 'good');
  const good = await collectQueue(plain.ch, 'good');
  const dead = await collectQueue(plain.ch, 'dead');
  const dev = await device(listenerPort, `${run}-dev`);
  clients.push(dev);
  const tally = new Tally();
  const refused: string[] = [];
  dev.on('packetreceive', (p) => {
    if (p.cmd === 'puback' && (p.reasonCode ?? 0) >= 0x80) refused.push(String(p.messageId));
  });

  await publishWindowed(dev, N, 50, (i) => {
    const id = `m${i}`;
    tally.sent(id);
    const k = kind(i);
    const userProperties: Record<string, string> = { n: id };
    if (k === 'good') userProperties['device'] = 'known';
    if (k === 'unroutable') userProperties['device'] = 'ghost';
    return { topic: `${run}/in/${k}`, payload: Buffer.from(id), opts: { properties: { userProperties } } };
  });
  // every publish got a successful PUBACK: publishAsync resolved; none refused
  expect(refused).toEqual([]);

  const expectedDead = Array.from({ length: N }, (_, i) => i).filter((i) => kind(i) !== 'good').length;
  await waitFor(() => good.length >= N - expectedDead && dead.length >= expectedDead, 'good and dead queues filled', 20_000);
  // one more of each kind after every PUBACK, not counted: Ferry publishes to RabbitMQ on one
  // channel, in order, so a copy of an earlier message is in its queue before these
  for (const [k, device] of [['good', 'known'], ['unroutable', 'ghost']] as const) {
    await dev.publishAsync(`${run}/in/${k}`, Buffer.from('fence'), { qos: 1, properties: { userProperties: { n: 'fence', device } } });
  }
  await waitFor(() => [good, dead].every((q) => q.some((m) => m.content.toString() === 'fence')), 'the fences in both queues', 20_000);
  for (const q of [good, dead]) q.splice(q.findIndex((m) => m.content.toString() === 'fence'), 1);
  for (const m of [...good, ...dead]) tally.received(m.content.toString());
  console.log(tally.summary(`poison: ${N} QoS 1, ${expectedDead} dead-lettered`));
  expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
  expect(good).toHaveLength(N - expectedDead);
  expect(dead).toHaveLength(expectedDead);
  for (const m of good) expect(kind(Number(m.content.toString().slice(1)))).toBe('good');

  const missing = dead.find((m) => kind(Number(m.content.toString().slice(1))) === 'missing');
  const ghost = dead.find((m) => kind(Number(m.content.toString().slice(1))) === 'unroutable');
  if (missing === undefined || ghost === undefined) throw new Error('both kinds of poison expected in the dead-letter queue');
  const show = (m: ConsumeMessage): Record<string, unknown> =>
    Object.fromEntries(Object.keys(m.properties.headers ?? {}).filter((k) => k.startsWith('x-ferry-') || k === 'n' || k === 'device').map((k) => [k, header(m, k)]));
  console.log('dead letter (missing header):', JSON.stringify(show(missing)));
  console.log('dead letter (unroutable):', JSON.stringify(show(ghost)));

  expect(String(header(missing, 'x-ferry-dead-letter-reason'))).toMatch(/^TEMPLATE_MISSING_VALUE: .*\{header\.device\}/);
  expect(header(missing, 'x-ferry-failed-destination')).toBe('rabbit exchange=commands routingKey=cmd.{header.device} mandatory=true (to[0])');
  expect(header(missing, 'x-ferry-attempts')).toBe(0);

  expect(String(header(ghost, 'x-ferry-dead-letter-reason'))).toMatch(/^SINK_UNROUTABLE: /);
  expect(String(header(ghost, 'x-ferry-failed-destination'))).toMatch(/^rabbit exchange=commands routingKey=cmd\.ghost /);
  // permanent: no retries
  expect(header(ghost, 'x-ferry-attempts')).toBe(1);

  for (const m of [missing, ghost]) {
    expect(header(m, 'x-ferry-route')).toBe('poison');
    expect(header(m, 'x-ferry-gateway')).toBe(run);
    expect(String(header(m, 'x-ferry-original-address'))).toMatch(new RegExp(`^${run}/in/(missing|unroutable)$`));
    // the message's own headers and body are untouched
    expect(header(m, 'n')).toBe(m.content.toString());
  }
  expect(header(ghost, 'device')).toBe('ghost');
  const load = gateway.engine?.routeLoad('poison');
  expect(load?.inFlight).toBe(0);
});
