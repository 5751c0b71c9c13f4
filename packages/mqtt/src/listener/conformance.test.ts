/**
 * The mqtt-listener against the MQTT 3.1.1 and 5 specifications, byte for byte: packets no
 * well-behaved client library sends (so they are written raw), keep alive, Receive Maximum,
 * Maximum Packet Size and the short form of the acknowledgements. Real TCP on localhost.
 */
import type { Socket } from 'node:net';
import { jest } from '@jest/globals';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { silentLogger, type InboundDelivery } from '@ferry/core';
import { RecordingMetrics, freePort, waitFor } from '@ferry/testkit';
import { MqttListenerConnector } from './connector.js';
import { mqttListenerOptions } from '../options.js';
import { rawClient, type RawClient } from './test-support.js';

jest.setTimeout(30_000);

let listener: MqttListenerConnector | undefined;
let port: number;
let metrics: RecordingMetrics;
const got: InboundDelivery[] = [];
const sockets: Socket[] = [];

async function start(extra: Record<string, unknown> = {}, onDelivery: (d: InboundDelivery) => void = (d) => got.push(d)): Promise<void> {
  port = await freePort();
  metrics = new RecordingMetrics();
  got.length = 0;
  listener = new MqttListenerConnector({ gatewayId: 't', logger: silentLogger, metrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true, ...extra }));
  await listener.start();
  await listener.openSources([{ route: 'r', from: { topic: '#' } }], onDelivery);
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener?.stop();
});

const raw = (version: 4 | 5): Promise<RawClient> => rawClient(port, version, sockets);

const gen = (p: Packet, version: 4 | 5): Buffer => mqttPacket.generate(p, { protocolVersion: version });

/** A connected raw client (CONNACK 0 received). */
async function connected(version: 4 | 5, connect: Partial<mqttPacket.IConnectPacket> = {}): Promise<RawClient> {
  const c = await raw(version);
  c.send(gen({ cmd: 'connect', protocolVersion: version, clientId: `c${Math.random().toString(16).slice(2)}`, clean: true, keepalive: 30, ...connect }, version));
  await waitFor(() => c.packets.length > 0 || c.closed, 'CONNACK');
  const ack = c.packets[0] as mqttPacket.IConnackPacket;
  expect(ack.cmd).toBe('connack');
  expect(version === 5 ? ack.reasonCode : ack.returnCode).toBe(0);
  return c;
}

/** type byte, Remaining Length, body (§2.1). */
function pkt(type: number, ...body: (number[] | Buffer)[]): Buffer {
  const b = Buffer.concat(body.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(x))));
  const len: number[] = [];
  let n = b.length;
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    len.push(d);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), b]);
}

/** a length-prefixed string or binary (§1.5.4, §1.5.6) */
function str(s: string | number[]): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : Buffer.from(s);
  const l = Buffer.alloc(2);
  l.writeUInt16BE(b.length);
  return Buffer.concat([l, b]);
}

const u16 = (n: number): number[] => [n >> 8, n & 0xff];

/** The listener closed `c`; an MQTT 5 client got DISCONNECT with `reason` first (§4.13.1). */
async function expectClosed(c: RawClient, version: 4 | 5, reason: number, code: string): Promise<void> {
  await waitFor(() => c.closed, 'the listener closes the connection');
  const last = c.packets[c.packets.length - 1];
  if (version === 5) {
    expect(last).toMatchObject({ cmd: 'disconnect', reasonCode: reason });
  } else {
    expect(last?.cmd).not.toBe('disconnect');
  }
  expect(metrics.count('protocol_errors_total', { connector: 'devices', code })).toBeGreaterThanOrEqual(1);
}

