import { AckBatch } from './ack-batch.js';

/** a delivery, as the tests hold it: the batch is given its tag */
interface Tagged {
  readonly fields: { readonly deliveryTag: number };
}

const d = (deliveryTag: number): Tagged => ({ fields: { deliveryTag } });

/**
 * The broker's side of one channel: the outstanding tags, and what an ack does to them
 * (AMQP 0-9-1 basic.ack; RabbitMQ closes the channel on a tag that is not outstanding).
 */
class Broker {
  readonly batch = new AckBatch();
  readonly outstanding = new Set<number>();
  readonly frames: string[] = [];
  /** tags the consumer settled: the only ones an ack may take */
  readonly settled = new Set<number>();

  deliver(tag: number): Tagged {
    this.outstanding.add(tag);
    const m = d(tag);
    this.batch.delivered(tag);
    return m;
  }

  flush(): number {
    return this.batch.flush(this.ack);
  }

  ack = (tag: number, multiple: boolean): void => {
    this.frames.push(`ack ${tag}${multiple ? ' multiple' : ''}`);
    if (!this.outstanding.has(tag)) throw new Error(`PRECONDITION_FAILED unknown delivery tag ${tag}`);
    for (const t of multiple ? [...this.outstanding].filter((x) => x <= tag) : [tag]) {
      if (!this.settled.has(t)) throw new Error(`tag ${t} acked while still in flight`);
      this.outstanding.delete(t);
    }
  };

  nack(m: Tagged): void {
    this.frames.push(`nack ${m.fields.deliveryTag}`);
    this.settled.add(m.fields.deliveryTag);
    this.outstanding.delete(m.fields.deliveryTag);
    this.batch.sent(m.fields.deliveryTag);
  }

  accept(m: Tagged): boolean {
    this.settled.add(m.fields.deliveryTag);
    return this.batch.accept(m.fields.deliveryTag);
  }
}

describe('AckBatch', () => {
  test('a run of accepted tags leaves as one multiple ack', () => {
    const b = new Broker();
    const ms = [1, 2, 3, 4].map((t) => b.deliver(t));
    expect(ms.map((m) => b.accept(m))).toEqual([true, false, false, false]);
    expect(b.flush()).toBe(4);
    expect(b.frames).toEqual(['ack 4 multiple']);
    expect(b.outstanding.size).toBe(0);
  });

  test('a delivery still in flight splits the run: the tags after it are acked one by one, and the run grows over them later', () => {
    const b = new Broker();
    const [m1, m2, m3, m4, m5] = [1, 2, 3, 4, 5].map((t) => b.deliver(t)) as [Tagged, Tagged, Tagged, Tagged, Tagged];
    for (const m of [m1, m2, m4, m5]) b.accept(m);
    expect(b.flush()).toBe(4);
    expect(b.frames).toEqual(['ack 2 multiple', 'ack 4', 'ack 5']);
    expect([...b.outstanding]).toEqual([3]);
    b.accept(m3);
    const m6 = b.deliver(6);
    b.accept(m6);
    expect(b.flush()).toBe(2);
    // 4 and 5 are settled on the wire: the run goes over them to 6
    expect(b.frames.slice(3)).toEqual(['ack 6 multiple']);
    expect(b.outstanding.size).toBe(0);
  });

  test('a nacked tag is stepped over, never the top of a multiple ack', () => {
    const b = new Broker();
    const [m1, m2, m3] = [1, 2, 3].map((t) => b.deliver(t)) as [Tagged, Tagged, Tagged];
    b.accept(m1);
    b.nack(m3);
    b.accept(m2);
    expect(b.flush()).toBe(2);
    expect(b.frames).toEqual(['nack 3', 'ack 2 multiple']);
    expect(b.outstanding.size).toBe(0);
  });

  test.each<[string, (b: Broker) => void, number, string[]]>([
    ['one accepted tag is acked on its own, without multiple', (b) => void b.accept(b.deliver(1)), 1, ['ack 1']],
    ['nothing accepted: nothing sent', (b) => b.nack(b.deliver(1)), 0, ['nack 1']],
    ['the run starts at the first tag delivered', (b) => [b.deliver(7), b.deliver(8)].forEach((m) => b.accept(m)), 2, ['ack 8 multiple']],
  ])('%s', (_name, settle, acked, frames) => {
    const b = new Broker();
    settle(b);
    expect(b.flush()).toBe(acked);
    expect(b.frames).toEqual(frames);
  });

  test('any order of settlement: every accepted tag acked once, none in flight acked', () => {
    // a fixed-seed generator, so a failure can be replayed
    let seed = 12345;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
        const b = new Broker();
      let next = 1;
      const inFlight: Tagged[] = [];
      let accepted = 0;
      let acked = 0;
      for (let step = 0; step < 60; step++) {
        const r = rand();
        if (r < 0.4) inFlight.push(b.deliver(next++));
        else if (r < 0.85 && inFlight.length > 0) {
          const [m] = inFlight.splice(Math.floor(rand() * inFlight.length), 1) as [Tagged];
          if (rand() < 0.15) b.nack(m);
          else {
            b.accept(m);
            accepted++;
          }
        } else acked += b.flush();
      }
      acked += b.flush();
      expect(acked).toBe(accepted);
      expect([...b.outstanding].sort((x, y) => x - y)).toEqual(inFlight.map((m) => m.fields.deliveryTag).sort((x, y) => x - y));
    }
  });

  test('more deliveries in flight than its first window, settled in any order: every accepted tag acked once, none in flight acked', () => {
    let seed = 777;
    const rand = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const b = new Broker();
    const inFlight = Array.from({ length: 1000 }, (_, i) => b.deliver(i + 1));
    let accepted = 0;
    let acked = 0;
    // the lowest tag is held to the end, so no run can start before it
    const [held] = inFlight.splice(0, 1) as [Tagged];
    while (inFlight.length > 0) {
      const [m] = inFlight.splice(Math.floor(rand() * inFlight.length), 1) as [Tagged];
      if (rand() < 0.1) b.nack(m);
      else {
        b.accept(m);
        accepted++;
      }
      if (rand() < 0.05) acked += b.flush();
    }
    expect(b.frames.some((f) => f.endsWith('multiple'))).toBe(false);
    b.accept(held);
    accepted++;
    const before = b.frames.length;
    acked += b.flush();
    expect(acked).toBe(accepted);
    // every tag is settled once the held one is: one ack covers what is left, none goes alone
    expect(b.frames.slice(before)).toHaveLength(1);
    expect(b.outstanding.size).toBe(0);
  });
});
