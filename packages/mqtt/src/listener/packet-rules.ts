import { isUtf8 } from 'node:buffer';
import type { Packet } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';
import { RC } from './reason-codes.js';

/**
 * What mqtt-packet lets through and the specification forbids, checked on each packet's own
 * bytes after mqtt-packet parsed it: one function per packet type a client may send.
 *
 * mqtt-packet decodes strings leniently (ill-formed UTF-8 becomes U+FFFD), folds a repeated
 * property into an array, accepts any known property in any packet, ignores bytes after the last
 * field, and takes packet identifier 0, DUP on QoS 0, Will QoS 3 and a 3.1.1 password without a
 * user name. The walkers below re-read the variable header and payload (never a PUBLISH payload)
 * and report the first violation with the MQTT 5 reason code to close with (§4.13).
 */
export interface Violation {
  /** metric label, `protocol_errors_total{code}` */
  readonly code: string;
  readonly detail: string;
  /** MQTT 5: 0x81 Malformed Packet or 0x82 Protocol Error (§4.13.1); 3.1.1 closes without a code */
  readonly reason: number;
}

class Bad extends Error {
  constructor(
    readonly code: string,
    readonly reason: number,
    detail: string,
  ) {
    super(detail);
  }
}

const malformed = (code: string, detail: string): Bad => new Bad(code, RC.malformedPacket, detail);
const protocol = (code: string, detail: string): Bad => new Bad(code, RC.protocolError, detail);

/** Property identifiers (MQTT 5 §2.2.2.2, Table 2-4) and their data types. */
type PropType = 'byte' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';
const PROP_TYPES: ReadonlyMap<number, PropType> = new Map<number, PropType>([
  [0x01, 'byte'], // Payload Format Indicator
  [0x02, 'u32'], // Message Expiry Interval
  [0x03, 'utf8'], // Content Type
  [0x08, 'utf8'], // Response Topic
  [0x09, 'binary'], // Correlation Data
  [0x0b, 'varint'], // Subscription Identifier
  [0x11, 'u32'], // Session Expiry Interval
  [0x12, 'utf8'], // Assigned Client Identifier
  [0x13, 'u16'], // Server Keep Alive
  [0x15, 'utf8'], // Authentication Method
  [0x16, 'binary'], // Authentication Data
  [0x17, 'byte'], // Request Problem Information
  [0x18, 'u32'], // Will Delay Interval
  [0x19, 'byte'], // Request Response Information
  [0x1a, 'utf8'], // Response Information
  [0x1c, 'utf8'], // Server Reference
  [0x1f, 'utf8'], // Reason String
  [0x21, 'u16'], // Receive Maximum
  [0x22, 'u16'], // Topic Alias Maximum
  [0x23, 'u16'], // Topic Alias
  [0x24, 'byte'], // Maximum QoS
  [0x25, 'byte'], // Retain Available
  [0x26, 'pair'], // User Property
  [0x27, 'u32'], // Maximum Packet Size
  [0x28, 'byte'], // Wildcard Subscription Available
  [0x29, 'byte'], // Subscription Identifier Available
  [0x2a, 'byte'], // Shared Subscription Available
]);

const USER_PROPERTY = 0x26;

/** The properties each packet a client sends may carry (§2.2.2.2 Table 2-4). */
const ALLOWED = {
  connect: new Set([0x11, 0x15, 0x16, 0x17, 0x19, 0x21, 0x22, 0x26, 0x27]),
  will: new Set([0x01, 0x02, 0x03, 0x08, 0x09, 0x18, 0x26]),
  // 0x0B (Subscription Identifier) is a protocol error from a client (§3.3.4), which the
  // connection reports with its own code
  publish: new Set([0x01, 0x02, 0x03, 0x08, 0x09, 0x0b, 0x23, 0x26]),
  ack: new Set([0x1f, 0x26]),
  subscribe: new Set([0x0b, 0x26]),
  unsubscribe: new Set([0x26]),
  disconnect: new Set([0x11, 0x1c, 0x1f, 0x26]),
  auth: new Set([0x15, 0x16, 0x1f, 0x26]),
} as const;

