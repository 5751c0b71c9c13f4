import { prng } from '@ferry/testkit';
import { encodeFrame, encodeReceipt } from './encoder.js';
import { STOMP_VERSIONS } from './frame.js';

/** characters every version treats in its own way (escaped, removed, or refused in a name) */
const SPECIAL = ['\\', '\n', '\r', ':', '\u0000'];
const ORDINARY = ['r', '7', '-', ' ', 'é', '€', '😀', '\t', '/'];

describe('encodeReceipt: byte for byte what the general encoder writes', () => {
  const fixed = ['r1', '', 'receipt-42', 'a b', 'ünï€ode 😀', 'a:b', 'a\\b', 'a\nb', 'a\rb', 'a\u0000b', '\r\n', ':', '\\c'];
  for (const version of STOMP_VERSIONS) {
    it(`fixed ids, STOMP ${version}`, () => {
      for (const id of fixed) {
        expect(encodeReceipt(id, version)).toEqual(encodeFrame('RECEIPT', [['receipt-id', id]], undefined, version));
      }
    });

    it(`random ids with and without special characters, STOMP ${version} (seeded)`, () => {
      const rnd = prng(7);
      for (let round = 0; round < 2000; round++) {
        let id = '';
        const n = Math.floor(rnd() * 12);
        const withSpecial = round % 2 === 0;
        for (let i = 0; i < n; i++) {
          const pool = withSpecial && rnd() < 0.3 ? SPECIAL : ORDINARY;
          id += pool[Math.floor(rnd() * pool.length)] as string;
        }
        expect(encodeReceipt(id, version)).toEqual(encodeFrame('RECEIPT', [['receipt-id', id]], undefined, version));
      }
    });
  }

  it('writes the frame the spec shows (STOMP 1.2 §RECEIPT)', () => {
    expect(encodeReceipt('message-12345', '1.2').toString('utf8')).toBe('RECEIPT\nreceipt-id:message-12345\n\n\u0000');
  });
});
