import { AckBatch } from './ack-batch.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function outlet(): { written: Buffer[]; writeAcks(b: Buffer): void } {
  const written: Buffer[] = [];
  return { written, writeAcks: (b) => written.push(Buffer.from(b)) };
}

describe('AckBatch', () => {
  it('writes the acknowledgements of a turn once, joined, in the order they were added', async () => {
    const o = outlet();
    const acks = new AckBatch(o);
    acks.add('puback', 1);
    acks.add('pubrec', 0x1234);
    acks.add('puback', 65535);
    expect(o.written).toEqual([]);
    await turn();
    expect(o.written).toEqual([Buffer.from([0x40, 2, 0, 1, 0x50, 2, 0x12, 0x34, 0x40, 2, 0xff, 0xff])]);
    await turn();
    expect(o.written).toHaveLength(1);
  });

  it('grows past its first buffer without losing what it holds', async () => {
    const o = outlet();
    const acks = new AckBatch(o);
    for (let id = 1; id <= 100; id++) acks.add('puback', id);
    await turn();
    expect(o.written).toHaveLength(1);
    const b = o.written[0] as Buffer;
    expect(b.length).toBe(400);
    for (let i = 0; i < 100; i++) expect([b[4 * i], b[4 * i + 1], b.readUInt16BE(4 * i + 2)]).toEqual([0x40, 2, i + 1]);
  });

  it('hands over at once on flush (before another packet), and the turn then writes only what came after', async () => {
    const o = outlet();
    const acks = new AckBatch(o);
    acks.add('puback', 7);
    acks.flush();
    expect(o.written).toEqual([Buffer.from([0x40, 2, 0, 7])]);
    acks.flush();
    acks.add('puback', 8);
    await turn();
    expect(o.written).toEqual([Buffer.from([0x40, 2, 0, 7]), Buffer.from([0x40, 2, 0, 8])]);
  });

  it('flushes every connection with acknowledgements in the same turn', async () => {
    const a = outlet();
    const b = outlet();
    new AckBatch(a).add('puback', 1);
    new AckBatch(b).add('puback', 2);
    await turn();
    expect([a.written, b.written]).toEqual([[Buffer.from([0x40, 2, 0, 1])], [Buffer.from([0x40, 2, 0, 2])]]);
  });
});
