import { FerryError } from './errors.js';
import { InflightLimit } from './inflight-limit.js';

describe('InflightLimit', () => {
  it('grants max slots, queues up to maxWaiting in order, refuses the next with LIMIT_EXCEEDED (transient)', async () => {
    const limit = new InflightLimit(2, 2);
    const a = await limit.acquire();
    const b = await limit.acquire();
    expect([limit.used, limit.waiting]).toEqual([2, 0]);
    const order: string[] = [];
    const c = limit.acquire().then((r) => (order.push('c'), r));
    const d = limit.acquire().then((r) => (order.push('d'), r));
    expect(limit.waiting).toBe(2);
    const refused = await limit.acquire().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(FerryError.is(refused, 'LIMIT_EXCEEDED')).toBe(true);
    expect((refused as FerryError).permanent).toBe(false);
    a();
    const releaseC = await c;
    expect(order).toEqual(['c']);
    // the slot passed on: still 2 held, one waiting
    expect([limit.used, limit.waiting]).toEqual([2, 1]);
    b();
    (await d)();
    releaseC();
    expect([limit.used, limit.waiting]).toEqual([0, 0]);
    expect(order).toEqual(['c', 'd']);
  });

  it('a release called twice gives back one slot, never drives used below zero', async () => {
    const limit = new InflightLimit(1, 0);
    const r = await limit.acquire();
    r();
    r();
    expect(limit.used).toBe(0);
    const again = await limit.acquire();
    expect(limit.used).toBe(1);
    await expect(limit.acquire()).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
    again();
  });

  it('failAll rejects every waiter with the given error and leaves held slots alone', async () => {
    const limit = new InflightLimit(1);
    const held = await limit.acquire();
    const waiting = limit.acquire();
    limit.failAll(new FerryError('SINK_CLOSED', 'stopped'));
    await expect(waiting).rejects.toMatchObject({ code: 'SINK_CLOSED' });
    expect([limit.used, limit.waiting]).toEqual([1, 0]);
    held();
    expect(limit.used).toBe(0);
  });

  it('refuses a limit that is not a positive integer', () => {
    expect(() => new InflightLimit(0)).toThrow(/positive integer/);
  });
});
