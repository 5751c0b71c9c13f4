/**
 * Median (min–max) tables from the JSON lines of one or more runs. Used by run.mjs at the end
 * and by `node bench/summarize.mjs <file.jsonl>...` to print them again.
 */
import { pooledQuantile } from './histogram.mjs';

function median(xs) {
  const s = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return undefined;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const int = (x) => (x === undefined ? '–' : Math.round(x).toLocaleString('en-US'));
/** rates: whole numbers, a tenth below 100 (large messages) */
const rate = (x) => (x === undefined ? '–' : x < 100 ? (Math.round(x * 10) / 10).toString() : int(x));
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

/**
 * Ferry's CPU in seconds over a run's warm-up (WARM_N messages before the measured ones): what a
 * start costs, beside the steady state's per-message figure; undefined for a cold run.
 */
function warmCpuS(r) {
  const pct = r.warmCpu?.ferry;
  if (typeof pct !== 'number' || typeof r.warmCpu.wallS !== 'number') return undefined;
  return (pct / 100) * r.warmCpu.wallS;
}

/** the part of the warm-up's CPU above what its messages cost at the steady state's rate per message */
function warmExcessS(r) {
  const w = warmCpuS(r);
  const us = usPerMsg(r, 'ferry');
  return w === undefined || us === undefined || !(r.warm > 0) ? undefined : w - (r.warm * us) / 1e6;
}

/**
 * What a throughput case's figures measure: after how many warm-up messages (the steady state), or
 * from a fresh process's first message (cold: WARM_N=0, and every record written before `warm`).
 */
function regime(rs) {
  const ws = [...new Set(rs.map((r) => r.warm ?? 0))];
  if (ws.length > 1) return `mixed (${ws.join(', ')})`;
  return ws[0] > 0 ? `after ${int(ws[0])}` : 'cold';
}

/**
 * Case K: the server's CPU time per device in µs over the storm (first connect to last SUBACK),
 * every device opened counted, whatever its outcome. Less sensitive to a busy machine than the
 * connect rate: a process given a small share of the cores connects slowly but spends the same.
 */
function usPerDevice(r) {
  const pct = r.cpu?.server;
  if (typeof pct !== 'number' || typeof r.cpu.wallS !== 'number') return undefined;
  return ((pct / 100) * r.cpu.wallS * 1e6) / r.devices;
}

function group(records) {
  const byCase = new Map();
  for (const r of records) {
    if (!byCase.has(r.case)) byCase.set(r.case, []);
    byCase.get(r.case).push(r);
  }
  return byCase;
}

/** the warm-up's CPU in seconds and, in brackets, its part above the steady state: medians */
function warmCell(rs) {
  const w = median(rs.map(warmCpuS));
  if (w === undefined) return '–';
  const x = median(rs.map(warmExcessS));
  return `${w.toFixed(2)}${x === undefined ? '' : ` (${x.toFixed(2)})`}`;
}

const runs = (rs, ok) => `${ok.length}${rs.length > ok.length ? ` (+${rs.length - ok.length} failed)` : ''}`;

export function markdown(records) {
  const out = [];
  const byCase = group(records);
  const thr = [...byCase].filter(([, rs]) => !rs[0].latency && rs[0].kind !== 'connections');
  const lat = [...byCase].filter(([, rs]) => rs[0].latency);
  const conn = [...byCase].filter(([, rs]) => rs[0].kind === 'connections');
  if (thr.length) {
    out.push(
      '| case | runs | warm-up msgs | e2e msgs/s median (min–max) | publisher-side msgs/s | Ferry CPU % | Ferry CPU µs/msg | Ferry warm-up CPU s per start (above the steady state) | Ferry peak RSS MiB | RabbitMQ CPU % | RabbitMQ µs/msg | own broker µs/msg | own broker peak RSS MiB | bench CPU % | machine busy % (of 200) | load 1m | lost / dup |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, rs] of thr) {
      const ok = rs.filter((r) => !r.error);
      const label = rs[0].receivers ? `${name} (${rs[0].receivers} receivers)` : rs[0].payloadBytes >= 1024 * 1024 ? `${name} (n=${rs[0].n})` : name;
      out.push(
        `| ${label} | ${runs(rs, ok)} | ${regime(rs)} | ${spread(ok.map((r) => r.e2eMsgsPerSec), rate)} | ${spread(ok.map((r) => r.pubMsgsPerSec), rate)} | ${spread(ok.map((r) => r.cpu?.ferry), one)} | ${spread(ok.map((r) => usPerMsg(r, 'ferry')), int)} | ${warmCell(ok)} | ${spread(ok.map((r) => r.ferryPeakRssMiB), one)} | ${spread(ok.map((r) => r.cpu?.rabbit), one)} | ${spread(ok.map((r) => usPerMsg(r, 'rabbit')), int)} | ${spread(ok.map((r) => usPerMsg(r, 'broker')), int)} | ${spread(ok.map((r) => r.brokerPeakRssMiB), one)} | ${spread(ok.map((r) => r.cpu?.bench), one)} | ${spread(ok.map((r) => r.cpu?.machine), one)} | ${spread(rs.map((r) => r.load?.[0]), (x) => x.toFixed(2))} | ${sum(rs, 'lost')} / ${sum(rs, 'duplicated')} |`,
      );
    }
  }
  if (conn.length) {
    out.push('');
    out.push(
      '| case | runs | devices | subscribed | connect time ms | connects/s | refused / reset / rejected / closed / timed out / other | dropped while held | server RSS MiB connected | held | held, private (RssAnon) | peak | one message to all, ms | server CPU % (storm) | server CPU µs per device (storm) | load 1m | lost / dup |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, rs] of conn) {
      const ok = rs.filter((r) => !r.error);
      const o = (k) => rs.reduce((a, r) => a + (r.outcome?.[k] ?? 0), 0);
      const other = rs.reduce((a, r) => a + Object.values(r.outcome?.otherErrors ?? {}).reduce((x, y) => x + y, 0), 0);
      out.push(
        `| ${name} | ${runs(rs, ok)} | ${rs[0].devices} | ${spread(ok.map((r) => r.outcome.subscribed), int)} | ${spread(ok.map((r) => r.connectMs), int)} | ${spread(ok.map((r) => r.connectsPerSec), int)} | ${o('refused')} / ${o('reset')} / ${o('rejected')} / ${o('closed')} / ${o('timedOut')} / ${other} | ${rs.reduce((a, r) => a + (r.droppedWhileHeld ?? 0), 0)} | ${spread(ok.map((r) => r.serverRssConnectedMiB), one)} | ${spread(ok.map((r) => r.serverRssHeldMiB), one)} | ${spread(ok.map((r) => r.serverAnonRssHeldMiB), one)} | ${spread(ok.map((r) => r.serverPeakRssMiB), one)} | ${spread(ok.map((r) => r.deliverAllMs), ms)} | ${spread(ok.map((r) => r.cpu?.server), one)} | ${spread(ok.map(usPerDevice), int)} | ${spread(rs.map((r) => r.load?.[0]), (x) => x.toFixed(2))} | ${sum(rs, 'lost')} / ${sum(rs, 'duplicated')} |`,
      );
    }
  }
  if (lat.length) {
    out.push('');
    out.push(
      '| case | runs | rate msg/s | measured msgs | p50 ms median (min–max) | p90 ms | p99 ms | p99 ms without the first seconds | max ms | Ferry CPU % | Ferry peak RSS MiB | run-queue wait ms/s: Ferry main thread, bench main thread | load 1m | lost / dup |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const [name, rs] of lat) {
      const ok = rs.filter((r) => !r.error && r.latencyMs);
      out.push(
        `| ${name} | ${ok.length}${rs.length > ok.length ? ` (+${rs.length - ok.length} failed)` : ''} | ${rs[0].rate} | ${ok[0]?.latencyMs.count ?? '–'} | ${spread(ok.map((r) => r.latencyMs.p50), ms)} | ${spread(ok.map((r) => r.latencyMs.p90), ms)} | ${spread(ok.map((r) => r.latencyMs.p99), ms)} | ${spread(ok.map((r) => r.latencyMs.settled?.p99), ms)} | ${spread(ok.map((r) => r.latencyMs.max), ms)} | ${spread(ok.map((r) => r.cpu?.ferry), one)} | ${spread(ok.map((r) => r.ferryPeakRssMiB), one)} | ${spread(ok.map((r) => r.sched?.ferry?.mainWaitMsPerS), one)}; ${spread(ok.map((r) => r.sched?.bench?.mainWaitMsPerS), one)} | ${spread(rs.map((r) => r.load?.[0]), (x) => x.toFixed(2))} | ${sum(rs, 'lost')} / ${sum(rs, 'duplicated')} |`,
      );
    }
  }
  return out.join('\n');
}

/**
 * Each Ferry case beside its baselines of the same run (cases sharing a `pair`): the ratio of
 * the medians, Ferry ÷ baseline. Above 1 Ferry is faster (rates) or needs more (time, memory).
 */
export function ratios(records) {
  const byPair = new Map();
  for (const r of records) {
    if (r.error) continue;
    // records written before cases had a `pair` pair by their letter
    const pair = r.pair ?? r.case.split('.')[0];
    if (!byPair.has(pair)) byPair.set(pair, new Map());
    const cases = byPair.get(pair);
    if (!cases.has(r.case)) cases.set(r.case, []);
    cases.get(r.case).push(r);
  }
  const ratio = (a, b) => (a === undefined || b === undefined || b === 0 ? '–' : (a / b).toFixed(2));
  const m = (rs, f) => median(rs.map(f));
  const out = ['| pair | Ferry case | baseline | what | Ferry | baseline | Ferry ÷ baseline |', '|---|---|---|---|---|---|---|'];
  // a latency case: the whole window, and the same window without its first seconds (a process
  // started for the run still warming up, which a gateway running for days is not)
  const latencyRows = (row, fr, other) => {
    row('p50 ms', m(fr, (r) => r.latencyMs?.p50), m(other, (r) => r.latencyMs?.p50), ms);
    row('p99 ms', m(fr, (r) => r.latencyMs?.p99), m(other, (r) => r.latencyMs?.p99), ms);
    // interleaved runs (SLICE_MS): the percentiles of all rounds' messages pooled, and the spread
    // of the ratio of the two paths' p99 within each round, where both met the same machine
    const hf = fr.map((r) => r.latencyHist).filter(Boolean);
    const ho = other.map((r) => r.latencyHist).filter(Boolean);
    if (hf.length > 0 && ho.length > 0) {
      row(`p50 ms, pooled over ${hf.length} round(s)`, pooledQuantile(hf, 0.5), pooledQuantile(ho, 0.5), ms);
      row(`p99 ms, pooled over ${hf.length} round(s)`, pooledQuantile(hf, 0.99), pooledQuantile(ho, 0.99), ms);
      // a typical second's p99: the median over every second of the rounds, which an episode of a few
      // seconds in which the machine starves RabbitMQ moves little (docs/benchmarks-log.md, session 28)
      const turnP99 = (rs) => median(rs.flatMap((r) => (r.slices ?? []).map((x) => x.p99)));
      row(`median over the seconds of a second's p99, ms`, turnP99(fr), turnP99(other), ms);
      const perRound = fr
        .map((r) => [r.latencyMs?.p99, other.find((o) => o.round === r.round && o.interleaved)?.latencyMs?.p99])
        .filter(([a, b]) => a !== undefined && b !== undefined && b > 0)
        .map(([a, b]) => a / b);
      if (perRound.length > 1) out.push(`| ${fr[0].pair ?? ''} | | | p99 ratio within each round: median (min–max) | | | ${spread(perRound, (x) => x.toFixed(2))} |`);
    }
    const from = fr[0].latencyMs?.settled?.fromSecond;
    if (from !== undefined) row(`p99 ms from second ${from + 1} on`, m(fr, (r) => r.latencyMs?.settled?.p99), m(other, (r) => r.latencyMs?.settled?.p99), ms);
  };
  for (const [pair, cases] of byPair) {
    const ferry = [...cases].filter(([name]) => name.includes('.ferry.'));
    const base = [...cases].filter(([name]) => name.includes('.base.'));
    for (const [fName, fr] of ferry) {
      // FERRY_BEFORE: the other build's run of the same case, compared like a baseline, Ferry to Ferry
      const before = fName.endsWith('@before') ? undefined : cases.get(`${fName}@before`);
      if (fName.endsWith('@before')) continue;
      if (before !== undefined) {
        const row = (what, f, b, fmt) => out.push(`| ${pair} | ${fName} | ${fName}@before | ${what} | ${fmt(f)} | ${fmt(b)} | ${ratio(f, b)} |`);
        if (fr[0].kind === 'connections') {
          row('connects/s', m(fr, (r) => r.connectsPerSec), m(before, (r) => r.connectsPerSec), int);
          row('server CPU µs per device', m(fr, usPerDevice), m(before, usPerDevice), int);
          row('server RSS held, MiB', m(fr, (r) => r.serverRssHeldMiB), m(before, (r) => r.serverRssHeldMiB), one);
          row('server private RSS held (RssAnon), MiB', m(fr, (r) => r.serverAnonRssHeldMiB), m(before, (r) => r.serverAnonRssHeldMiB), one);
        } else if (!fr[0].latency) {
          row(`e2e msgs/s, ${regime(fr)}`, m(fr, (r) => r.e2eMsgsPerSec), m(before, (r) => r.e2eMsgsPerSec), rate);
          row(`CPU µs/msg: Ferry ÷ Ferry before, ${regime(fr)}`, m(fr, (r) => usPerMsg(r, 'ferry')), m(before, (r) => usPerMsg(r, 'ferry')), int);
          if (m(fr, warmCpuS) !== undefined) row('warm-up CPU s per start', m(fr, warmCpuS), m(before, warmCpuS), (x) => (x === undefined ? '–' : x.toFixed(2)));
          row('peak RSS MiB', m(fr, (r) => r.ferryPeakRssMiB), m(before, (r) => r.ferryPeakRssMiB), one);
        } else {
          latencyRows(row, fr, before);
        }
      }
      for (const [bName, br] of base) {
        const row = (what, f, b, fmt) => out.push(`| ${pair} | ${fName} | ${bName} | ${what} | ${fmt(f)} | ${fmt(b)} | ${ratio(f, b)} |`);
        if (fr[0].kind === 'connections') {
          row('connects/s', m(fr, (r) => r.connectsPerSec), m(br, (r) => r.connectsPerSec), int);
          row('server CPU µs per device', m(fr, usPerDevice), m(br, usPerDevice), int);
          row('server RSS held, MiB', m(fr, (r) => r.serverRssHeldMiB), m(br, (r) => r.serverRssHeldMiB), one);
          row('server private RSS held (RssAnon), MiB', m(fr, (r) => r.serverAnonRssHeldMiB), m(br, (r) => r.serverAnonRssHeldMiB), one);
          row('one message to all, ms', m(fr, (r) => r.deliverAllMs), m(br, (r) => r.deliverAllMs), ms);
        } else if (fr[0].latency) {
          latencyRows(row, fr, br);
        } else {
          row(`e2e msgs/s, ${regime(fr)}`, m(fr, (r) => r.e2eMsgsPerSec), m(br, (r) => r.e2eMsgsPerSec), rate);
          // the baseline's server: the bench's own broker, or RabbitMQ (whose plugin is the whole path)
          const bWho = br[0].broker ? 'broker' : 'rabbit';
          row(`CPU µs/msg: Ferry ÷ ${br[0].broker ?? 'RabbitMQ'}, ${regime(fr)}`, m(fr, (r) => usPerMsg(r, 'ferry')), m(br, (r) => usPerMsg(r, bWho)), int);
          row('peak RSS MiB', m(fr, (r) => r.ferryPeakRssMiB), m(br, (r) => r.brokerPeakRssMiB ?? undefined), one);
        }
      }
    }
  }
  return out.length > 2 ? out.join('\n') : '';
}

function sum(rs, key) {
  return rs.reduce((a, r) => a + (r.counts?.[key] ?? 0), 0);
}
