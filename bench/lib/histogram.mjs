/**
 * Latencies kept as a log-bucketed histogram (2 % wide buckets from 10 µs), small enough to write
 * with every latency run (a few hundred buckets) and to pool: the percentiles of several rounds
 * taken over all their messages together, not a median of each round's percentile, which one
 * bad round moves less than it should and one good round more.
 */
const BASE_MS = 0.01;
const STEP = Math.log(1.02);

/** `{ [bucket]: count }` of the latencies (ms) that are numbers */
export function histogram(latencies) {
  const h = {};
  for (const x of latencies) {
    if (Number.isNaN(x)) continue;
    const b = x <= BASE_MS ? 0 : Math.floor(Math.log(x / BASE_MS) / STEP);
    h[b] = (h[b] ?? 0) + 1;
  }
  return h;
}

/** the quantile `p` (0–1) of histograms pooled, in ms: the middle of its bucket (±1 %) */
export function pooledQuantile(hists, p) {
  const all = new Map();
  let n = 0;
  for (const h of hists) {
    for (const [b, c] of Object.entries(h)) {
      all.set(Number(b), (all.get(Number(b)) ?? 0) + c);
      n += c;
    }
  }
  if (n === 0) return undefined;
  const rank = Math.max(1, Math.ceil(p * n));
  let seen = 0;
  for (const b of [...all.keys()].sort((x, y) => x - y)) {
    seen += all.get(b);
    if (seen >= rank) return BASE_MS * Math.exp((b + 0.5) * STEP);
  }
  return undefined;
}
