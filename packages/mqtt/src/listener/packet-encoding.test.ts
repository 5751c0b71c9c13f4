import mqttPacket, { type Packet } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';
import { encodePacket } from './packet-encoding.js';

const generate = (p: Packet, v: ProtocolVersion): Buffer => mqttPacket.generate(p, { protocolVersion: v });

describe('encodePacket: acknowledgements', () => {
  const cmds = ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const;
  const versions: ProtocolVersion[] = [3, 4, 5];

  it.each(cmds)('a plain %s is the bytes mqtt-packet writes, in every version and for every packet identifier width', (cmd) => {
    for (const version of versions) {
      for (const messageId of [1, 255, 256, 4660, 65535]) {
        const packet = { cmd, messageId } as Packet;
        // MQTT 5: the 2-byte form of reason 0x00 without properties (§3.4.2.1), which mqtt-packet writes for an explicit 0x00
        const expected = generate(version === 5 ? ({ cmd, messageId, reasonCode: 0 }) : packet, version);
        expect(encodePacket(packet, version, undefined)).toEqual(expected);
        expect(encodePacket({ cmd, messageId, reasonCode: 0 }, version, undefined)).toEqual(expected);
      }
    }
  });

  it('an MQTT 5 acknowledgement with a reason or properties is written whole', () => {
    const failed = { cmd: 'puback', messageId: 7, reasonCode: 0x97 } as Packet;
    expect(encodePacket(failed, 5, undefined)).toEqual(generate(failed, 5));
    expect((encodePacket(failed, 5, undefined) as Buffer).length).toBeGreaterThan(4);
    const withReason = { cmd: 'puback', messageId: 7, reasonCode: 0, properties: { reasonString: 'fine' } } as Packet;
    expect(encodePacket(withReason, 5, undefined)).toEqual(generate(withReason, 5));
  });

  it("obeys the client's Maximum Packet Size", () => {
    expect(encodePacket({ cmd: 'puback', messageId: 7 }, 5, 3)).toEqual({ kind: 'too-large' });
    expect(encodePacket({ cmd: 'puback', messageId: 7 }, 5, 4)).toEqual(Buffer.from([0x40, 2, 0, 7]));
  });
});
