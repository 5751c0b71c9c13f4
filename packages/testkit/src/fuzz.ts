/**
 * Mutational fuzzing for Ferry's parsers and listeners: inputs are seeds from a corpus kept in
 * the repository (bytes real clients sent, route files), mutated by fast-check (bit flips, byte
 * edits, splices from other seeds, deleted and repeated ranges, length fields set to extremes,
 * protocol tokens such as huge counts inserted), and run for a bounded time. fast-check shrinks
 * a failing input to a small one and prints the seed that replays it (FERRY_FUZZ_SEED).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import type { Logger } from '@ferry/core';
import type { MemoryConnection } from './memory-connection.js';

/**
 * The time one fuzz target runs: `defaultSeconds` in `npm test` (all targets together stay
 * under about 20 s), or FERRY_FUZZ_SECONDS when set, to fuzz longer locally.
 */
export function fuzzBudgetMs(defaultSeconds: number): number {
  const env = process.env['FERRY_FUZZ_SECONDS'];
  const s = env === undefined || env === '' ? defaultSeconds : Number(env);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`FERRY_FUZZ_SECONDS must be a positive number of seconds, not "${env}"`);
  return Math.round(s * 1000);
}

/** A corpus seed: a file of the corpus folder. */
export interface Seed {
  readonly name: string;
  readonly bytes: Buffer;
}

/** Every file in `dir` whose name ends with one of `extensions`, sorted by name; fails when there is none. */
export function loadCorpus(dir: string, extensions: readonly string[] = ['.bin']): Seed[] {
  const seeds = readdirSync(dir)
    .filter((f) => extensions.some((e) => f.endsWith(e)))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }));
  if (seeds.length === 0) throw new Error(`empty fuzz corpus: no ${extensions.join('/')} file in ${dir}`);
  return seeds;
}

/** One edit of a seed. Positions are taken modulo the length of the bytes at that point. */
export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'splice'; readonly at: number; readonly seed: number; readonly from: number; readonly length: number }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'repeat'; readonly at: number; readonly length: number; readonly times: number }
  | { readonly op: 'length'; readonly at: number; readonly width: 1 | 2 | 4; readonly value: number }
  | { readonly op: 'token'; readonly at: number; readonly token: number }
  | { readonly op: 'truncate'; readonly length: number };

/** A fuzz input: which seed, the edits made to it, and where the stream is cut into reads. */
export interface FuzzInput {
  readonly seed: number;
  readonly mutations: readonly Mutation[];
  /** read sizes the bytes are delivered in (repeated until the end) */
  readonly reads: readonly number[];
}

const EXTREMES = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

export interface MutationOptions {
  /** protocol tokens worth inserting whole (a huge array header, a property id, a YAML anchor) */
  readonly tokens?: readonly Buffer[];
  /** at most this many edits per input; default 6 */
  readonly maxMutations?: number;
}

/** fast-check arbitrary of fuzz inputs over a corpus. */
export function fuzzInputs(corpus: readonly Seed[], opts: MutationOptions = {}): fc.Arbitrary<FuzzInput> {
  const tokens = opts.tokens ?? [];
  const at = fc.nat();
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ op: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constant('set' as const), at, value: fc.oneof(fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x40, 0x0a, 0x3a, 0x5c), fc.integer({ min: 0, max: 255 })) }),
    fc.record({ op: fc.constant('splice' as const), at, seed: fc.nat({ max: corpus.length - 1 }), from: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ op: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 32 }) }),
    fc.record({ op: fc.constant('repeat' as const), at, length: fc.integer({ min: 1, max: 48 }), times: fc.integer({ min: 1, max: 200 }) }),
    fc.record({ op: fc.constant('length' as const), at, width: fc.constantFrom(1 as const, 2 as const, 4 as const), value: fc.constantFrom(...EXTREMES) }),
    ...(tokens.length === 0 ? [] : [fc.record({ op: fc.constant('token' as const), at, token: fc.nat({ max: tokens.length - 1 }) })]),
    fc.record({ op: fc.constant('truncate' as const), length: fc.nat() }),
  );
  return fc.record({
    seed: fc.nat({ max: corpus.length - 1 }),
    mutations: fc.array(mutation, { minLength: 0, maxLength: opts.maxMutations ?? 6 }),
    reads: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }),
  });
}

