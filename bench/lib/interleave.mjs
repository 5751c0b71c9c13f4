/**
 * The latency cases' pacer: several paths (Ferry's, the plugin's, a `@before` Ferry's) measured in
 * turns of `sliceMs` within one window, each at `rate` msg/s while its turn lasts, so that every
 * path meets the same machine: a minute in which other work takes the cores falls on all of them
 * nearly alike, where separate runs give one path a busy minute and the other a quiet one.
 *
 * `sends[i](seq, done)` sends path i's message `seq` (0, 1, … of its own measured messages) and
 * calls `done(err?)` on confirmation; at most `window` of a path's are unconfirmed. `perPath`
 * messages go on each path, `rate × sliceMs / 1000` per turn. `onSlice(info)` is called as a turn
 * ends, with the path, its first sequence number and the one after its last, and the turn's start
 * and end: the caller takes its probes there (bench/lib/procstat.mjs `sliceProbe`). Resolves,
 * once every turn has ended, with the time of the last confirmation of all paths.
 */
import { performance } from 'node:perf_hooks';

export function interleaved(sends, perPath, rate, sliceMs, window, onSlice) {
  const k = sends.length;
  const perSlice = Math.max(1, Math.round((rate * sliceMs) / 1000));
  const slices = Math.ceil(perPath / perSlice);
  return new Promise((resolve, reject) => {
    const next = new Array(k).fill(0);
    const inflight = new Array(k).fill(0);
    let confirmed = 0;
    let failed = false;
    let lastConfirm;
    const doneFor = (i) => (err) => {
      if (failed) return;
      if (err) {
        failed = true;
        reject(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      inflight[i]--;
      if (++confirmed === perPath * k) lastConfirm = performance.now();
      finish();
    };
    // done when every turn has ended and every message is confirmed, in either order
    const finish = () => {
      if (lastConfirm !== undefined && turn >= slices * k) resolve(lastConfirm);
    };
    const dones = sends.map((_, i) => doneFor(i));
    let turn = 0;
    let turnStart = performance.now();
    let turnFrom = 0;
    const tick = () => {
      if (failed) return;
      const now = performance.now();
      const i = turn % k;
      const end = Math.min(perPath, turnFrom + perSlice);
      // this turn's messages due by now, at `rate` from the turn's start
      const due = Math.min(end, turnFrom + Math.floor(((now - turnStart) * rate) / 1000) + 1);
      while (next[i] < due && inflight[i] < window) {
        inflight[i]++;
        sends[i](next[i]++, dones[i]);
      }
      if (next[i] >= end && now - turnStart >= sliceMs) {
        onSlice?.({ path: i, from: turnFrom, to: end, startMs: turnStart, endMs: now });
        turn++;
        if (turn >= slices * k) return finish();
        turnStart = now;
        turnFrom = Math.floor(turn / k) * perSlice;
      }
      setTimeout(tick, 1);
    };
    tick();
  });
}
