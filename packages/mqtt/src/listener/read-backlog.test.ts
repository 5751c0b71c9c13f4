/**
 * A connection whose publish waited for a full route keeps its socket unread while whole packets
 * of an earlier read are still to parse: the slot freed by the engine lets in one message from
 * what was already read, not another read, so Ferry holds at most the rest of one read and the
 * client's further packets wait in TCP. The socket is read again by the parse that takes the
 * last of them; nothing is lost or reordered.
 */
import mqttPacket from 'mqtt-packet';
import { Authenticator, noopMetrics, silentLogger } from '@ferry/core';
import { openMemoryConnection, waitFor } from '@ferry/testkit';
import { mqttListenerOptions } from '../options.js';
import { MqttBroker } from './broker.js';
import { brokerConfig } from './config.js';

const publish = (n: number): Buffer => mqttPacket.generate({ cmd: 'publish', topic: 'r/t', payload: Buffer.from(`m${n}`), qos: 0, retain: false, dup: false });

it('a socket is not read while whole packets of an earlier read wait, and is read again once the last is taken', async () => {
  const o = mqttListenerOptions.parse({ port: 0 });
  const broker = new MqttBroker(brokerConfig(o, new Authenticator({ anonymous: true }, { logger: silentLogger, metrics: noopMetrics, connector: 't', syntax: 'mqtt' })), {
    logger: silentLogger,
    metrics: noopMetrics,
    connectorName: 't',
  });
  const got: string[] = [];
  // every publish waits for room at first, as on a route at maxInFlight; `admit` frees the slot
  const waiting: ((waiting: boolean) => void)[] = [];
  broker.onPublish = (message, _origin, _settlement, onWait) => {
    got.push(message.payload.toString());
    onWait?.(true);
    if (onWait !== undefined) waiting.push(onWait);
  };
  const admit = (): void => waiting.shift()?.(false);
  const c = openMemoryConnection((a) => broker.accept(a));
  c.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'held', clean: true, keepalive: 60 }));
  await waitFor(() => c.output().length >= 4, 'CONNACK');

  // one read of five publishes: the first waits, four are left whole in the backlog
  c.send(Buffer.concat([1, 2, 3, 4, 5].map(publish)));
  await waitFor(() => got.length === 1, 'the first publish');
  expect(c.isPaused()).toBe(true);
  // the client's next read waits in the stream, unread (in TCP, for a socket)
  const next = Buffer.concat([6, 7].map(publish));
  c.send(next);
  expect(c.readableLength).toBe(next.length);
  for (let n = 2; n <= 5; n++) {
    admit();
    await waitFor(() => got.length === n, `publish ${n}, from the backlog`);
    // the slot freed let in one publish of what was read, and no further read
    expect(c.readableLength).toBe(next.length);
    expect(c.isPaused()).toBe(true);
  }
  // the last of the backlog was taken (and waits): the socket stays paused for the route alone
  expect(got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  admit();
  await waitFor(() => got.length === 6, 'publish 6, from the next read');
  expect(c.readableLength).toBe(0);
  admit();
  await waitFor(() => got.length === 7, 'publish 7');
  admit();
  expect(got).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
  await waitFor(() => !c.isPaused(), 'the socket read again');
  c.hangUp();
  await broker.close();
});