/** The bytes of a fuzz input: its seed with the edits applied in order. */
export function applyMutations(corpus: readonly Seed[], input: FuzzInput, tokens: readonly Buffer[] = []): Buffer {
  let b = Buffer.from((corpus[input.seed] as Seed).bytes);
  const pos = (n: number, len: number): number => (len === 0 ? 0 : n % len);
  for (const m of input.mutations) {
    switch (m.op) {
      case 'flip':
        if (b.length > 0) b[pos(m.at, b.length)]! ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length > 0) b[pos(m.at, b.length)] = m.value;
        break;
      case 'splice': {
        const src = (corpus[m.seed] as Seed).bytes;
        const from = pos(m.from, src.length);
        const i = pos(m.at, b.length + 1);
        b = Buffer.concat([b.subarray(0, i), src.subarray(from, from + m.length), b.subarray(i)]);
        break;
      }
      case 'delete': {
        const i = pos(m.at, b.length);
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.length)]);
        break;
      }
      case 'repeat': {
        const i = pos(m.at, b.length);
        const part = b.subarray(i, i + m.length);
        b = Buffer.concat([b.subarray(0, i + part.length), ...Array.from({ length: m.times }, () => part), b.subarray(i + part.length)]);
        break;
      }
      case 'length': {
        if (b.length < m.width) break;
        const i = pos(m.at, b.length - m.width + 1);
        const v = m.width === 4 ? m.value >>> 0 : m.value & (m.width === 2 ? 0xffff : 0xff);
        if (m.width === 4) b.writeUInt32BE(v, i);
        else if (m.width === 2) b.writeUInt16BE(v, i);
        else b[i] = v;
        break;
      }
      case 'token': {
        const t = tokens[m.token];
        if (t === undefined) break;
        const i = pos(m.at, b.length + 1);
        b = Buffer.concat([b.subarray(0, i), t, b.subarray(i)]);
        break;
      }
      case 'truncate':
        b = b.subarray(0, pos(m.length, b.length + 1));
        break;
    }
  }
  return b;
}

/** `bytes` cut into reads of the input's sizes, repeated. */
export function splitReads(bytes: Buffer, reads: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = reads[k % reads.length] as number;
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

export interface FuzzRun {
  /** inputs tried */
  readonly runs: number;
  readonly ms: number;
}

/**
 * The seed in CI (`CI` set): a landing is judged on the same inputs every time, so it cannot fail
 * on a finding a previous run missed by chance. Elsewhere every run draws a new seed and so
 * explores further; what it finds becomes a named test, and FERRY_FUZZ_SEED replays it.
 */
export const CI_FUZZ_SEED = 20_261_202;

/**
 * The fewest inputs a fuzz run tries, however slow the machine: the budget is wall time, and on a
 * loaded machine a few slow inputs could otherwise use it all, so that a run tried almost nothing
 * and failed its own "inputs tried" check.
 */
export const MIN_FUZZ_RUNS = 50;

/**
 * Run `check` on generated inputs until `budgetMs` is spent and at least `minRuns` inputs were
 * tried (or the first failure, which fast-check shrinks and reports with the seed and path that
 * replay it). FERRY_FUZZ_SEED replays a seed; in CI the seed is {@link CI_FUZZ_SEED}.
 */
export async function fuzz<T>(arb: fc.Arbitrary<T>, budgetMs: number, check: (input: T) => Promise<void>, minRuns = MIN_FUZZ_RUNS): Promise<FuzzRun> {
  let runs = 0;
  const started = performance.now();
  const seedEnv = process.env['FERRY_FUZZ_SEED'] ?? (process.env['CI'] !== undefined && process.env['CI'] !== '' ? String(CI_FUZZ_SEED) : undefined);
  const seed = seedEnv === undefined || seedEnv === '' ? undefined : Number(seedEnv);
  const property = fc.asyncProperty(arb, async (input) => {
    runs++;
    await check(input);
  });
  await fc.assert(property, {
    numRuns: 10_000_000,
    // running out of the budget is how a fuzz run ends, not a failure
    plugins: [fc.interruptAfterTimeLimit(budgetMs, { failOnInterrupt: false })],
    endOnFailure: false,
    ...(seed === undefined ? {} : { seed }),
  });
  if (runs < minRuns) {
    // the rest without a time limit, from a seed derived from the first (so a CI run stays
    // repeatable, and these inputs are new ones); a failure here reports that seed, which
    // replays it through the first phase
    await fc.assert(property, { numRuns: minRuns - runs, endOnFailure: false, ...(seed === undefined ? {} : { seed: (seed + 1) | 0 }) });
  }
  return { runs, ms: performance.now() - started };
}

/**
 * A full garbage collection, for heap figures that mean something. Needs `gc`: taken from
 * `node --expose-gc`, or by turning the flag on at run time; fails when neither gives one.
 */
export function gcOrFail(): () => void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as (() => void) | undefined;
    } catch {
      gc = undefined;
    }
  }
  if (typeof gc !== 'function') throw new Error('no gc: the memory assertions need node --expose-gc (v8.setFlagsFromString("--expose-gc") did not give one)');
  const run = gc;
  // two passes: the first can leave weak callbacks' garbage for the second
  return () => {
    run();
    run();
  };
}

