import mqttPacket, { type Packet } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';
import { encodePublish, writePlainAck, type AckCommand } from './packet-fast.js';
import { RC } from './reason-codes.js';

/** Why a packet was not encoded: over the client's Maximum Packet Size, or not encodable at all. */
export type EncodeRefusal = { readonly kind: 'too-large' } | { readonly kind: 'invalid'; readonly error: string };

const TOO_LARGE: EncodeRefusal = { kind: 'too-large' };

// mqtt-packet otherwise builds, on its first encode, a table of 65,536 two-byte Buffers for the
// numbers it writes (6.5 MiB of heap, 11 MiB of RSS), to save one 2-byte allocation per packet
// identifier or length: not worth a gateway's memory at rest. The setting is the module's, so
// it holds for mqtt.js in the same process too (its `writeCache` option only ever turns it off).
mqttPacket.writeToStream.cacheNumbers = false;

/**
 * One packet to a client as bytes in its protocol version, or why it cannot be sent: MQTT 5
 * §3.1.2.11.4, nothing larger than the client's Maximum Packet Size (`maxPacket`) is sent.
 */
export function encodePacket(packet: Packet, version: ProtocolVersion, maxPacket: number | undefined): Buffer | EncodeRefusal {
  const fast = isAck(packet) ? successAck(packet, version) : packet.cmd === 'publish' ? encodePublish(packet, version) : undefined;
  if (fast !== undefined) return maxPacket !== undefined && fast.length > maxPacket ? TOO_LARGE : fast;
  if (version === 5 && isAck(packet) && packet.reasonCode === undefined) {
    // MQTT 5 §3.4.2.1 (and §3.5.2.1, §3.6.2.1, §3.7.2.1): with reason 0x00 and no properties
    // the 2-byte form, as Mosquitto sends; mqtt-packet writes the 4-byte form for an absent
    // reason code, which paho-mqtt 1.6.1 cannot read
    packet = { ...packet, reasonCode: RC.success };
  }
  let buf: Buffer;
  try {
    buf = mqttPacket.generate(packet, { protocolVersion: version });
  } catch (err) {
    return { kind: 'invalid', error: String(err) };
  }
  return maxPacket !== undefined && buf.length > maxPacket ? TOO_LARGE : buf;
}

function isAck(p: Packet): p is mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket | mqttPacket.IPubrelPacket | mqttPacket.IPubcompPacket {
  return p.cmd === 'puback' || p.cmd === 'pubrec' || p.cmd === 'pubrel' || p.cmd === 'pubcomp';
}

/**
 * An acknowledgement with reason 0x00 and no properties, written here in its four bytes: the fixed
 * header, remaining length 2, the packet identifier (MQTT 3.1.1 §3.4, MQTT 5 §3.4.2.1: the reason
 * code and properties are left out when they are 0x00 and none). It is the one packet Ferry sends
 * for every QoS 1 message, and mqtt-packet builds it through a stream and a concat. Undefined when
 * it has more to say, which mqtt-packet then writes.
 */
function successAck(p: mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket | mqttPacket.IPubrelPacket | mqttPacket.IPubcompPacket, version: ProtocolVersion): Buffer | undefined {
  const id = p.messageId;
  if (id === undefined || !Number.isInteger(id) || id < 0 || id > 0xffff) return undefined;
  if (version === 5 && ((p.reasonCode !== undefined && p.reasonCode !== RC.success) || p.properties !== undefined)) return undefined;
  return plainAck(p.cmd, id);
}

/** the four bytes of an acknowledgement of packet `id` (0..65535) with reason Success and no properties */
function plainAck(cmd: AckCommand, id: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  writePlainAck(b, 0, cmd, id);
  return b;
}
