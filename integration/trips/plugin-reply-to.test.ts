/**
 * A service written against RabbitMQ's MQTT plugin works unchanged through Ferry when the amqp091
 * connector says `replyToTopicHeader: true`: the plugin carries an MQTT 5 Response Topic in the
 * header `x-reply-to-topic` (routing-key form) and the correlation data in `correlation-id` or
 * `x-correlation-id`, and such a service answers by publishing to the reply topic's routing key,
 * echoing the id. MQTT 5 devices on Ferry's listener request; every reply reaches its device's
 * response topic with the exact correlation bytes. Counted.
 */
import { jest } from '@jest/globals';
import mqtt from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { Tally, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { plainClient, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(60_000);

const run = runId('rt');
const N = 20;
let vhost: string;
let gateway: Gateway;
let port: number;
let plain: Plain;
const headersSeen: Record<string, unknown>[] = [];

beforeAll(async () => {
  vhost = await createVhost('trips-plugin-rt');
  port = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    replyToTopicHeader: true
    topology:
      exchanges: [ { name: requests, type: topic }, { name: replies, type: topic } ]
      queues: [ { name: plugin-service } ]
      bindings: [ { queue: plugin-service, source: requests, bindingKey: "#" } ]
routes:
  - name: requests
    from: { connector: devices, topic: "${run}/req/#" }
    to: { connector: rabbit, exchange: requests, routingKey: "{address}" }
  - name: replies
    from: { connector: rabbit, exchange: replies, bindingKey: "${run}.dev.#" }
    to: { connector: devices, topic: "{address}" }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
  // the service as written for the plugin: the reply goes to x-reply-to-topic, the id is echoed
  // from correlation-id or, when it did not fit there, from x-correlation-id
  await plain.ch.consume('plugin-service', (m) => {
    if (m === null) return;
    const headers = (m.properties.headers ?? {}) as Record<string, unknown>;
    headersSeen.push(headers);
    const topic = headers['x-reply-to-topic'];
    const echo: Record<string, unknown> = {};
    if (headers['x-correlation-id'] !== undefined) echo['x-correlation-id'] = headers['x-correlation-id'];
    const correlationId = m.properties.correlationId as string | undefined;
    plain.confirm.publish('replies', typeof topic === 'string' ? topic : 'nowhere', Buffer.concat([Buffer.from('re:'), m.content]), {
      ...(correlationId === undefined ? {} : { correlationId }),
      headers: echo,
    });
    plain.ch.ack(m);
  });
});

afterAll(async () => {
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it('an MQTT 5 device gets every reply of a plugin-style service on its response topic, with its exact correlation bytes', async () => {
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: `${run}-dev`, reconnectPeriod: 0 });
  (device.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  try {
    const responseTopic = `${run}/dev/v1.2/resp`;
    await device.subscribeAsync(responseTopic, { qos: 1 });
    const tally = new Tally();
    const corrOf = new Map<string, Buffer>();
    const wrong: string[] = [];
    device.on('message', (_topic, payload, packet) => {
      const body = payload.toString().replace(/^re:/, '');
      const want = corrOf.get(body);
      const got = packet.properties?.correlationData;
      if (want === undefined || got === undefined || !Buffer.from(got).equals(want)) wrong.push(body);
      tally.received(body);
    });
    for (let i = 0; i < N; i++) {
      const body = `q${i}`;
      // binary ids that are not UTF-8 travel in x-correlation-id, text ids in correlation-id
      const corr = i % 2 === 0 ? Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0x80, i]) : Buffer.from(`text-${i}`);
      corrOf.set(body, corr);
      tally.sent(body);
      await device.publishAsync(`${run}/req/${i}`, body, { qos: 1, properties: { responseTopic, correlationData: corr } });
    }
    await waitFor(() => tally.complete, 'every reply at the device', 20_000);
    console.log(tally.summary('plugin-style service through Ferry'));
    expect(tally.counts).toMatchObject({ sent: N, unique: N, lost: 0, duplicated: 0, unexpected: 0 });
    expect(wrong).toEqual([]);
    // the service found the reply topic where the plugin puts it, in routing-key form ('.' in a
    // level travels as '/', docs/mapping.md "Addresses")
    expect(new Set(headersSeen.map((h) => h['x-reply-to-topic']))).toEqual(new Set([`${run}.dev.v1/2.resp`]));
  } finally {
    await device.endAsync(true).catch(() => undefined);
  }
});