/** A logger that keeps the error lines: an error line from a parser or a session is an internal error. */
export function errorCountingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (message, fields) => void errors.push(`${message} ${JSON.stringify(fields ?? {})}`),
    child: () => logger,
  };
  return { logger, errors };
}

/** A listener under fuzzing: connections are handed to it in memory; it is replaced now and then. */
export interface FuzzedListener {
  open(): MemoryConnection;
  close(): Promise<void>;
}

export interface ConnectionFuzzOptions {
  readonly corpus: readonly Seed[];
  readonly tokens: readonly Buffer[];
  /** how long to fuzz; `fuzzBudgetMs(5)` when not given */
  readonly budgetMs?: number;
  /** a fresh listener, logging to `logger` */
  readonly listener: (logger: Logger) => Promise<FuzzedListener>;
  /**
   * a connection must be gone this long after the client hung up; 5 s when not given: a closing
   * connection is destroyed within 1 s at the latest, the rest is room for a loaded machine
   */
  readonly closeWithinMs?: number;
  /** what one input may add to the heap while it runs; 128 MiB when not given, far above any listener's own limits */
  readonly heapPerInput?: number;
  /** inputs per listener: sessions and stored messages of earlier inputs go with the old one */
  readonly inputsPerListener?: number;
}

export interface ConnectionFuzzResult extends FuzzRun {
  readonly slowestMs: number;
  readonly peakHeapPerInput: number;
  readonly heapBefore: number;
  /** after every listener was closed and a full gc */
  readonly heapAfter: number;
  /**
   * connections still reachable after every listener was closed and a full gc: something (a
   * timer, a table, a listener on a shared emitter) holds them; 0 when the listeners let go
   */
  readonly survivors: number;
  readonly uncaught: readonly unknown[];
  readonly errors: readonly string[];
}

/** how long connections may take to be collected after every listener closed */
const SURVIVOR_WAIT_MS = 2_000;

/**
 * Collects what is thrown or rejected with no handler while a fuzz run goes on (a crash the
 * run must report, not one that kills the test process) until `stop`.
 */
export function catchUncaught(): { readonly uncaught: readonly unknown[]; readonly stop: () => void } {
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown): void => void uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  return {
    uncaught,
    stop: () => {
      process.off('uncaughtException', onUncaught);
      process.off('unhandledRejection', onUncaught);
    },
  };
}

/**
 * Mutated corpus inputs, each on its own in-memory connection, in reads of its sizes; then the
 * client hangs up. An input fails the run when the connection is not gone within
 * `closeWithinMs`, when it grew the heap by more than `heapPerInput`, when an error line was
 * logged or when anything was thrown or rejected unhandled meanwhile.
 */
