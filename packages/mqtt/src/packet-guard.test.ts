import mqttPacket from 'mqtt-packet';
import { PacketSizeGuard } from './packet-guard.js';

const publish = (n: number): Buffer =>
  mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(n, 1), qos: 0, retain: false, dup: false }, { protocolVersion: 4 });

describe('PacketSizeGuard', () => {
  it('passes packets up to the limit, byte for byte', () => {
    const a = publish(10);
    const b = publish(90);
    const g = new PacketSizeGuard(b.length);
    const r = g.push(Buffer.concat([a, b]));
    expect(r.kind).toBe('ok');
    expect(r.bytes).toEqual(Buffer.concat([a, b]));
  });

  it('refuses a packet one byte over the limit and keeps the complete packets before it', () => {
    const a = publish(10);
    const big = publish(200);
    const g = new PacketSizeGuard(big.length - 1);
    const r = g.push(Buffer.concat([a, big]));
    expect(r.kind).toBe('oversize');
    if (r.kind !== 'oversize') return;
    expect(r.size).toBe(big.length);
    expect(r.bytes).toEqual(a);
  });

  it('finds an oversize packet from its header alone, before its body arrives', () => {
    // 10 MB announced, only the fixed header sent
    const header = Buffer.from([0x30, 0x80, 0xad, 0xe2, 0x04]);
    const g = new PacketSizeGuard(1024);
    expect(g.push(header.subarray(0, 2)).kind).toBe('ok');
    const r = g.push(header.subarray(2));
    expect(r.kind).toBe('oversize');
    if (r.kind === 'oversize') expect(r.size).toBe(5 + 10_000_000);
  });

  it('tracks packets split at every byte', () => {
    const stream = Buffer.concat([publish(5), publish(300), publish(0)]);
    const g = new PacketSizeGuard(1000);
    const out: Buffer[] = [];
    for (const byte of stream) {
      const r = g.push(Buffer.from([byte]));
      expect(r.kind).toBe('ok');
      out.push(r.bytes);
    }
    expect(Buffer.concat(out)).toEqual(stream);
    // the next packet after them is still checked
    expect(g.push(publish(2000)).kind).toBe('oversize');
  });

  it('a fifth remaining-length byte is malformed (§1.5.5)', () => {
    const g = new PacketSizeGuard(1 << 28);
    expect(g.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff])).kind).toBe('malformed');
  });
});
