/**
 * AMQP 1.0 address patterns, matched as the router does for syntax `amqp10`
 * (packages/core/src/connector.ts): dot-separated words, `*` one word, `#` zero or more.
 * The listener needs it to decide, at attach time, whether a client's sending link goes to an
 * address some route takes (§2.6.3: otherwise the link is refused).
 */
export function matchesAddress(pattern: string, address: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('#')) return pattern === address;
  const p = pattern.split('.');
  const a = address.split('.');
  const memo = new Map<string, boolean>();
  const m = (i: number, j: number): boolean => {
    const key = `${i},${j}`;
    const hit = memo.get(key);
    if (hit !== undefined) return hit;
    let r: boolean;
    if (i === p.length) r = j === a.length;
    else if (p[i] === '#') r = m(i + 1, j) || (j < a.length && m(i, j + 1));
    else r = j < a.length && (p[i] === '*' || p[i] === a[j]) && m(i + 1, j + 1);
    memo.set(key, r);
    return r;
  };
  return m(0, 0);
}
