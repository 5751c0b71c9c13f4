/**
 * Fuzzing route files: the repository's route files (config/gateway.yaml, the compose example,
 * the valid and some broken fixtures; packages/config/fuzz/corpus) mutated byte-wise and with
 * YAML tokens (anchors and aliases, merge keys, tags, flow collections, env references, deep
 * nesting), written to a file and read by loadConfig. For every input: loadConfig resolves
 * (never throws), with a configuration or with errors that each carry a position and format,
 * within a time bound and without ballooning the heap (an alias bomb must not expand).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMutations, fuzz, fuzzBudgetMs, fuzzInputs, loadCorpus } from '@ferry/testkit';
import { loadConfig } from './index.js';
import { fakeRegistry } from '../test/fake-connectors.js';

const here = dirname(fileURLToPath(import.meta.url));
const corpus = loadCorpus(join(here, '../fuzz/corpus'), ['.yaml']);
const tokens = [
  '&a ',
  '*a',
  '<<: *a\n',
  'x: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n',
  '!!binary ',
  '!!str ',
  '!!python/object ',
  '? ',
  '{',
  '}',
  '[',
  ']',
  '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',
  '${FERRY_FUZZ_UNSET}',
  '${FERRY_FUZZ_SET:-fallback}',
  '${',
  '{1}',
  '{header.',
  '"\\u0000"',
  '\t',
  '\r\n',
  '\u0000',
  '\uFEFF',
  '---\n',
  '...\n',
  '|\n  ',
  '>-\n  ',
  '1e999',
  '0x7fffffffffffffff',
  '~',
  '- ',
  ': ',
  'x-extra: ',
  "'",
  '"',
  '#',
].map((t) => Buffer.from(t, 'utf8'));

// CPU time, not wall time: on a loaded machine the wall clock measures the other processes.
// Far above a normal load (a few ms), far below a YAML alias expansion
const WITHIN_MS = 5_000;
const HEAP_PER_CASE = 128 * 1024 * 1024;

describe('route file fuzz', () => {
  const registry = fakeRegistry();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-fuzz-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('the corpus reads: the valid seeds load, the broken ones give positioned errors', async () => {
    for (const seed of corpus) {
      const file = join(dir, seed.name);
      writeFileSync(file, seed.bytes);
      const r = await loadConfig(file, registry, { env: { FERRY_FUZZ_SET: 'set' }, defaultId: 'fuzz' });
      if (seed.name.startsWith('broken-')) expect({ seed: seed.name, ok: r.ok }).toEqual({ seed: seed.name, ok: false });
      if (!r.ok) for (const e of r.errors) expect(typeof e.format()).toBe('string');
    }
  });

  it('mutated route files: loadConfig never throws, answers within 5 s of CPU, errors carry a position, heap bounded', async () => {
    const budget = fuzzBudgetMs(3);
    const file = join(dir, 'fuzzed.yaml');
    let ok = 0;
    let refused = 0;
    let slowest = 0;
    let slowestInput = '';
    let peakHeap = 0;
    const run = await fuzz(fuzzInputs(corpus, { tokens, maxMutations: 8 }), budget, async (input) => {
      const bytes = applyMutations(corpus, input, tokens);
      writeFileSync(file, bytes);
      const heapAtStart = process.memoryUsage().heapUsed;
      const started = process.cpuUsage();
      let r: Awaited<ReturnType<typeof loadConfig>>;
      try {
        r = await loadConfig(file, registry, { env: { FERRY_FUZZ_SET: 'set' }, defaultId: 'fuzz' });
      } catch (err) {
        throw new Error(`loadConfig threw ${String(err)} on ${JSON.stringify(bytes.toString('utf8'))}`, { cause: err });
      }
      const cpu = process.cpuUsage(started);
      const ms = (cpu.user + cpu.system) / 1000;
      if (ms > slowest) slowestInput = `${bytes.length} bytes, ${input.mutations.map((m) => m.op).join('+')}`;
      slowest = Math.max(slowest, ms);
      const heap = process.memoryUsage().heapUsed - heapAtStart;
      peakHeap = Math.max(peakHeap, heap);
      if (ms > WITHIN_MS) throw new Error(`loadConfig took ${ms.toFixed(0)} ms of CPU on ${JSON.stringify(bytes.toString('utf8'))}`);
      if (heap > HEAP_PER_CASE) throw new Error(`heap grew ${(heap / 1e6).toFixed(0)} MB on ${JSON.stringify(bytes.toString('utf8'))}`);
      if (r.ok) {
        ok++;
        return;
      }
      refused++;
      if (r.errors.length === 0) throw new Error(`refused without an error on ${JSON.stringify(bytes.toString('utf8'))}`);
      for (const e of r.errors) {
        const text = e.format();
        if (typeof text !== 'string' || text.length === 0) throw new Error(`an error that does not format on ${JSON.stringify(bytes.toString('utf8'))}`);
      }
    });
    console.log(
      `route file fuzz: ${run.runs} inputs in ${(run.ms / 1000).toFixed(1)} s from ${corpus.length} seeds: ${ok} loaded, ${refused} refused with errors; ` +
        `slowest ${slowest.toFixed(0)} ms of CPU (${slowestInput}); largest heap growth during one input ${(peakHeap / 1e6).toFixed(1)} MB`,
    );
    expect(run.runs).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(0);
  }, 60_000);
});