/** Properties whose value is constrained beyond its data type. */
function checkPropertyValue(id: number, value: number): void {
  switch (id) {
    case 0x01: // §3.3.2.3.2: 0 or 1
    case 0x17: // §3.1.2.11.7: 0 or 1
    case 0x19: // §3.1.2.11.6: 0 or 1
      if (value > 1) throw protocol('property-value', `property 0x${id.toString(16)} is ${value}, not 0 or 1`);
      return;
    case 0x21: // §3.1.2.11.3: Receive Maximum 0 is a Protocol Error
      if (value === 0) throw protocol('receive-maximum-zero', 'Receive Maximum 0');
      return;
    case 0x27: // §3.1.2.11.4: Maximum Packet Size 0 is a Protocol Error
      if (value === 0) throw protocol('maximum-packet-size-zero', 'Maximum Packet Size 0');
      return;
    case 0x23: // §3.3.2.3.4: Topic Alias 0 is a Protocol Error
      if (value === 0) throw protocol('topic-alias-zero', 'Topic Alias 0');
      return;
    case 0x0b: // §3.8.2.1.2: Subscription Identifier 0 is a Protocol Error
      if (value === 0) throw protocol('subscription-id-zero', 'Subscription Identifier 0');
      return;
    default:
  }
}

const NO_BYTES = Buffer.alloc(0);

/** A cursor over one packet's variable header and payload. */
class Reader {
  pos = 0;
  end = 0;
  #buf: Buffer = NO_BYTES;

  /** read the packet at `raw[start, end)` from its variable header on */
  start(raw: Buffer, start: number, end: number): void {
    this.#buf = raw;
    // fixed header: one byte, then the Remaining Length (§2.1.4; the size guard checked it)
    let i = start + 1;
    while (((raw[i] as number) & 0x80) !== 0) i++;
    this.pos = i + 1;
    this.end = end;
  }

  /** let go of the packet read: the one reader would otherwise keep its socket read alive */
  release(): void {
    this.#buf = NO_BYTES;
  }

  get left(): number {
    return this.end - this.pos;
  }

  #need(n: number, what: string): void {
    if (this.pos + n > this.end) throw malformed('truncated', `${what} runs past the end of the packet`);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#buf[this.pos++] as number;
  }

  u16(what: string): number {
    this.#need(2, what);
    const v = this.#buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(what: string): number {
    this.#need(4, what);
    const v = this.#buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** §1.5.5 Variable Byte Integer: at most 4 bytes, and in its shortest form (§1.5.5 note) */
  varint(what: string): number {
    let value = 0;
    let mult = 1;
    for (let n = 0; n < 4; n++) {
      const b = this.u8(what);
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) {
        if (n > 0 && b === 0) throw malformed('varint-not-minimal', `${what} not encoded in the fewest bytes`);
        return value;
      }
      mult *= 128;
    }
    throw malformed('varint-too-long', `${what} longer than 4 bytes`);
  }

  binary(what: string): Buffer {
    const n = this.u16(what);
    this.#need(n, what);
    const b = this.#buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  /**
   * MQTT 5 §1.5.4 / 3.1.1 §1.5.3: well-formed UTF-8 (no overlong forms, no surrogates
   * U+D800..U+DFFF), without U+0000; otherwise a Malformed Packet [MQTT-1.5.4-1], [MQTT-1.5.4-2].
   */
  utf8(what: string): void {
    const n = this.u16(what);
    this.#need(n, what);
    const buf = this.#buf;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    // ASCII without U+0000 (nearly every topic and client id) is well-formed UTF-8 as it is:
    // checked here byte by byte, without a view of the string's bytes for every packet
    let i = start;
    while (i < end) {
      const b = buf[i] as number;
      if (b === 0 || b >= 0x80) break;
      i++;
    }
    if (i === end) return;
    const b = buf.subarray(start, end);
    if (!isUtf8(b)) throw malformed('invalid-utf8', `${what} is not well-formed UTF-8`);
    if (b.includes(0)) throw malformed('utf8-null', `${what} contains U+0000`);
  }

  /** MQTT 5 §2.2.2: the property length, then each property once (except User Property) and only where allowed. */
  properties(allowed: ReadonlySet<number>, where: string): void {
    const length = this.varint(`${where} property length`);
    const end = this.pos + length;
    if (end > this.end) throw malformed('truncated', `${where} properties run past the end of the packet`);
    const seen = new Set<number>();
    while (this.pos < end) {
      const id = this.varint(`${where} property identifier`);
      const type = PROP_TYPES.get(id);
      // §2.2.2.2: an identifier not valid for the packet type makes a Malformed Packet
      if (type === undefined || !allowed.has(id)) throw malformed('property-not-allowed', `property 0x${id.toString(16)} is not allowed in ${where}`);
      // §2.2.2.2 and each property's clause: including it more than once is a Protocol Error
      if (id !== USER_PROPERTY && seen.has(id)) throw protocol('property-repeated', `property 0x${id.toString(16)} repeated in ${where}`);
      seen.add(id);
      const what = `${where} property 0x${id.toString(16)}`;
      switch (type) {
        case 'byte':
          checkPropertyValue(id, this.u8(what));
          break;
        case 'u16':
          checkPropertyValue(id, this.u16(what));
          break;
        case 'u32':
          checkPropertyValue(id, this.u32(what));
          break;
        case 'varint':
          checkPropertyValue(id, this.varint(what));
          break;
        case 'utf8':
          this.utf8(what);
          break;
        case 'binary':
          this.binary(what);
          break;
        case 'pair':
          this.utf8(`${what} name`);
          this.utf8(`${what} value`);
          break;
      }
      if (this.pos > end) throw malformed('truncated', `${where} property 0x${id.toString(16)} runs past the property length`);
    }
  }

  /** Nothing may follow the last field (the Remaining Length covers exactly the packet, §2.1.4). */
  done(where: string): void {
    if (this.pos !== this.end) throw malformed('trailing-bytes', `${this.end - this.pos} bytes after the end of ${where}`);
  }
}