describe('packet validation after mqtt-packet: the connection is closed (MQTT 5: DISCONNECT with the reason first)', () => {
  beforeEach(() => start());

  const cases: { name: string; code: string; reason: number; packet: (v: 4 | 5) => Buffer }[] = [
    {
      name: 'invalid UTF-8 in a topic (C0 80, an overlong NUL, §1.5.4)',
      code: 'invalid-utf8',
      reason: 0x81,
      packet: (v) => pkt(0x30, str([0x61, 0xc0, 0x80]), v === 5 ? [0] : [], [1, 2]),
    },
    {
      name: 'invalid UTF-8 in a topic (ED A0 80, a surrogate, §1.5.4)',
      code: 'invalid-utf8',
      reason: 0x81,
      packet: (v) => pkt(0x30, str([0xed, 0xa0, 0x80]), v === 5 ? [0] : [], [1, 2]),
    },
    {
      name: 'U+0000 in a topic filter (§1.5.4)',
      code: 'utf8-null',
      reason: 0x81,
      packet: (v) => pkt(0x82, u16(1), v === 5 ? [0] : [], str([0x61, 0x00]), [0]),
    },
    { name: 'DUP on QoS 0 (§3.3.1.1)', code: 'dup-on-qos0', reason: 0x81, packet: (v) => pkt(0x38, str('t'), v === 5 ? [0] : [], [1]) },
    { name: 'packet identifier 0 on a QoS 1 PUBLISH (§2.2.1)', code: 'packet-id-zero', reason: 0x82, packet: (v) => pkt(0x32, str('t'), u16(0), v === 5 ? [0] : [], [1]) },
    { name: 'packet identifier 0 on SUBSCRIBE (§2.2.1)', code: 'packet-id-zero', reason: 0x82, packet: (v) => pkt(0x82, u16(0), v === 5 ? [0] : [], str('t'), [0]) },
    { name: 'an empty SUBSCRIBE (§3.8.3)', code: 'empty-subscribe', reason: 0x82, packet: (v) => pkt(0x82, u16(1), v === 5 ? [0] : []) },
    { name: 'an empty UNSUBSCRIBE (§3.10.3)', code: 'empty-unsubscribe', reason: 0x82, packet: (v) => pkt(0xa2, u16(1), v === 5 ? [0] : []) },
    { name: 'trailing bytes after a PINGREQ (§3.12.1)', code: 'trailing-bytes', reason: 0x81, packet: () => pkt(0xc0, [0]) },
    { name: 'a PUBCOMP for a packet identifier never sent (§4.3.3)', code: 'pubcomp-unknown-id', reason: 0x82, packet: () => pkt(0x70, u16(7)) },
    { name: 'a PUBACK for a packet identifier never sent (§4.3.2)', code: 'puback-unknown-id', reason: 0x82, packet: () => pkt(0x40, u16(7)) },
  ];

  for (const version of [4, 5] as const) {
    for (const k of cases) {
      it(`v${version === 5 ? 5 : '3.1.1'}: ${k.name}`, async () => {
        const c = await connected(version);
        c.send(k.packet(version));
        await expectClosed(c, version, k.reason, k.code);
        expect(got).toHaveLength(0);
      });
    }
  }

  it('3.1.1: trailing bytes after a PUBACK (Remaining Length must be 2, §3.4.1)', async () => {
    const c = await connected(4);
    c.send(pkt(0x40, u16(1), [0]));
    await expectClosed(c, 4, 0, 'trailing-bytes');
  });

  it('v5: a property repeated (Content Type twice, §2.2.2.2) is a Protocol Error', async () => {
    const c = await connected(5);
    c.send(pkt(0x30, str('t'), [8, 0x03, ...str('a'), 0x03, ...str('b')], [1]));
    await expectClosed(c, 5, 0x82, 'property-repeated');
  });

  it('v5: a property not allowed in the packet (Session Expiry Interval in PUBLISH, §2.2.2.2) is malformed', async () => {
    const c = await connected(5);
    c.send(pkt(0x30, str('t'), [5, 0x11, 0, 0, 0, 1], [1]));
    await expectClosed(c, 5, 0x81, 'property-not-allowed');
  });

  it('v5: trailing bytes after the properties of a PUBACK', async () => {
    const c = await connected(5);
    c.send(pkt(0x40, u16(1), [0x00, 0x00, 0xff]));
    await expectClosed(c, 5, 0x81, 'trailing-bytes');
  });

  it('v5: a PUBREL before Ferry sent PUBREC is a Protocol Error (§4.3.3)', async () => {
    const c = await connected(5);
    c.send(pkt(0x34, str('t'), u16(3), [0], [1]));
    await waitFor(() => got.length === 1, 'the QoS 2 publish held for settlement');
    c.send(pkt(0x62, u16(3)));
    await expectClosed(c, 5, 0x82, 'pubrel-before-pubrec');
  });

  it('v5: a PUBACK for a QoS 2 delivery (the wrong acknowledgement, §4.3.3) is a Protocol Error', async () => {
    const sub = await connected(5);
    sub.send(gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2', qos: 2 }] }, 5));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
    const pub = await connected(5);
    pub.send(gen({ cmd: 'publish', topic: 'q2', payload: Buffer.from('x'), qos: 2, messageId: 9, retain: false, dup: false }, 5));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'publish'), 'delivery');
    const d = sub.packets.find((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket;
    sub.send(pkt(0x40, u16(d.messageId as number)));
    await expectClosed(sub, 5, 0x82, 'puback-mismatched-id');
  });

  /** A subscriber of `topic` at `qos` that has received one delivery from another client. */
  async function delivered(version: 4 | 5, topic: string, qos: 1 | 2): Promise<{ sub: RawClient; id: number }> {
    const sub = await connected(version);
    sub.send(gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] }, version));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
    const pub = await connected(version);
    pub.send(gen({ cmd: 'publish', topic, payload: Buffer.from('x'), qos, messageId: 9, retain: false, dup: false }, version));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'publish'), 'delivery');
    return { sub, id: (sub.packets.find((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket).messageId as number };
  }

  for (const version of [4, 5] as const) {
    const v = version === 5 ? 'v5' : 'v3.1.1';

    it(`${v}: a PUBREC for a QoS 1 delivery (the wrong acknowledgement, §4.3.2) is a Protocol Error`, async () => {
      const { sub, id } = await delivered(version, 'q1-rec', 1);
      sub.send(pkt(0x50, u16(id)));
      await expectClosed(sub, version, 0x82, 'pubrec-mismatched-id');
    });

    it(`${v}: a PUBCOMP before Ferry sent PUBREL (§4.3.3) is a Protocol Error`, async () => {
      const { sub, id } = await delivered(version, 'q2-comp', 2);
      sub.send(pkt(0x70, u16(id)));
      await expectClosed(sub, version, 0x82, 'pubcomp-mismatched-id');
    });

    it(`${v}: a PUBREL for an unknown packet identifier gets PUBCOMP${version === 5 ? ' 0x92 (§3.7.2.1)' : ' (§4.3.3)'}, the connection stays`, async () => {
      const c = await connected(version);
      c.send(pkt(0x62, u16(45)));
      await waitFor(() => c.packets.some((p) => p.cmd === 'pubcomp'), 'PUBCOMP');
      expect(c.packets.find((p) => p.cmd === 'pubcomp')).toMatchObject({ messageId: 45, ...(version === 5 ? { reasonCode: 0x92 } : {}) });
      c.send(gen({ cmd: 'pingreq' }, version));
      await waitFor(() => c.packets.some((p) => p.cmd === 'pingresp'), 'PINGRESP: still served');
      expect(c.closed).toBe(false);
    });
  }

  it('v5: a PUBREC for an unknown packet identifier gets PUBREL 0x92 (§3.6.2.1)', async () => {
    const c = await connected(5);
    c.send(pkt(0x50, u16(44)));
    await waitFor(() => c.packets.some((p) => p.cmd === 'pubrel'), 'PUBREL');
    expect(c.packets.find((p) => p.cmd === 'pubrel')).toMatchObject({ messageId: 44, reasonCode: 0x92 });
    expect(c.closed).toBe(false);
  });

  it('CONNECT: Will QoS 3 is malformed (v5: CONNACK 0x81; 3.1.1: closed without CONNACK)', async () => {
    for (const version of [4, 5] as const) {
      const c = await raw(version);
      const ok = gen({ cmd: 'connect', protocolVersion: version, clientId: 'w3', clean: true, keepalive: 30, will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false } }, version);
      // connect flags: after the fixed header (2), protocol name (6) and level (1)
      ok[9] = (ok[9] as number) | 0x18;
      c.send(ok);
      await waitFor(() => c.closed, 'closed');
      if (version === 5) expect(c.packets).toMatchObject([{ cmd: 'connack', reasonCode: 0x81 }]);
      else expect(c.packets).toHaveLength(0);
    }
    expect(metrics.count('protocol_errors_total', { connector: 'devices', code: 'will-qos-3' })).toBe(2);
  });

  it('CONNECT 3.1.1: a password without a user name is refused (§3.1.2.9) by closing', async () => {
    const c = await raw(4);
    c.send(pkt(0x10, str('MQTT'), [4, 0x42], u16(30), str('pw-only'), str('secret')));
    await waitFor(() => c.closed, 'closed');
    expect(c.packets).toHaveLength(0);
    expect(metrics.count('protocol_errors_total', { connector: 'devices', code: 'password-without-username' })).toBe(1);
  });

  it('CONNECT 3.1.1: trailing bytes after the payload close the connection', async () => {
    const c = await raw(4);
    c.send(pkt(0x10, str('MQTT'), [4, 0x02], u16(30), str('trail'), [0xde, 0xad]));
    await waitFor(() => c.closed, 'closed');
    expect(c.packets).toHaveLength(0);
  });

  it('a well-formed client on the same listener is not disturbed by the others', async () => {
    const bad = await connected(4);
    const good = await connected(5);
    bad.send(pkt(0x30, str([0xed, 0xa0, 0x80]), [1]));
    await waitFor(() => bad.closed, 'bad closed');
    good.send(gen({ cmd: 'publish', topic: 'fine', payload: Buffer.from('ok'), qos: 1, messageId: 5, retain: false, dup: false }, 5));
    await waitFor(() => got.length === 1, 'delivery');
    got[0]!.settlement.accept();
    await waitFor(() => good.packets.some((p) => p.cmd === 'puback'), 'PUBACK');
  });
});

