/**
 * packet-fast.ts writes and reads exactly what mqtt-packet does, for every packet it takes:
 * PUBLISH without properties at every QoS and flag, at the Remaining Length boundaries (§1.5.5),
 * and the 2-byte acknowledgements of both protocol levels.
 */
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { encodePacket } from './packet-encoding.js';
import { LastTopic, encodePublish, readAckFast, readPublishFast } from './packet-fast.js';

const versions = [4, 5] as const;
const acks = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;
const ids = [1, 2, 255, 256, 4660, 65535];

/** what mqtt-packet's parser makes of `raw` on a connection of `version` */
function parsed(raw: Buffer, version: 4 | 5): Packet {
  const parser = mqttPacket.parser({ protocolVersion: version });
  const out: Packet[] = [];
  parser.on('packet', (p) => out.push(p));
  parser.on('error', (e) => {
    throw e;
  });
  parser.parse(raw);
  expect(out).toHaveLength(1);
  return out[0] as Packet;
}

describe.each(versions)('MQTT %s', (version) => {
  it('acknowledgements in the form Ferry sends are read back as mqtt-packet reads them', () => {
    for (const cmd of acks) {
      for (const messageId of ids) {
        const sent = encodePacket({ cmd, messageId }, version, undefined) as Buffer;
        expect(readAckFast(sent, version)).toEqual({ ...parsed(sent, version) });
      }
    }
  });

  it('PUBLISH: every QoS, DUP and RETAIN, topics in UTF-8, payloads across the Remaining Length boundaries', () => {
    const topics = ['t', 'a/b/c', 'dévice/温度/😀', 'x'.repeat(300)];
    // Remaining Length 127/128, 16,383/16,384 and 2,097,151/2,097,152 fall inside these
    const sizes = [0, 1, 100, 120, 121, 122, 123, 124, 125, 126, 127, 16_370, 16_375, 16_380, 2_097_140, 2_097_145, 2_097_150];
    for (const qos of [0, 1, 2] as const) {
      for (const topic of topics) {
        for (const size of sizes) {
          const p: IPublishPacket = { cmd: 'publish', topic, payload: Buffer.alloc(size, size % 251), qos, retain: size % 2 === 0, dup: qos > 0 && size % 3 === 0, ...(qos > 0 ? { messageId: 1 + (size % 65535) } : {}) };
          const fast = encodePublish(p, version);
          const reference = mqttPacket.generate(p, { protocolVersion: version });
          // Buffer#equals: jest's deep equality walks a 2 MB buffer byte by byte
          if (fast?.equals(reference) !== true) throw new Error(`differs from mqtt-packet: QoS ${qos}, topic ${topic.slice(0, 20)}, ${size} bytes`);
          const read = readPublishFast(reference, version);
          const ref = parsed(reference, version) as IPublishPacket;
          if (read === undefined || !(read.payload as Buffer).equals(ref.payload as Buffer)) throw new Error(`read differs from mqtt-packet: QoS ${qos}, ${size} bytes`);
          expect({ ...read, payload: undefined }).toEqual({ ...ref, payload: undefined });
        }
      }
    }
  });
});

it('what it does not take goes to mqtt-packet: properties, a QoS 1 PUBLISH without id, other bytes', () => {
  expect(encodePublish({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, dup: false, properties: { contentType: 'a' } }, 5)).toBeUndefined();
  expect(encodePublish({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, dup: false }, 4)).toBeUndefined();
  expect(readAckFast(Buffer.from([0x40, 3, 0, 1, 0x10]), 5)).toBeUndefined();
  // MQTT 5 PUBLISH with properties, QoS 3, a Remaining Length that does not end at the packet's end
  expect(readPublishFast(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { contentType: 'a' } }, { protocolVersion: 5 }), 5)).toBeUndefined();
  expect(readPublishFast(Buffer.from([0x36, 5, 0, 1, 0x74, 0, 1]), 4)).toBeUndefined();
  expect(readPublishFast(Buffer.from([0x30, 5, 0, 1, 0x74]), 4)).toBeUndefined();
  expect(readPublishFast(Buffer.from([0x30, 3, 0, 9, 0x74]), 4)).toBeUndefined();
  // PUBREL with reserved flags other than 0b0010 (§3.6.1) is left to the parser, which refuses it
  expect(readAckFast(Buffer.from([0x60, 2, 0, 1]), 4)).toBeUndefined();
  expect(readAckFast(Buffer.from([0xc0, 0]), 4)).toBeUndefined();
});

it('a connection\'s last topic: each PUBLISH read with it has the topic mqtt-packet reads, the same, another, another of the same length, an empty one', () => {
  const topics = ['a/b', 'a/b', 'a/c', 'dévice/温度', 'dévice/温度', 'a/b', 'x', '', 'x', 'a/b/c/d', 'a/b/c/e'];
  const last = new LastTopic();
  // every PUBLISH in one buffer, as one socket read brings them: the memo's bytes must not be a view of it
  const packets = topics.map((topic, i) => mqttPacket.generate({ cmd: 'publish', topic, payload: Buffer.from([i]), qos: 1, messageId: i + 1, retain: false, dup: false }, { protocolVersion: 4 }));
  const read = Buffer.concat(packets);
  let at = 0;
  for (const p of packets) {
    const raw = read.subarray(at, at + p.length);
    at += p.length;
    const got = readPublishFast(raw, 4, last);
    expect(got).toEqual({ ...(parsed(raw, 4) as IPublishPacket), payload: raw.subarray(raw.length - 1) });
  }
  // overwriting the read does not change what the memo knows
  read.fill(0x41);
  const again = mqttPacket.generate({ cmd: 'publish', topic: 'a/b/c/e', payload: Buffer.from([1]), qos: 0, retain: false, dup: false }, { protocolVersion: 4 });
  expect(readPublishFast(again, 4, last)?.topic).toBe('a/b/c/e');
});