/** The packets that carry a packet identifier, by name: each name and label made once, not per packet. */
type WithId = 'PUBLISH' | 'PUBACK' | 'PUBREC' | 'PUBREL' | 'PUBCOMP' | 'SUBSCRIBE' | 'UNSUBSCRIBE';
const ID_LABEL: Readonly<Record<WithId, string>> = {
  PUBLISH: 'PUBLISH packet identifier',
  PUBACK: 'PUBACK packet identifier',
  PUBREC: 'PUBREC packet identifier',
  PUBREL: 'PUBREL packet identifier',
  PUBCOMP: 'PUBCOMP packet identifier',
  SUBSCRIBE: 'SUBSCRIBE packet identifier',
  UNSUBSCRIBE: 'UNSUBSCRIBE packet identifier',
};
const ACK_NAME = { puback: 'PUBACK', pubrec: 'PUBREC', pubrel: 'PUBREL', pubcomp: 'PUBCOMP' } as const;

/** A packet identifier must be non-zero (§2.2.1, [MQTT-2.2.1-3]; 3.1.1 §2.3.1). */
function packetId(r: Reader, where: WithId): number {
  const id = r.u16(ID_LABEL[where]);
  if (id === 0) throw protocol('packet-id-zero', `${where} with packet identifier 0`);
  return id;
}

function checkConnect(r: Reader): void {
  r.utf8('protocol name');
  const level = r.u8('protocol level');
  const flags = r.u8('connect flags');
  const v5 = level === 5;
  const will = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const hasUser = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  // MQTT 5 §3.1.2.6 / 3.1.1 §3.1.2.6 [MQTT-3.1.2-14]: Will QoS 3 is malformed
  if (will && willQos === 3) throw malformed('will-qos-3', 'Will QoS 3');
  // 3.1.1 §3.1.2.9 [MQTT-3.1.2-22]: a password needs a user name (MQTT 5 §3.1.2.9 allows it)
  if (!v5 && hasPassword && !hasUser) throw malformed('password-without-username', 'password flag set without the user name flag');
  r.u16('keep alive');
  if (v5) r.properties(ALLOWED.connect, 'CONNECT');
  r.utf8('client identifier');
  if (will) {
    if (v5) r.properties(ALLOWED.will, 'will');
    r.utf8('will topic');
    r.binary('will payload');
  }
  if (hasUser) r.utf8('user name');
  if (hasPassword) r.binary('password');
  r.done('CONNECT');
}

