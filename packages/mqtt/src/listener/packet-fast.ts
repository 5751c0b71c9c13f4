import type { IPublishPacket, Packet, QoS } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';

/**
 * Packets of every QoS 1 message through the listener written and read without mqtt-packet's
 * general path: the PUBLISH to a subscriber (packet-encoding.ts writes the PUBACK), and the
 * subscriber's 2-byte PUBACK read back. mqtt-packet's generator writes a packet as several small
 * buffers and joins them; its parser goes through a BufferList and logs every step through
 * `debug` (whose enabled check costs on every call). These produce exactly the bytes and objects
 * mqtt-packet does (packet-fast.test.ts compares them); anything else (MQTT 5 properties, a
 * failure reason code) takes mqtt-packet's path.
 */

/** The first byte of each acknowledgement: its packet type, and PUBREL's reserved flags 0010 (MQTT 5 §3.6.1). */
export const ACK_HEADER = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;
/** the four acknowledgements of the QoS 1/2 flows */
export type AckCommand = keyof typeof ACK_HEADER;
const ACK_CMD = new Map<number, AckCommand>(Object.entries(ACK_HEADER).map(([cmd, byte]) => [byte, cmd as AckCommand]));

/** MQTT 5 §1.5.5: the largest Remaining Length a Variable Byte Integer holds */
const MAX_REMAINING = 268_435_455;

/**
 * A PUBLISH without properties as bytes; undefined for one with properties, or one mqtt-packet
 * must judge (no packet id at QoS 1/2, a topic past 65,535 bytes), which mqtt-packet then writes.
 */
export function encodePublish(p: IPublishPacket, version: ProtocolVersion): Buffer | undefined {
  if (p.properties !== undefined || typeof p.topic !== 'string' || !Buffer.isBuffer(p.payload)) return undefined;
  return encodePlainPublish(p.topic, p.payload, p.qos, p.retain, p.dup, p.messageId, version);
}

/**
 * A PUBLISH without properties from its fields; undefined for one mqtt-packet must judge, as
 * {@link encodePublish}.
 */
function encodePlainPublish(topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, messageId: number | undefined, version: ProtocolVersion): Buffer | undefined {
  const remaining = plainPublishRemaining(topic, payload.length, qos, messageId, version);
  if (remaining < 0) return undefined;
  const b = Buffer.allocUnsafe(packetSize(remaining));
  writePlainPublish(b, 0, remaining, topic, payload, qos, retain, dup, messageId, version);
  return b;
}

/**
 * The Remaining Length (§2.1.4) of a PUBLISH without properties, or -1 for one mqtt-packet must
 * judge (no packet id at QoS 1/2, a topic past 65,535 bytes, a packet past the largest length).
 * A session's delivery is measured with this and written with {@link writePlainPublish} where the
 * connection has room for it, without a packet object.
 */
export function plainPublishRemaining(topic: string, payloadLength: number, qos: number, messageId: number | undefined, version: ProtocolVersion): number {
  if (qos !== 0 && (messageId === undefined || messageId < 1 || messageId > 0xffff)) return -1;
  const topicLength = Buffer.byteLength(topic);
  if (topicLength > 0xffff) return -1;
  // topic, packet id (QoS 1/2, §3.3.2.2), MQTT 5 Property Length 0 (§3.3.2.3.1), payload
  const remaining = 2 + topicLength + (qos === 0 ? 0 : 2) + (version === 5 ? 1 : 0) + payloadLength;
  return remaining > MAX_REMAINING ? -1 : remaining;
}

/** the bytes of a packet whose Remaining Length is `remaining`: the fixed header's two to five, and those */
export function packetSize(remaining: number): number {
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4) + remaining;
}

/** writes at `b[at]` the PUBLISH {@link plainPublishRemaining} measured as `remaining` */
export function writePlainPublish(b: Buffer, at: number, remaining: number, topic: string, payload: Buffer, qos: number, retain: boolean, dup: boolean, messageId: number | undefined, version: ProtocolVersion): void {
  const topicLength = remaining - 2 - (qos === 0 ? 0 : 2) - (version === 5 ? 1 : 0) - payload.length;
  // §3.3.1: DUP, QoS, RETAIN in the fixed header's flags
  b[at++] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  // §1.5.5 Variable Byte Integer
  for (let n = remaining; ; ) {
    const byte = n % 128;
    n = Math.floor(n / 128);
    b[at++] = n > 0 ? byte | 0x80 : byte;
    if (n === 0) break;
  }
  b[at] = topicLength >> 8;
  b[at + 1] = topicLength & 0xff;
  at += 2;
  at += b.write(topic, at, topicLength, 'utf8');
  if (qos !== 0) {
    const id = messageId as number;
    b[at] = id >> 8;
    b[at + 1] = id & 0xff;
    at += 2;
  }
  if (version === 5) b[at++] = 0;
  payload.copy(b, at);
}

/**
 * The acknowledgement `bytes[start, end)` is when it is one in its 2-byte form (3.1.1, and MQTT 5 with reason
 * Success, §3.4.2.1) of a non-zero packet id (§2.2.1), which needs no further check: its command,
 * its id read with {@link ackId}. Undefined for anything else.
 */
export function plainAckCommand(bytes: Buffer, start: number, end: number): AckCommand | undefined {
  if (end - start !== 4 || bytes[start + 1] !== 2 || (bytes[start + 2] === 0 && bytes[start + 3] === 0)) return undefined;
  return ACK_CMD.get(bytes[start] as number);
}

