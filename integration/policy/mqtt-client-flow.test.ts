/**
 * The mqtt client connector obeys the engine's flow control against a real Mosquitto: paused, it
 * stops reading its connection (the broker keeps the rest), resumed, everything arrives. While
 * paused, Ferry's own publishes on the same connection still get their PUBACK (the connection is
 * read while they are due), so a route whose destination is this very connector cannot deadlock.
 */
import { createMessage, type InboundDelivery } from '@ferry/core';
import { ManualFlow, brokerPorts, delay, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { MqttClientConnector, mqttOptions } from '@ferry/mqtt';
import type { MqttClient } from 'mqtt';
import { context, device, end, prefix } from '../mqtt/helpers.js';

const mosquitto = `mqtt://127.0.0.1:${brokerPorts().mosquitto}`;
let c: MqttClientConnector;
let pub: MqttClient;

afterEach(async () => {
  await end(pub);
  await ifAssigned(c)?.stop();
});

it('paused: stops reading (deliveries stop), own publishes still confirmed; resumed: all arrive, 0 lost', async () => {
  const p = prefix('cflow');
  const flow = new ManualFlow();
  c = new MqttClientConnector(context(), 'plant', mqttOptions.parse({ url: mosquitto, protocolVersion: 5, clientId: `${p}-ferry`, clean: false, keepalive: 60 }));
  await c.start();
  const got: InboundDelivery[] = [];
  await c.openSources([{ route: 'r', from: { topic: `${p}/in/#`, qos: 1 } }], (d) => {
    got.push(d);
    d.settlement.accept();
  }, flow);
  pub = await device(mosquitto, { protocolVersion: 5, clientId: `${p}-pub` });
  const tally = new Tally();

  await pub.publishAsync(`${p}/in/0`, Buffer.from('m0'), { qos: 1 });
  tally.sent('m0');
  await waitFor(() => got.length === 1, 'first delivery');

  // the connector stops reading as the flow says so, before set returns
  flow.set(true);
  const N = 50;
  for (let i = 1; i <= N; i++) {
    tally.sent(`m${i}`);
    await pub.publishAsync(`${p}/in/${i}`, Buffer.from(`m${i}`), { qos: 1 });
  }
  // bounded waits, as nothing happens to wait for: paused, the connector reads nothing, so no
  // event says that it would not have taken what Mosquitto sent
  await delay(300);
  const whilePaused = got.length;

  // a publish of Ferry's own through the paused connection is confirmed (no deadlock), and
  // while its PUBACK is due the connection is read: what Mosquitto sent meanwhile comes in
  await c.sink.write(createMessage({ body: Buffer.from('own'), source: { connector: 'x', protocol: 'mqtt', address: 'x' } }), { topic: `${p}/out`, qos: 1, retain: false });
  await delay(300);
  const afterOwnPublish = got.length;
  console.log(`mqtt client paused: ${whilePaused} delivered while paused (of ${N + 1}), ${afterOwnPublish} after an own publish was confirmed`);
  expect(whilePaused).toBe(1);

  flow.set(false);
  await waitFor(() => got.length >= N + 1, 'everything after resume');
  // one more behind them: Mosquitto sends a session's messages in order, so a duplicate of an
  // earlier one would come before it
  await pub.publishAsync(`${p}/in/last`, Buffer.from('last'), { qos: 1 });
  await waitFor(() => got.some((d) => d.message.body.toString() === 'last'), 'the last message');
  for (const d of got.filter((x) => x.message.body.toString() !== 'last')) tally.received(d.message.body.toString());
  console.log(tally.summary('mqtt client pause/resume'));
  expect(tally.counts).toMatchObject({ sent: N + 1, received: N + 1, duplicated: 0, lost: 0 });
});