function checkPublish(r: Reader, flagsByte: number, v5: boolean): void {
  const qos = (flagsByte >> 1) & 0x03;
  // MQTT 5 §3.3.1.1 / 3.1.1 [MQTT-3.3.1-2]: DUP must be 0 on QoS 0
  if (qos === 0 && (flagsByte & 0x08) !== 0) throw malformed('dup-on-qos0', 'DUP set on a QoS 0 PUBLISH');
  r.utf8('topic name');
  if (qos > 0) packetId(r, 'PUBLISH');
  if (v5) r.properties(ALLOWED.publish, 'PUBLISH');
  // the rest is the payload, opaque bytes (§3.3.3)
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4–§3.7). */
function checkAck(r: Reader, cmd: keyof typeof ACK_NAME, v5: boolean): void {
  const name = ACK_NAME[cmd];
  packetId(r, name);
  if (v5) {
    // §3.4.2.1: reason code and properties may be left out, the properties alone too
    if (r.left > 0) r.u8('reason code');
    if (r.left > 0) r.properties(ALLOWED.ack, name);
  }
  // 3.1.1 §3.4.1 and friends: Remaining Length is exactly 2
  r.done(name);
}

function checkSubscribe(r: Reader, v5: boolean): void {
  packetId(r, 'SUBSCRIBE');
  if (v5) r.properties(ALLOWED.subscribe, 'SUBSCRIBE');
  // MQTT 5 §3.8.3 [MQTT-3.8.3-2] / 3.1.1 [MQTT-3.8.3-3]: at least one subscription
  if (r.left === 0) throw protocol('empty-subscribe', 'SUBSCRIBE without a topic filter');
  while (r.left > 0) {
    r.utf8('topic filter');
    r.u8('subscription options');
  }
}

function checkUnsubscribe(r: Reader, v5: boolean): void {
  packetId(r, 'UNSUBSCRIBE');
  if (v5) r.properties(ALLOWED.unsubscribe, 'UNSUBSCRIBE');
  // MQTT 5 §3.10.3 [MQTT-3.10.3-2] / 3.1.1 [MQTT-3.10.3-2]: at least one topic filter
  if (r.left === 0) throw protocol('empty-unsubscribe', 'UNSUBSCRIBE without a topic filter');
  while (r.left > 0) r.utf8('topic filter');
}

function checkDisconnect(r: Reader, v5: boolean): void {
  if (v5) {
    // §3.14.2.1: the reason code and the properties may be left out
    if (r.left > 0) r.u8('reason code');
    if (r.left > 0) r.properties(ALLOWED.disconnect, 'DISCONNECT');
  }
  r.done('DISCONNECT');
}

/**
 * The one reader of every packet checked: a check is synchronous and never nested, and a reader
 * per packet (two per QoS 1 message) is only garbage for the young generation to collect.
 */
const READER = new Reader();

/**
 * The first violation in `raw[start, end)` (one complete packet) that mqtt-packet let through as
 * `packet`, or undefined. `version` is the connection's protocol level; a CONNECT carries its own.
 */
export function checkPacket(raw: Buffer, packet: Packet, version: ProtocolVersion, start = 0, end = raw.length): Violation | undefined {
  const r = READER;
  r.start(raw, start, end);
  const flagsByte = (raw[start] as number) & 0x0f;
  const v5 = version === 5;
  try {
    switch (packet.cmd) {
      case 'connect':
        checkConnect(r);
        break;
      case 'publish':
        checkPublish(r, flagsByte, v5);
        break;
      case 'puback':
      case 'pubrec':
      case 'pubrel':
      case 'pubcomp':
        checkAck(r, packet.cmd, v5);
        break;
      case 'subscribe':
        checkSubscribe(r, v5);
        break;
      case 'unsubscribe':
        checkUnsubscribe(r, v5);
        break;
      case 'pingreq':
        // §3.12.1: no variable header, no payload
        r.done('PINGREQ');
        break;
      case 'disconnect':
        checkDisconnect(r, v5);
        break;
      case 'auth':
        if (r.left > 0) r.u8('reason code');
        if (r.left > 0) r.properties(ALLOWED.auth, 'AUTH');
        r.done('AUTH');
        break;
      default:
      // packets only a server sends are refused by the connection itself
    }
  } catch (err) {
    if (err instanceof Bad) return { code: err.code, detail: err.message, reason: err.reason };
    throw err;
  } finally {
    r.release();
  }
  return undefined;
}
