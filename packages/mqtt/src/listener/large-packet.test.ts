/**
 * A large PUBLISH arriving in many socket reads is joined once, not once per read: the bytes the
 * listener copies to assemble it stay linear in its size. Counted in bytes copied by
 * Buffer.concat, over an in-memory connection fed 64 KiB reads, as a socket delivers them.
 */
import { jest } from '@jest/globals';
import mqttPacket from 'mqtt-packet';
import { Authenticator, noopMetrics, silentLogger } from '@ferry/core';
import { openMemoryConnection, waitFor } from '@ferry/testkit';
import { mqttListenerOptions } from '../options.js';
import { MqttBroker } from './broker.js';
import { brokerConfig } from './config.js';
import type { BrokerMessage } from './types.js';

const SIZE = 8 * 1024 * 1024;
const READ = 64 * 1024;

describe('mqtt-listener: a large PUBLISH in many reads', () => {
  it('is assembled with each byte copied a bounded number of times, and arrives intact', async () => {
    const o = mqttListenerOptions.parse({ port: 0, maxPacketSize: SIZE + 1024 });
    const broker = new MqttBroker(brokerConfig(o, new Authenticator({ anonymous: true }, { logger: silentLogger, metrics: noopMetrics, connector: 't', syntax: 'mqtt' })), {
      logger: silentLogger,
      metrics: noopMetrics,
      connectorName: 't',
    });
    const got: BrokerMessage[] = [];
    broker.onPublish = (message, _origin, settlement) => {
      got.push(message);
      settlement?.accept();
    };
    const c = openMemoryConnection((a) => broker.accept(a));
    c.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'big', clean: true, keepalive: 60 }));
    await waitFor(() => c.output().length >= 4, 'CONNACK');

    const payload = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i += 4) payload.writeUInt32BE(i, i);
    const packet = mqttPacket.generate({ cmd: 'publish', topic: 'big/one', payload, qos: 1, messageId: 1, retain: false, dup: false });
    let copied = 0;
    const concat = Buffer.concat.bind(Buffer);
    const spy = jest.spyOn(Buffer, 'concat').mockImplementation((list: readonly Uint8Array[], total?: number) => {
      const out = concat(list, total);
      copied += out.length;
      return out;
    });
    try {
      for (let i = 0; i < packet.length; i += READ) c.send(packet.subarray(i, i + READ));
      await waitFor(() => got.length === 1, 'the publish');
    } finally {
      spy.mockRestore();
    }
    expect(Buffer.compare(got[0]?.payload ?? Buffer.alloc(0), payload)).toBe(0);
    // one join of the whole packet (plus the parser's own copy of it): appending each read to
    // what was held copied about SIZE² / (2 × READ) bytes, 512 MiB here
    expect(copied).toBeLessThanOrEqual(2 * packet.length);
    c.hangUp();
    await broker.close();
  });
});
