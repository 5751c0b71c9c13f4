/**
 * A `.cpuprofile` (FERRY_PROF=1) cut into slices of time: for each slice, how long the process
 * was busy, the functions with the most self time and the outer frames that time ran under (what
 * the event loop was doing). bench/profile.mjs sums the whole run; this shows a run's first
 * seconds apart from the rest.
 *
 *   node bench/experiments/profile-timeline.mjs <file.cpuprofile> [slice ms, 500] [last slice, all]
 */
import { readFileSync } from 'node:fs';
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const bucketMs = Number(process.argv[3] ?? 500);
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/^.*node_modules\//, 'nm/').replace(/^.*packages\//, 'pk/')}:${n.callFrame.lineNumber + 1}`;
let t = p.startTime;
const buckets = new Map();
p.samples.forEach((id, i) => {
  t += p.timeDeltas[i];
  const b = Math.floor((t - p.startTime) / 1000 / bucketMs);
  const n = byId.get(id);
  if (n.callFrame.functionName === '(idle)') return;
  let m = buckets.get(b);
  if (!m) buckets.set(b, (m = { busy: 0, self: new Map(), top: new Map() }));
  m.busy += p.timeDeltas[i] / 1000;
  m.self.set(name(n), (m.self.get(name(n)) ?? 0) + p.timeDeltas[i] / 1000);
  // the outermost non-root frames: what the loop was running
  let chain = [];
  for (let x = id; x !== undefined; x = parent.get(x)) chain.push(byId.get(x));
  const outer = chain.slice(-4, -1).map(name).reverse().join(' > ');
  m.top.set(outer, (m.top.get(outer) ?? 0) + p.timeDeltas[i] / 1000);
});
for (const [b, m] of [...buckets].sort((a, b) => a[0] - b[0])) {
  if (b > Number(process.argv[4] ?? 99)) break;
  console.log(`--- ${(b * bucketMs) / 1000}s busy ${m.busy.toFixed(0)} ms`);
  for (const [k, v] of [...m.self].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`   self ${v.toFixed(0).padStart(5)} ms ${k}`);
  for (const [k, v] of [...m.top].sort((a, b) => b[1] - a[1]).slice(0, 4)) console.log(`   from ${v.toFixed(0).padStart(5)} ms ${k}`);
}
