import { FerryError, type Outcome } from '@ferry/core';
import { DeliverySettlement } from './delivery-settlement.js';

describe('DeliverySettlement', () => {
  it('gives the consumer its delivery tag and the outcome, once, whatever settles it next', () => {
    const calls: [number, Outcome['kind']][] = [];
    const settle = (deliveryTag: number, outcome: Outcome): void => {
      calls.push([deliveryTag, outcome.kind]);
    };
    const a = new DeliverySettlement(settle, 1);
    const b = new DeliverySettlement(settle, 2);
    const c = new DeliverySettlement(settle, 3);
    const err = new FerryError('SINK_CLOSED', 'down');
    expect(b.release(err)).toBe(true);
    expect(a.accept()).toBe(true);
    expect(c.fail(new FerryError('SINK_REJECTED', 'no', { permanent: true }))).toBe(true);
    expect(a.reject(err)).toBe(false);
    expect(b.accept()).toBe(false);
    expect(c.settle({ kind: 'accept' })).toBe(false);
    expect(calls).toEqual([
      [2, 'release'],
      [1, 'accept'],
      [3, 'reject'],
    ]);
    expect(a.settled && a.outcome?.kind).toBe('accept');
    expect(b.outcome?.kind).toBe('release');
  });
});
