// The cost of durable (fsynced) spool appends against unsynced ones, and of recovery at open.
// Run after a build:  npx tsc -b && node packages/spool/bench/append-cost.mjs [dir]
// `dir` should be on the disk the spool will use (default: the OS temp folder).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Spool, encodeMessage } from '../dist/index.js';
import { createMessage, silentLogger, noopMetrics } from '../../core/dist/index.js';

const base = process.argv[2] ?? tmpdir();
const value = encodeMessage({
  message: createMessage({
    body: Buffer.alloc(200, 7),
    headers: new Map([['device', 'dev-17'], ['seq', 42]]),
    source: { connector: 'devices', protocol: 'mqtt', address: 'site/dev-17/data' },
    meta: { mqtt: { qos: 1, clientId: 'dev-17' } },
  }),
  to: { exchange: 'telemetry', routingKey: 'dev.dev-17' },
});

async function run(label, { sync, inFlight, count }) {
  const dir = mkdtempSync(path.join(base, 'ferry-spool-bench-'));
  const spool = new Spool({ dir, sync, logger: silentLogger, metrics: noopMetrics });
  await spool.open();
  const lat = [];
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    while (next < count) {
      next++;
      const s = performance.now();
      await spool.append('q', value);
      lat.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const ms = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const p = (q) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))].toFixed(3);
  console.log(
    `${label.padEnd(34)} ${String(count).padStart(6)} appends  ${String(Math.round((count * 1000) / ms)).padStart(7)} /s   p50 ${p(0.5)} ms  p99 ${p(0.99)} ms`,
  );
  await spool.close();
  return dir;
}

console.log(`entry: ${value.length} bytes encoded; dir: ${base}`);
for (const inFlight of [1, 16, 64]) {
  rmSync(await run(`sync=true  in flight ${inFlight}`, { sync: true, inFlight, count: inFlight === 1 ? 2000 : 20000 }), { recursive: true });
  rmSync(await run(`sync=false in flight ${inFlight}`, { sync: false, inFlight, count: 20000 }), { recursive: true });
}

// recovery: open a spool holding 200,000 entries (about 60 MB)
const dir = await run('fill for recovery (sync=false)', { sync: false, inFlight: 64, count: 200000 });
const t = performance.now();
const spool = new Spool({ dir, logger: silentLogger, metrics: noopMetrics });
await spool.open();
console.log(`open + recover ${spool.depth('q').messages} entries (${(spool.bytes / 1e6).toFixed(1)} MB): ${Math.round(performance.now() - t)} ms`);
await spool.close();
rmSync(dir, { recursive: true });
