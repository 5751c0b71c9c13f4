#!/usr/bin/env node
// Print the median (min–max) tables of one or more result files again, and the ratios of each
// Ferry case to its baselines:
//   node bench/summarize.mjs bench/results/<timestamp>.jsonl [...]
import { readFileSync } from 'node:fs';
import { markdown, ratios } from './lib/report.mjs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node bench/summarize.mjs <results.jsonl>...');
  process.exit(2);
}
const records = files.flatMap((f) =>
  readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .filter((r) => r.type === 'run'),
);
console.log(`${markdown(records)}\n\n${ratios(records)}`);
