/**
 * Reversible addresses through real RabbitMQ. A topic level holding `.` crosses Ferry as one
 * routing-key word (`/` and `.` swap inside a level) and comes back as the same topic; next to
 * it, what RabbitMQ's own MQTT plugin (3.10.8 on the test broker) does with the same topics, which
 * docs/mapping.md "Addresses" quotes. Ferry's listener is driven by mosquitto_pub and paho-mqtt.
 */
import { jest } from '@jest/globals';
import mqtt from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { Tally, brokerPorts, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, plainClient, publishConfirmed, runId, type Plain } from '../scenarios/helpers.js';
import { mosquittoPub, paho } from './clients.js';

jest.setTimeout(60_000);

const run = runId('ta');
let vhost: string;
let gateway: Gateway;
let port: number;
let plain: Plain;

beforeAll(async () => {
  vhost = await createVhost('trips-addr');
  port = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: up, type: topic }, { name: down, type: topic } ]
      queues: [ { name: three-words }, { name: all-up } ]
      bindings:
        - { queue: three-words, source: up, bindingKey: "${run}.*.temp" }
        - { queue: all-up, source: up, bindingKey: "#" }
routes:
  - name: up
    from: { connector: devices, topic: "${run}/#" }
    to: { connector: rabbit, exchange: up, routingKey: "{address}" }
  - name: down
    from: { connector: rabbit, exchange: down, bindingKey: "${run}.#" }
    to: { connector: devices, topic: "back/{address}" }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

describe('reversible addresses through RabbitMQ', () => {
  it('a topic level with "." is one routing-key word through Ferry, and the routing key comes back as the same topic', async () => {
    const three = await collectQueue(plain.ch, 'three-words');
    const all = await collectQueue(plain.ch, 'all-up');
    const topics = [`${run}/v1.2/temp`, `${run}/kitchen/temp`, `${run}/a.b.c/temp`];
    const tally = new Tally();
    for (const t of topics) {
      await mosquittoPub(port, t, Buffer.from(t), ['-q', '1']);
      tally.sent(t);
    }
    await waitFor(() => all.length >= topics.length, 'all three in all-up');
    for (const m of all) tally.received(m.content.toString());
    expect(tally.counts).toMatchObject({ sent: 3, received: 3, lost: 0, duplicated: 0 });
    expect(all.map((m) => m.fields.routingKey).sort()).toEqual([`${run}.a/b/c.temp`, `${run}.kitchen.temp`, `${run}.v1/2.temp`]);
    // `${run}.*.temp` takes every one of them: each topic has three levels
    await waitFor(() => three.length >= topics.length, 'all three through the *.temp binding');
    expect(three).toHaveLength(3);

    // the way back: routing keys with "/" inside a word are topic levels with "."
    const sub = paho({ port, clientId: `${run}-back`, filter: 'back/#', count: topics.length });
    await sub.ready;
    for (const t of topics) {
      const key = t.replaceAll('.', '\u0000').replaceAll('/', '.').replaceAll('\u0000', '/');
      await publishConfirmed(plain.confirm, 'down', key, Buffer.from(t));
    }
    const lines = await sub.done;
    const back = new Tally();
    for (const t of topics) back.sent(t);
    for (const l of lines) {
      const payload = Buffer.from(l.payload, 'hex').toString();
      expect(l.topic).toBe(`back/${payload}`);
      back.received(payload);
    }
    expect(back.counts).toMatchObject({ sent: 3, received: 3, lost: 0, duplicated: 0 });
  });

  it("RabbitMQ 3.10's MQTT plugin: '/' → '.' and dots kept one way, '.' → '/' and slashes kept the other (what docs/mapping.md says)", async () => {
    const q = await plain.ch.assertQueue('', { exclusive: true });
    await plain.ch.bindQueue(q.queue, 'amq.topic', `${run}p.#`);
    const got = await collectQueue(plain.ch, q.queue);
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPorts().rabbitMqtt}`, {
      protocolVersion: 4,
      username: `${vhost}:guest`,
      password: 'guest',
      clientId: `${run}-plugin`,
      reconnectPeriod: 0,
    });
    try {
      const back: string[] = [];
      c.on('message', (topic) => back.push(topic));
      await c.subscribeAsync(`${run}p/#`, { qos: 1 });
      await c.publishAsync(`${run}p/v1.2/temp`, 'x', { qos: 1 });
      await waitFor(() => got.length >= 1 && back.length >= 1, 'the plugin routed the publish');
      expect(got[0]?.fields.routingKey).toBe(`${run}p.v1.2.temp`);
      await publishConfirmed(plain.confirm, 'amq.topic', `${run}p.a/b.c`, Buffer.from('y'));
      await waitFor(() => back.length >= 2, 'the plugin delivered the AMQP publish');
      expect(back).toEqual([`${run}p/v1/2/temp`, `${run}p/a/b/c`]);
    } finally {
      await c.endAsync(true);
    }
  });
});
