/**
 * The shipped default route file (config/gateway.yaml) through a real gateway: a device's QoS 1
 * temperature reading is PUBACKed while no AMQP 1.0 client is attached to `temperature.{room}`
 * (the amqp10-listener took it into its queue, as a broker would), and a rhea receiver that
 * attaches afterwards gets it, bytes and `x-room` header intact.
 *
 * Before the listener had broker semantics, the PUBACK waited for an AMQP client to attach and
 * accept, so every device of the demo hung: here the publishes would never resolve.
 */
import { jest } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import mqtt, { type MqttClient } from 'mqtt';
import rhea from 'rhea';
import { parseConfig } from '@ferry/config';
import { Gateway, PromMetrics, defaultRegistry } from '@ferry/gateway';
import { silentLogger } from '@ferry/core';
import { freePort, Tally, waitFor } from '@ferry/testkit';

jest.setTimeout(60_000);

let gateway: Gateway | undefined;
let dev: MqttClient | undefined;
let conn: rhea.Connection | undefined;

afterAll(async () => {
  await dev?.endAsync(true).catch(() => undefined);
  if (conn?.is_open() === true) conn.close();
  await gateway?.stop(2000);
});

it('config/gateway.yaml: devices are PUBACKed with no AMQP client attached; a receiver attaching later gets every reading of its room, in order', async () => {
  const env = {
    FERRY_MQTT_PORT: String(await freePort()),
    FERRY_STOMP_PORT: String(await freePort()),
    FERRY_AMQP_PORT: String(await freePort()),
    FERRY_HTTP_PORT: String(await freePort()),
  };
  const text = await readFile(new URL('../../config/gateway.yaml', import.meta.url), 'utf8');
  // startGateway (integration/support) reads process.env; the ports come in through `env` here
  const result = parseConfig(text, 'config/gateway.yaml', defaultRegistry(), { env });
  if (!result.ok) throw new Error('config/gateway.yaml invalid:\n' + result.errors.map((e) => e.format()).join('\n'));
  gateway = new Gateway(result.config, { registry: defaultRegistry(), logger: silentLogger, metrics: new PromMetrics(result.config.gateway.id) });
  await gateway.start();

  dev = await mqtt.connectAsync(`mqtt://127.0.0.1:${env.FERRY_MQTT_PORT}`, { clientId: 'default-config-dev', reconnectPeriod: 0, connectTimeout: 5000 });
  // mqtt.js types its stream as a Duplex; over TCP it is a net.Socket
  (dev.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  dev.on('error', () => undefined);
  const tally = new Tally();
  const N = 20;
  // each publishAsync resolves on its PUBACK: with no AMQP client anywhere, they must all resolve
  for (let i = 0; i < N; i++) {
    const room = i % 2 === 0 ? 'kitchen' : 'hall';
    const body = `${20 + i / 10}`;
    if (room === 'kitchen') tally.sent(body);
    await dev.publishAsync(`sensors/${room}/temperature`, Buffer.from(body), { qos: 1 });
  }

  const c = rhea.create_container();
  c.on('error', () => undefined);
  conn = c.connect({ host: '127.0.0.1', port: Number(env.FERRY_AMQP_PORT), reconnect: false, tcp_no_delay: true } as rhea.ConnectionOptions);
  conn.on('error', () => undefined);
  conn.on('disconnected', () => undefined);
  const got: { body: string; room: unknown; to: unknown }[] = [];
  const r = conn.open_receiver({ source: { address: 'temperature.kitchen' } });
  r.on('message', (ctx: rhea.EventContext) => {
    const b: unknown = ctx.message?.body;
    // Ferry sends the MQTT payload as one data section: rhea hands it over as a Section
    const bytes = Buffer.isBuffer(b) ? b : Buffer.from((b as { content: Buffer }).content);
    got.push({ body: bytes.toString(), room: ctx.message?.application_properties?.['x-room'], to: ctx.message?.to });
    tally.received(bytes.toString());
  });
  await waitFor(() => tally.complete, 'every kitchen reading at the AMQP 1.0 receiver');
  await new Promise((res) => setTimeout(res, 200));
  console.log(tally.summary('default config: MQTT device → amqp10-listener queue → late AMQP 1.0 receiver'));
  expect(tally.counts).toMatchObject({ sent: N / 2, received: N / 2, lost: 0, duplicated: 0, unexpected: 0 });
  expect(got.map((g) => g.body)).toEqual(Array.from({ length: N / 2 }, (_, k) => `${20 + (2 * k) / 10}`));
  expect(got.every((g) => g.room === 'kitchen' && g.to === 'temperature.kitchen')).toBe(true);
});