describe('DISCONNECT (§3.14)', () => {
  it("a publish settled in the read that also brings the client's DISCONNECT is acknowledged before Ferry's FIN", async () => {
    // settled at once, in the same read as the DISCONNECT that follows it in the same segment
    await start({}, (d) => {
      got.push(d);
      d.settlement.accept();
    });
    const c = await connected(4);
    c.send(Buffer.concat([gen({ cmd: 'publish', topic: 'last/words', payload: Buffer.from('x'), qos: 1, messageId: 9, retain: false, dup: false }, 4), gen({ cmd: 'disconnect' }, 4)]));
    await waitFor(() => c.closed, 'closed');
    expect(got).toHaveLength(1);
    expect(c.packets.filter((p) => p.cmd === 'puback').map((p) => p.messageId)).toEqual([9]);
  });
});

describe('keep alive (§3.1.2.10)', () => {
  it('keep alive 0 is accepted by default in 3.1.1 and 5, as Mosquitto does', async () => {
    await start();
    await connected(4, { keepalive: 0 });
    const c5 = await connected(5, { keepalive: 0 });
    expect((c5.packets[0] as mqttPacket.IConnackPacket).properties?.serverKeepAlive).toBeUndefined();
  });

  it('with keepaliveLimit set, 3.1.1 keep alive 0 gets CONNACK 0x02 and MQTT 5 is told the limit', async () => {
    await start({ keepaliveLimit: 60 });
    const c = await raw(4);
    c.send(gen({ cmd: 'connect', protocolVersion: 4, clientId: 'ka0', clean: true, keepalive: 0 }, 4));
    await waitFor(() => c.closed, 'closed');
    expect(c.packets).toMatchObject([{ cmd: 'connack', returnCode: 0x02 }]);
    const c5 = await connected(5, { keepalive: 0 });
    expect((c5.packets[0] as mqttPacket.IConnackPacket).properties?.serverKeepAlive).toBe(60);
  });
});

