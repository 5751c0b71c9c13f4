/**
 * Median (min–max) tables from the JSON lines of one or more runs. Used by run.mjs at the end
 * and by `node bench/summarize.mjs <file.jsonl>...` to print them again.
 */
export function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const int = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
const one = (x) => (x === undefined ? '–' : (Math.round(x * 10) / 10).toString());
const ms = (x) => (x === undefined ? '–' : x < 10 ? x.toFixed(2) : x.toFixed(1));

function spread(xs, fmt) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return '–';
  if (v.length === 1) return fmt(v[0]);
  return `${fmt(median(v))} (${fmt(Math.min(...v))}–${fmt(Math.max(...v))})`;
}

/** CPU time of `who` per message in µs: % of a core over the CPU window, divided by the messages */
function usPerMsg(r, who) {
  const pct = r.cpu?.[who];
  if (typeof pct !== 'number') return undefined;
  const wall = r.cpu.wallS ?? (r.e2eMs ?? NaN) / 1000;
  return ((pct / 100) * wall * 1e6) / r.n;
}

function group(records) {
  const byCase = new Map();
  for (const r of records) {
    if (!byCase.has(r.case)) byCase.set(r.case, []);
    byCase.get(r.case).push(r);
  }
  return byCase;
}

export function markdown(records) {
  const out = [];
  const byCase = group(records);
  const thr = [...byCase].filter(([, rs]) => !rs[0].latency);
  const lat = [...byCase].filter(([, rs]) => rs[0].latency);
  if (thr.length) {
    out.push(
      '| case | runs | e2e msgs/s median (min–max) | publisher-side msgs/s | Ferry CPU % | Ferry CPU µs/msg | Ferry peak RSS MiB | RabbitMQ CPU % | RabbitMQ µs/msg | bench CPU % | machine busy % (of 200) | load 1m | lost / dup |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, rs] of thr) {
      const ok = rs.filter((r) => !r.error);
      out.push(
        `| ${name} | ${ok.length}${rs.length > ok.length ? ` (+${rs.length - ok.length} failed)` : ''} | ${spread(ok.map((r) => r.e2eMsgsPerSec), int)} | ${spread(ok.map((r) => r.pubMsgsPerSec), int)} | ${spread(ok.map((r) => r.cpu?.ferry), one)} | ${spread(ok.map((r) => usPerMsg(r, 'ferry')), int)} | ${spread(ok.map((r) => r.ferryPeakRssMiB), one)} | ${spread(ok.map((r) => r.cpu?.rabbit), one)} | ${spread(ok.map((r) => usPerMsg(r, 'rabbit')), int)} | ${spread(ok.map((r) => r.cpu?.bench), one)} | ${spread(ok.map((r) => r.cpu?.machine), one)} | ${spread(rs.map((r) => r.load?.[0]), (x) => x.toFixed(2))} | ${sum(rs, 'lost')} / ${sum(rs, 'duplicated')} |`,
      );
    }
  }
  if (lat.length) {
    out.push('');
    out.push(
      '| case | runs | rate msg/s | measured msgs | p50 ms median (min–max) | p90 ms | p99 ms | max ms | Ferry CPU % | Ferry peak RSS MiB | load 1m | lost / dup |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, rs] of lat) {
      const ok = rs.filter((r) => !r.error && r.latencyMs);
      out.push(
        `| ${name} | ${ok.length}${rs.length > ok.length ? ` (+${rs.length - ok.length} failed)` : ''} | ${rs[0].rate} | ${ok[0]?.latencyMs.count ?? '–'} | ${spread(ok.map((r) => r.latencyMs.p50), ms)} | ${spread(ok.map((r) => r.latencyMs.p90), ms)} | ${spread(ok.map((r) => r.latencyMs.p99), ms)} | ${spread(ok.map((r) => r.latencyMs.max), ms)} | ${spread(ok.map((r) => r.cpu?.ferry), one)} | ${spread(ok.map((r) => r.ferryPeakRssMiB), one)} | ${spread(rs.map((r) => r.load?.[0]), (x) => x.toFixed(2))} | ${sum(rs, 'lost')} / ${sum(rs, 'duplicated')} |`,
      );
    }
  }
  return out.join('\n');
}

function sum(rs, key) {
  return rs.reduce((a, r) => a + (r.counts?.[key] ?? 0), 0);
}
