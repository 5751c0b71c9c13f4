// Topic matching for the mqtt-listener: the linear scan of every subscribed filter (what the
// listener did before), Ferry's FilterTrie (packages/mqtt/src/listener/topic-trie.ts) and
// qlobber's QlobberDedup, with MQTT settings. Run after `npx tsc -b`, with qlobber where node
// finds it (not a dependency of Ferry): `npm i --no-save qlobber@8 && node bench/experiments/topic-match.mjs`,
// or QLOBBER=/path/to/node_modules/qlobber.
import { createRequire } from 'node:module';
import { FilterTrie } from '../../packages/mqtt/dist/listener/topic-trie.js';
import { topicMatches } from '../../packages/mqtt/dist/topic.js';

const require = createRequire(import.meta.url);
const { QlobberDedup } = require(process.env.QLOBBER ?? 'qlobber');

const sessions = 3;
const cases = [10, 1_000, 60_000];
const matches = Number(process.env.MATCHES ?? 20_000);

function filters(perSession) {
  const out = [];
  for (let s = 0; s < sessions; s++) for (let i = 0; i < perSession; i++) out.push([`dev/${s}/${i % 100}/${Math.floor(i / 100)}/+/state`, `c${s}`]);
  // and a few wildcard subscribers every publish has to consider
  out.push(['dev/#', 'w1'], ['+/1/+/+/+/state', 'w2']);
  return out;
}
const topics = Array.from({ length: 1000 }, (_, i) => `dev/1/${i % 100}/${i % 7}/x/state`);

function time(label, fn) {
  const t0 = performance.now();
  const r = fn();
  return { label, ms: performance.now() - t0, r };
}

function heapMb() {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const rows = [];
for (const per of cases) {
  const fs = filters(per);
  // linear scan over the distinct filters, as the listener did
  const m0 = heapMb();
  const index = new Map();
  for (const [f, c] of fs) (index.get(f) ?? index.set(f, new Map()).get(f)).set(c, 1);
  const linearMem = heapMb() - m0;
  const linearN = per >= 60_000 ? Math.min(matches, 200) : matches;
  const linear = time('linear', () => {
    let n = 0;
    for (let i = 0; i < linearN; i++) {
      const t = topics[i % topics.length];
      for (const [f, subs] of index) if (topicMatches(f, t)) n += subs.size;
    }
    return n;
  });

  const m1 = heapMb();
  const trie = new FilterTrie();
  const trieAdd = time('trie add', () => {
    for (const [f, c] of fs) trie.set(f, c, 1);
  });
  const trieMem = heapMb() - m1;
  const trieRun = time('trie', () => {
    let n = 0;
    for (let i = 0; i < matches; i++) trie.match(topics[i % topics.length], () => n++);
    return n;
  });

  const m2 = heapMb();
  const q = new QlobberDedup({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true });
  const qAdd = time('qlobber add', () => {
    for (const [f, c] of fs) q.add(f, c);
  });
  const qMem = heapMb() - m2;
  const qRun = time('qlobber', () => {
    let n = 0;
    // the `$` rule of §4.7.2 is not qlobber's; these topics have no `$`
    for (let i = 0; i < matches; i++) n += q.match(topics[i % topics.length]).size;
    return n;
  });
  if (trieRun.r !== qRun.r) throw new Error(`trie found ${trieRun.r}, qlobber ${qRun.r}`);
  const us = (r, n) => ((r.ms * 1000) / n).toFixed(2);
  rows.push({
    filters: fs.length,
    'linear µs/match': us(linear, linearN),
    'trie µs/match': us(trieRun, matches),
    'qlobber µs/match': us(qRun, matches),
    'trie add ms': trieAdd.ms.toFixed(0),
    'qlobber add ms': qAdd.ms.toFixed(0),
    'linear MB': linearMem.toFixed(1),
    'trie MB': trieMem.toFixed(1),
    'qlobber MB': qMem.toFixed(1),
  });
}
console.table(rows);
