/**
 * DIAGNOSTIC, not a fix: preloaded into the Ferry process only
 * (`FERRY_IMPORT=bench/experiments/alloc-profile.mjs ALLOC_PROFILE=<file>`) to see what the
 * young generation fills with: V8's sampling heap profiler, keeping the samples of objects the
 * scavenger and the mark-compactor already collected, so the profile is of every allocation
 * (one sample per ~8 KiB), written when the process exits. `ALLOC_LIVE=1`: only what is still
 * on the heap at exit; with `ALLOC_SURVIVORS=1` as well, what outlived a scavenge (a young
 * object that survives is copied, and that copying is the scavenge's pause). Read it with
 * `node bench/experiments/alloc-top.mjs <file>`.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const file = process.env.ALLOC_PROFILE ?? `/tmp/ferry-${process.pid}.heapprofile`;
const session = new Session();
session.connect();
const everything = process.env.ALLOC_LIVE !== '1';
session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: everything || process.env.ALLOC_SURVIVORS === '1', includeObjectsCollectedByMinorGC: everything });
process.once('exit', () => {
  session.post('HeapProfiler.stopSampling', (err, res) => {
    if (err) process.stderr.write(`alloc-profile: ${err.message}\n`);
    else writeFileSync(file, JSON.stringify(res.profile));
  });
});
