import { AddressMemo } from './address-memo.js';

describe('AddressMemo', () => {
  it('gives back what was set for an address, nothing for another', () => {
    const memo = new AddressMemo<number>(4);
    memo.set('a/b', 1);
    memo.set('a/c', 2);
    expect(memo.get('a/b')).toBe(1);
    expect(memo.get('a/c')).toBe(2);
    expect(memo.get('a/d')).toBeUndefined();
  });

  it('holds at most its capacity: when full it starts afresh with the new address', () => {
    const memo = new AddressMemo<number>(3);
    for (let i = 0; i < 3; i++) memo.set(`t/${i}`, i);
    expect([0, 1, 2].map((i) => memo.get(`t/${i}`))).toEqual([0, 1, 2]);
    memo.set('t/3', 3);
    expect([0, 1, 2, 3].map((i) => memo.get(`t/${i}`))).toEqual([undefined, undefined, undefined, 3]);
    // replacing an address already held when full still starts afresh: bounded either way
    for (let i = 4; i < 6; i++) memo.set(`t/${i}`, i);
    memo.set('t/7', 7);
    expect(memo.get('t/7')).toBe(7);
    expect(memo.get('t/3')).toBeUndefined();
  });
});
