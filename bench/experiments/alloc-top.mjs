/** The allocation sites of a sampling heap profile (alloc-profile.mjs), self bytes, top 40. */
import { readFileSync } from 'node:fs';

const profile = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const sites = new Map();
let total = 0;
function walk(node, stack) {
  const f = node.callFrame;
  const here = `${f.functionName || '(anon)'} ${f.url.replace(/^.*node_modules\//, 'nm/').replace(/^.*packages\//, 'pk/')}:${f.lineNumber + 1}`;
  if (node.selfSize > 0) {
    const key = `${here}  <- ${stack.slice(-2).join(' <- ')}`;
    sites.set(key, (sites.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const c of node.children) walk(c, [...stack, here].slice(-3));
}
walk(profile.head, []);
console.log(`total sampled ${(total / 2 ** 20).toFixed(1)} MiB`);
for (const [k, v] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 40))) console.log(`${(v / 2 ** 20).toFixed(2).padStart(7)} MiB ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
