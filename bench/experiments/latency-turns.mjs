#!/usr/bin/env node
/**
 * What goes with a slow second of an interleaved latency run (SLICE_MS, bench/run.mjs
 * runLatencyGroup): every `slice` (a second of a path's turns) of every latency record in the
 * files, per case, its p99 beside what the machine, RabbitMQ, the bench's process and Ferry did
 * in it (bench/lib/procstat.mjs sliceProbe). Prints, per case, the rank correlation (Spearman) of
 * the p99 with each of those, and their medians over the slowest tenth against the fastest half.
 *
 *   node bench/experiments/latency-turns.mjs bench/results/<ts>.jsonl [...]
 */
import { readFileSync } from 'node:fs';

const FACTORS = ['machineBusyPct', 'benchWaitMsPerS', 'benchLoopMaxMs', 'benchGcMs', 'rabbitCpuPct', 'rabbitWaitMsPerS', 'rabbitRunMsPerS.schedulers', 'rabbitRunMsPerS.dirtyCpu', 'rabbitRunMsPerS.dirtyIo', 'rabbitWriteKiBPerS', 'ferryWaitMsPerS'];
/** a factor's value in a turn; `a.b` for a field of a field */
const value = (t, k) => k.split('.').reduce((o, f) => o?.[f], t);

const records = process.argv
  .slice(2)
  .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)))
  .filter((r) => r.type === 'run' && Array.isArray(r.slices));

function ranks(xs) {
  const idx = xs.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array(xs.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
    for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

function spearman(a, b) {
  const pairs = a.map((x, i) => [x, b[i]]).filter(([x, y]) => typeof x === 'number' && typeof y === 'number');
  if (pairs.length < 5) return undefined;
  const ra = ranks(pairs.map((p) => p[0]));
  const rb = ranks(pairs.map((p) => p[1]));
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - ma) * (rb[i] - mb);
    da += (ra[i] - ma) ** 2;
    db += (rb[i] - mb) ** 2;
  }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : undefined;
}

function median(xs) {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return s.length ? s[s.length >> 1] : undefined;
}

const byCase = new Map();
for (const r of records) {
  if (!byCase.has(r.case)) byCase.set(r.case, []);
  byCase.get(r.case).push(...r.slices);
}
const f = (x) => (x === undefined ? '–' : Math.abs(x) >= 100 ? Math.round(x).toString() : x.toFixed(2));
console.log(`| case | seconds | p99 ms: median (slowest tenth from) | ${FACTORS.join(' | ')} |`);
console.log(`|---|---|---|${FACTORS.map(() => '---').join('|')}|`);
for (const [name, turns] of byCase) {
  const p99 = turns.map((t) => t.p99);
  const sorted = [...turns].sort((a, b) => a.p99 - b.p99);
  const slow = sorted.slice(Math.floor(sorted.length * 0.9));
  const fast = sorted.slice(0, Math.ceil(sorted.length / 2));
  const cells = FACTORS.map((k) => `ρ ${f(spearman(p99, turns.map((t) => value(t, k))))}; ${f(median(slow.map((t) => value(t, k))))} vs ${f(median(fast.map((t) => value(t, k))))}`);
  console.log(`| ${name} | ${turns.length} | ${f(median(p99))} (${f(slow[0]?.p99)}) | ${cells.join(' | ')} |`);
}
console.log("\nEach factor: ρ = rank correlation with the second's p99; then its median over the slowest tenth of the seconds vs the fastest half.");