describe('MQTT 5 flow control: Receive Maximum (§3.3.4, §4.9)', () => {
  beforeEach(() => start({ receiveMaximum: 2 }));

  const publish = (id: number, qos: 1 | 2): Buffer => gen({ cmd: 'publish', topic: 'rm', payload: Buffer.from(String(id)), qos, messageId: id, retain: false, dup: false }, 5);

  it('a client exceeding the Receive Maximum it was given gets DISCONNECT 0x93', async () => {
    const c = await connected(5);
    expect((c.packets[0] as mqttPacket.IConnackPacket).properties?.receiveMaximum).toBe(2);
    c.send(Buffer.concat([publish(1, 1), publish(2, 1), publish(3, 1)]));
    await expectClosed(c, 5, 0x93, 'receive-maximum-exceeded');
    expect(got).toHaveLength(2);
  });

  it('a retransmission (DUP) of a publish in the quota does not count twice', async () => {
    const c = await connected(5);
    c.send(Buffer.concat([publish(1, 1), publish(2, 1)]));
    await waitFor(() => got.length === 2, 'two held');
    const dup = publish(2, 1);
    dup[0] = (dup[0] as number) | 0x08;
    c.send(dup);
    got[0]!.settlement.accept();
    await waitFor(() => c.packets.filter((p) => p.cmd === 'puback').length === 1, 'PUBACK 1');
    c.send(publish(3, 1));
    await waitFor(() => got.length === 3, 'third taken once a slot was free');
    expect(c.closed).toBe(false);
  });

  it('a QoS 2 publish counts against the quota until PUBCOMP, not until PUBREC', async () => {
    const c = await connected(5);
    c.send(Buffer.concat([publish(1, 2), publish(2, 2)]));
    await waitFor(() => got.length === 2, 'two held');
    got[0]!.settlement.accept();
    got[1]!.settlement.accept();
    await waitFor(() => c.packets.filter((p) => p.cmd === 'pubrec').length === 2, 'PUBRECs');
    // PUBREC sent, PUBREL not yet: both still count, a third is one too many
    c.send(publish(3, 1));
    await expectClosed(c, 5, 0x93, 'receive-maximum-exceeded');
  });

  it('after PUBCOMP the slot is free again', async () => {
    const c = await connected(5);
    c.send(Buffer.concat([publish(1, 2), publish(2, 2)]));
    await waitFor(() => got.length === 2, 'two held');
    got[0]!.settlement.accept();
    await waitFor(() => c.packets.some((p) => p.cmd === 'pubrec'), 'PUBREC');
    c.send(pkt(0x62, u16(1)));
    await waitFor(() => c.packets.some((p) => p.cmd === 'pubcomp'), 'PUBCOMP');
    c.send(publish(3, 1));
    await waitFor(() => got.length === 3, 'third taken');
    expect(c.closed).toBe(false);
  });
});

