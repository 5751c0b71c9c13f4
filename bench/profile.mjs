#!/usr/bin/env node
/**
 * Where the time goes in a V8 CPU profile of Ferry (`FERRY_PROF=1 node bench/run.mjs` writes
 * one per Ferry process into bench/results/<ts>/prof/):
 *
 *   node bench/profile.mjs <file.cpuprofile> [--top 25]
 *
 * Prints, as shares of the busy (non-idle) samples: time by owner (Ferry's packages, each
 * library, Node internals, GC), self and inclusive, the top functions by self time, and
 * Ferry's functions by inclusive time (each counted once per sample, however deep it recurses).
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--'));
const topIdx = args.indexOf('--top');
const TOP = topIdx >= 0 ? Number(args[topIdx + 1]) : 25;
if (!file) {
  console.error('usage: node bench/profile.mjs <file.cpuprofile> [--top N]');
  process.exit(2);
}
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** who owns a script: a Ferry package, a library in node_modules, or Node itself */
function owner(url) {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const m = /\/packages\/([^/]+)\//.exec(url);
  if (m) return `ferry:${m[1]}`;
  return url;
}

function short(url) {
  const m = /\/(packages\/.*)$/.exec(url) ?? /\/node_modules\/(.*)$/.exec(url);
  return m ? m[1] : url.replace(/^file:\/\//, '');
}

const key = (cf) => `${cf.functionName || '(anonymous)'} ${short(cf.url)}:${cf.lineNumber + 1}`;

// time per sample: timeDeltas[i] is the time before sample i; use the next delta as sample i's duration
const samples = prof.samples;
const deltas = prof.timeDeltas;
const dur = samples.map((_, i) => (i + 1 < deltas.length ? deltas[i + 1] : 0));
let busy = 0;
let idle = 0;
const byOwner = new Map();
const self = new Map();
const incl = new Map();
const inclOwner = new Map();
for (let i = 0; i < samples.length; i++) {
  const node = byId.get(samples[i]);
  const d = dur[i];
  const name = node.callFrame.functionName;
  if (name === '(idle)') {
    idle += d;
    continue;
  }
  busy += d;
  const special = name === '(garbage collector)' || name === '(program)' ? name : undefined;
  const o = special ?? owner(node.callFrame.url);
  byOwner.set(o, (byOwner.get(o) ?? 0) + d);
  const k = special ?? key(node.callFrame);
  self.set(k, (self.get(k) ?? 0) + d);
  const seen = new Set();
  const owners = new Set();
  for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
    const cf = byId.get(id).callFrame;
    const o = owner(cf.url);
    if (cf.url && !owners.has(o)) {
      owners.add(o);
      inclOwner.set(o, (inclOwner.get(o) ?? 0) + d);
    }
    if (!o.startsWith('ferry:')) continue;
    const kk = key(cf);
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) ?? 0) + d);
  }
}

const pct = (x) => `${((x / busy) * 100).toFixed(1)} %`;
const total = (prof.endTime - prof.startTime) / 1000;
console.log(`${file}\nprofile ${(total / 1000).toFixed(1)} s, busy ${(busy / 1e6).toFixed(2)} s (${((busy / (busy + idle)) * 100).toFixed(0)} % of the sampled time), idle ${(idle / 1e6).toFixed(2)} s\n`);
const table = (title, m, n) => {
  console.log(`${title}\n| share of busy | what |\n|---:|---|`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`| ${pct(v)} | ${k} |`);
  console.log('');
};
table('By owner (self time)', byOwner, 30);
table('By owner, inclusive (the time spent in or below code of that owner; owners nest, so shares overlap)', inclOwner, 20);
table(`Top ${TOP} functions by self time`, self, TOP);
table(`Top ${TOP} Ferry functions by inclusive time`, incl, TOP);
