import { AddressMemo } from './address-memo.js';

describe('AddressMemo', () => {
  it('gives back what was set for an address, nothing for another', () => {
    const memo = new AddressMemo<number>(4, 1_000);
    memo.set('a/b', 1);
    memo.set('a/c', 2);
    expect(memo.get('a/b')).toBe(1);
    expect(memo.get('a/c')).toBe(2);
    expect(memo.get('a/d')).toBeUndefined();
  });

  it('holds at most its capacity: when full it starts afresh with the new address', () => {
    const memo = new AddressMemo<number>(3, 1_000);
    for (let i = 0; i < 3; i++) memo.set(`t/${i}`, i);
    expect([0, 1, 2].map((i) => memo.get(`t/${i}`))).toEqual([0, 1, 2]);
    memo.set('t/3', 3);
    expect([0, 1, 2, 3].map((i) => memo.get(`t/${i}`))).toEqual([undefined, undefined, undefined, 3]);
    // replacing an address already held, even when full, keeps what is held
    for (let i = 4; i < 6; i++) memo.set(`t/${i}`, i);
    memo.set('t/4', 44);
    expect([3, 4, 5].map((i) => memo.get(`t/${i}`))).toEqual([3, 44, 5]);
  });

  it('holds at most maxChars characters of addresses: long addresses cannot grow it past that', () => {
    const memo = new AddressMemo<number>(1_000, 10);
    memo.set('aaaa', 1);
    memo.set('bbbb', 2);
    // setting an address held already adds no characters
    memo.set('aaaa', 3);
    expect([memo.get('aaaa'), memo.get('bbbb')]).toEqual([3, 2]);
    // 4 + 4 + 4 > 10: starts afresh with the new one
    memo.set('cccc', 4);
    expect([memo.get('aaaa'), memo.get('bbbb'), memo.get('cccc')]).toEqual([undefined, undefined, 4]);
    // longer than the whole budget: never kept, and what is held stays
    memo.set('x'.repeat(11), 5);
    expect(memo.get('x'.repeat(11))).toBeUndefined();
    expect(memo.get('cccc')).toBe(4);
  });
});