describe('Maximum Packet Size from the client (§3.1.2.11.4)', () => {
  beforeEach(() => start());

  it('a client announcing Maximum Packet Size 0 gets CONNACK 0x82 (a Protocol Error)', async () => {
    const c = await raw(5);
    c.send(pkt(0x10, str('MQTT'), [5, 0x02], u16(30), [5, 0x27, 0, 0, 0, 0], str('mps0')));
    await waitFor(() => c.closed, 'closed');
    expect(c.packets).toMatchObject([{ cmd: 'connack', reasonCode: 0x82 }]);
  });

  for (const max of [20, 12, 8, 5]) {
    it(`a client announcing Maximum Packet Size ${max} gets a CONNACK of at most ${max} bytes`, async () => {
      const c = await raw(5);
      c.send(gen({ cmd: 'connect', protocolVersion: 5, clientId: `mps${max}`, clean: true, keepalive: 30, properties: { maximumPacketSize: max } }, 5));
      await waitFor(() => c.packets.length === 1, 'CONNACK');
      expect(c.packets[0]).toMatchObject({ cmd: 'connack', reasonCode: 0 });
      expect(Buffer.concat(c.bytes).length).toBeLessThanOrEqual(max);
      expect(c.closed).toBe(false);
    });
  }

  it('Server Keep Alive is kept even when optional properties are dropped', async () => {
    await listener?.stop();
    await start({ keepaliveLimit: 30 });
    const c = await raw(5);
    c.send(gen({ cmd: 'connect', protocolVersion: 5, clientId: 'mps-ka', clean: true, keepalive: 0, properties: { maximumPacketSize: 8 } }, 5));
    await waitFor(() => c.packets.length === 1, 'CONNACK');
    expect((c.packets[0] as mqttPacket.IConnackPacket).properties).toEqual({ serverKeepAlive: 30 });
  });
});

describe('acknowledgements in the 2-byte form when the reason is 0x00 without properties (MQTT 5 §3.4.2.1, §3.6.2.1)', () => {
  beforeEach(() => start());

  it('PUBACK to a publisher and PUBREL to a QoS 2 subscriber are 2 bytes after the fixed header', async () => {
    const pub = await connected(5);
    const sub = await connected(5);
    sub.send(gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'short', qos: 2 }] }, 5));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'suback'), 'SUBACK');
    pub.bytes.length = 0;
    pub.send(gen({ cmd: 'publish', topic: 'nobody', payload: Buffer.from('x'), qos: 1, messageId: 0x0102, retain: false, dup: false }, 5));
    await waitFor(() => got.length === 1, 'held');
    got[0]!.settlement.accept();
    await waitFor(() => pub.bytes.length > 0, 'PUBACK');
    expect(Buffer.concat(pub.bytes)).toEqual(Buffer.from([0x40, 0x02, 0x01, 0x02]));

    pub.send(gen({ cmd: 'publish', topic: 'short', payload: Buffer.from('y'), qos: 2, messageId: 3, retain: false, dup: false }, 5));
    await waitFor(() => sub.packets.some((p) => p.cmd === 'publish'), 'delivery');
    const d = sub.packets.find((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket;
    sub.bytes.length = 0;
    sub.send(pkt(0x50, u16(d.messageId as number)));
    await waitFor(() => sub.bytes.length > 0, 'PUBREL');
    expect(Buffer.concat(sub.bytes)).toEqual(Buffer.from([0x62, 0x02, ...u16(d.messageId as number)]));
  });
});