export async function fuzzConnections(options: ConnectionFuzzOptions): Promise<ConnectionFuzzResult> {
  const o = { budgetMs: fuzzBudgetMs(5), closeWithinMs: 5_000, heapPerInput: 128 * 1024 * 1024, ...options };
  const gc = gcOrFail();
  const { uncaught, stop: stopCatching } = catchUncaught();
  const { logger, errors } = errorCountingLogger();
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  // every connection is counted until collected; the count costs no reference to it
  let alive = 0;
  const collected = new FinalizationRegistry<undefined>(() => {
    alive--;
  });
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let listener = await o.listener(logger);
  let inputs = 0;
  let peakHeapPerInput = 0;
  let slowestMs = 0;
  try {
    const run = await fuzz(fuzzInputs(o.corpus, { tokens: o.tokens }), o.budgetMs, async (input) => {
      const bytes = applyMutations(o.corpus, input, o.tokens);
      if (++inputs % (o.inputsPerListener ?? 400) === 0) {
        await listener.close();
        listener = await o.listener(logger);
      }
      const heapAtStart = process.memoryUsage().heapUsed;
      const c = listener.open();
      alive++;
      collected.register(c, undefined);
      const started = performance.now();
      for (const chunk of splitReads(bytes, input.reads)) c.send(chunk);
      await tick();
      c.hangUp();
      const gone = await c.closedWithin(o.closeWithinMs);
      slowestMs = Math.max(slowestMs, performance.now() - started);
      const grown = process.memoryUsage().heapUsed - heapAtStart;
      peakHeapPerInput = Math.max(peakHeapPerInput, grown);
      const what = `input ${bytes.toString('hex')}`;
      if (!gone) throw new Error(`connection still open ${o.closeWithinMs} ms after the client hung up; ${what}`);
      if (grown > o.heapPerInput) throw new Error(`heap grew ${(grown / 1e6).toFixed(0)} MB on one input; ${what}`);
      if (errors.length > 0) throw new Error(`internal error logged: ${errors.join('; ')}; ${what}`);
      if (uncaught.length > 0) throw new Error(`uncaught: ${String(uncaught[0])}; ${what}`);
    });
    await listener.close();
    await tick();
    gc();
    const heapAfter = process.memoryUsage().heapUsed;
    // finalizers run in tasks of their own after a gc; work a stopped listener still finishes
    // (a password hash in the thread pool) may hold its connection a moment longer
    for (let waited = 0; alive > 0 && waited < SURVIVOR_WAIT_MS; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
      gc();
    }
    return { ...run, slowestMs, peakHeapPerInput, heapBefore, heapAfter, survivors: alive, uncaught, errors };
  } finally {
    stopCatching();
    await listener.close();
  }
}

/** The figures of a connection fuzz run in one line, for the test's output. */
export function connectionFuzzSummary(name: string, seeds: number, r: ConnectionFuzzResult): string {
  return (
    `${name} fuzz: ${r.runs} inputs in ${(r.ms / 1000).toFixed(1)} s from ${seeds} seeds; slowest input ${r.slowestMs.toFixed(0)} ms; ` +
    `largest heap growth during one input ${(r.peakHeapPerInput / 1e6).toFixed(1)} MB; heap ${(r.heapBefore / 1e6).toFixed(1)} -> ${(r.heapAfter / 1e6).toFixed(1)} MB after every listener closed, ${r.survivors} connections still held`
  );
}

/**
 * What a connection fuzz run found wrong, empty when nothing: too few inputs (more than
 * `minRuns` must have run), anything thrown or rejected unhandled, an error line, a connection
 * still held after every listener closed, the heap not back within `heapAfterStop` bytes.
 */
export function connectionFuzzFailures(r: ConnectionFuzzResult, heapAfterStop: number, minRuns = 30): string[] {
  const failures: string[] = [];
  if (r.runs <= minRuns) failures.push(`only ${r.runs} inputs ran, more than ${minRuns} must`);
  for (const u of r.uncaught) failures.push(`uncaught: ${String(u)}`);
  for (const e of r.errors) failures.push(`error logged: ${e}`);
  if (r.survivors !== 0) failures.push(`${r.survivors} connections still held after every listener closed`);
  const grown = r.heapAfter - r.heapBefore;
  if (grown >= heapAfterStop) failures.push(`the heap grew ${grown} bytes over the run, ${heapAfterStop} at most`);
  return failures;
}
