import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import type { Packet } from 'mqtt-packet';
import { checkPacket } from './packet-rules.js';

/** a QoS 0 3.1.1 PUBLISH with `topic` as its topic name's bytes */
function publish(topic: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, Buffer.from([1, 2])]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

const PUBLISH = { cmd: 'publish' } as Packet;

describe('checkPacket: a UTF-8 string field (§1.5.4)', () => {
  it('judges every topic as the general check does: isUtf8, and no U+0000', () => {
    // mostly ASCII (the bytes the byte-by-byte path takes), with NUL, continuation bytes, lead
    // bytes, overlong and surrogate starts mixed in (the bytes it hands to isUtf8)
    const byte = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0x01, max: 0x7f }) }, fc.constantFrom(0x00, 0x80, 0xbf, 0xc0, 0xc3, 0xa9, 0xe2, 0xed, 0xa0, 0xf0, 0x9f, 0xff));
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 100 }), (bytes) => {
        const topic = Uint8Array.from(bytes);
        const b = Buffer.from(topic);
        const expected = !isUtf8(b) ? 'invalid-utf8' : b.includes(0) ? 'utf8-null' : undefined;
        expect(checkPacket(publish(topic), PUBLISH, 4)?.code).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('takes well-formed multi-byte UTF-8 and refuses NUL in an ASCII topic', () => {
    expect(checkPacket(publish(Buffer.from('häuser/€/🚀')), PUBLISH, 4)).toBeUndefined();
    expect(checkPacket(publish(Buffer.from('devices/d1/telemetry')), PUBLISH, 4)).toBeUndefined();
    expect(checkPacket(publish(Buffer.from('a\u0000b')), PUBLISH, 4)?.code).toBe('utf8-null');
  });
});