/**
 * An acknowledgement of packet `id` (0..65535) with reason Success and no properties, written at
 * `b[at, at + 4)`: the fixed header, Remaining Length 2, the packet identifier (MQTT 3.1.1 §3.4,
 * MQTT 5 §3.4.2.1: reason 0x00 without properties may be left out).
 */
export function writePlainAck(b: Buffer, at: number, cmd: AckCommand, id: number): void {
  b[at] = ACK_HEADER[cmd];
  b[at + 1] = 2;
  b[at + 2] = id >> 8;
  b[at + 3] = id & 0xff;
}

/** the packet identifier of the acknowledgement {@link plainAckCommand} recognised at `bytes[start]` */
export function ackId(bytes: Buffer, start: number): number {
  return ((bytes[start + 2] as number) << 8) | (bytes[start + 3] as number);
}

/**
 * An acknowledgement in its 2-byte form (3.1.1, and MQTT 5 with reason Success, §3.4.2.1), read
 * as mqtt-packet's parser reads it; undefined for anything else.
 */
export function readAckFast(raw: Buffer, version: number | undefined): Packet | undefined {
  if (raw.length !== 4 || raw[1] !== 2) return undefined;
  const cmd = ACK_CMD.get(raw[0] as number);
  if (cmd === undefined) return undefined;
  const packet: Packet = { cmd, retain: false, qos: cmd === 'pubrel' ? 1 : 0, dup: false, length: 2, topic: null, payload: null, messageId: raw.readUInt16BE(2) } as Packet;
  if (version === 5) (packet as { reasonCode?: number }).reasonCode = 0;
  return packet;
}

/**
 * A PUBLISH without properties (3.1.1, or MQTT 5 with Property Length 0) at `raw[start, end)`,
 * read as mqtt-packet's parser reads it: the topic decoded as UTF-8 (packet-rules.ts checks its
 * bytes), the payload a view of `raw`, not a copy. Undefined for anything else, which
 * mqtt-packet then reads. The packet is one record for every read, valid until the next one
 * (see {@link releaseFastPublish}).
 */
export function readPublishFast(raw: Buffer, version: number | undefined, topics?: LastTopic, start = 0, end = raw.length): IPublishPacket | undefined {
  const first = raw[start] as number;
  const qos = (first >> 1) & 0x03;
  // §3.3.1.2: QoS 3 is malformed, for the parser to refuse
  if (first >> 4 !== 3 || qos === 3) return undefined;
  // §1.5.5 Remaining Length: the packet is whole (the size guard, packet-guard.ts), so it must end exactly at `end`
  let remaining = 0;
  let at = start + 1;
  for (let shift = 0; ; shift += 7) {
    if (at >= end || shift > 21) return undefined;
    const byte = raw[at++] as number;
    remaining += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
  }
  if (at + remaining !== end || at + 2 > end) return undefined;
  const topicEnd = at + 2 + raw.readUInt16BE(at);
  const idEnd = topicEnd + (qos === 0 ? 0 : 2);
  const payloadAt = idEnd + (version === 5 ? 1 : 0);
  if (payloadAt > end || (version === 5 && raw[idEnd] !== 0)) return undefined;
  const packet = FAST_PUBLISH;
  packet.retain = (first & 0x01) !== 0;
  packet.qos = qos as QoS;
  packet.dup = (first & 0x08) !== 0;
  packet.length = remaining;
  packet.topic = topics === undefined ? raw.toString('utf8', at + 2, topicEnd) : topics.read(raw, at + 2, topicEnd);
  packet.payload = raw.subarray(payloadAt, end);
  packet.messageId = qos === 0 ? undefined : raw.readUInt16BE(topicEnd);
  return packet;
}

const NO_BYTES = Buffer.alloc(0);

/**
 * The packet {@link readPublishFast} reads into: one record for every read, not an object per
 * PUBLISH. Reading is synchronous and never nested, and nothing keeps the packet once it was
 * handled (publish-intake.ts builds its message from the fields), so the next read may reuse it.
 */
const FAST_PUBLISH: { cmd: 'publish'; retain: boolean; qos: QoS; dup: boolean; length: number; topic: string; payload: Buffer; messageId: number | undefined } = {
  cmd: 'publish',
  retain: false,
  qos: 0,
  dup: false,
  length: 0,
  topic: '',
  payload: NO_BYTES,
  messageId: undefined,
};

/** let go of the last payload read: the record would otherwise keep its socket read alive */
export function releaseFastPublish(): void {
  FAST_PUBLISH.payload = NO_BYTES;
}

/**
 * The topic a connection last published on, as bytes and as its string. A device publishes on
 * one topic again and again: when the bytes are the same, the string decoded the first time is
 * the topic again (no decode, and every message of the topic shares one string, whose hash the
 * topic match has already computed). The bytes are a copy: a view would keep the whole socket
 * read they came in alive.
 */
export class LastTopic {
  #bytes: Buffer = NO_BYTES;
  #text = '';

  /** the UTF-8 string of `raw[start, end)` */
  read(raw: Buffer, start: number, end: number): string {
    const n = end - start;
    if (n === this.#bytes.length && raw.compare(this.#bytes, 0, n, start, end) === 0) return this.#text;
    this.#text = raw.toString('utf8', start, end);
    this.#bytes = Buffer.from(raw.subarray(start, end));
    return this.#text;
  }
}
