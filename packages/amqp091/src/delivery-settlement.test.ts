import { FerryError, type Outcome } from '@ferry/core';
import type { ConsumeMessage } from 'amqplib';
import { DeliverySettlement } from './delivery-settlement.js';

const msg = (deliveryTag: number): ConsumeMessage => ({ fields: { deliveryTag } }) as ConsumeMessage;

describe('DeliverySettlement', () => {
  it('gives the consumer its delivery and the outcome, once, whatever settles it next', () => {
    const calls: [number, Outcome['kind']][] = [];
    const settle = (m: ConsumeMessage, outcome: Outcome): void => {
      calls.push([m.fields.deliveryTag, outcome.kind]);
    };
    const a = new DeliverySettlement(settle, msg(1));
    const b = new DeliverySettlement(settle, msg(2));
    const c = new DeliverySettlement(settle, msg(3));
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
