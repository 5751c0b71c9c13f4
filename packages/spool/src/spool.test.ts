import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { FerryError, silentLogger } from '@ferry/core';
import { Spool, type OverflowPolicy, type SpoolEntry } from './spool.js';
import { RecordingMetrics } from '@ferry/testkit';
import { buildSpoolForChild, removeDir, tempDir } from './test-support.js';

const dirs: string[] = [];
const spools: Spool[] = [];

function newDir(): string {
  const d = tempDir('spool');
  dirs.push(d);
  return d;
}

async function openSpool(dir: string, opts: { maxBytes?: number; overflow?: OverflowPolicy; metrics?: RecordingMetrics } = {}): Promise<Spool> {
  const s = new Spool({ dir, logger: silentLogger, metrics: opts.metrics ?? new RecordingMetrics(), ...opts });
  spools.push(s);
  await s.open();
  return s;
}

/** take everything (in batches) and give it back, to read a queue's order */
async function readAll(s: Spool, queue: string): Promise<SpoolEntry[]> {
  const out: SpoolEntry[] = [];
  for (;;) {
    const batch = await s.take(queue, 7);
    if (batch.length === 0) break;
    out.push(...batch);
  }
  s.giveBack(out);
  return out;
}

const text = (e: SpoolEntry): string => e.value.toString();

afterEach(async () => {
  await Promise.all(spools.splice(0).map((s) => s.close()));
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('Spool', () => {
  it('keeps queues apart and hands entries out in append order', async () => {
    const s = await openSpool(newDir());
    // appended concurrently: order is the call order, not the order the writes finish
    await Promise.all([...Array(50).keys()].map((i) => s.append(i % 2 === 0 ? 'a' : 'a.b', Buffer.from(`m${i}`))));
    expect((await readAll(s, 'a')).map(text)).toEqual([...Array(25).keys()].map((i) => `m${i * 2}`));
    expect((await readAll(s, 'a.b')).map(text)).toEqual([...Array(25).keys()].map((i) => `m${i * 2 + 1}`));
    expect(await s.take('nothing', 10)).toEqual([]);
  });

  it('take claims: a second take skips what the first handed out until it is given back', async () => {
    const s = await openSpool(newDir());
    for (let i = 0; i < 5; i++) await s.append('q', Buffer.from(`m${i}`));
    const first = await s.take('q', 2);
    expect(first.map(text)).toEqual(['m0', 'm1']);
    expect((await s.take('q', 2)).map(text)).toEqual(['m2', 'm3']);
    s.giveBack(first);
    expect((await s.take('q', 10)).map(text)).toEqual(['m0', 'm1', 'm4']);
  });

  it('remove deletes delivered entries and updates the accounting', async () => {
    const metrics = new RecordingMetrics();
    const s = await openSpool(newDir(), { metrics });
    for (let i = 0; i < 4; i++) await s.append('q', Buffer.from(`m${i}`));
    const d0 = s.depth('q');
    expect(d0.messages).toBe(4);
    expect(metrics.gauge('spool_messages', { connector: 'q' })).toBe(4);
    expect(metrics.gauge('spool_bytes', { connector: 'q' })).toBe(d0.bytes);
    const got = await s.take('q', 2);
    await s.remove(got);
    expect(s.depth('q')).toEqual({ messages: 2, bytes: d0.bytes - got[0]!.size - got[1]!.size });
    expect(metrics.gauge('spool_messages', { connector: 'q' })).toBe(2);
    // removing twice counts nothing twice
    await s.remove(got);
    expect(s.depth('q').messages).toBe(2);
    expect((await readAll(s, 'q')).map(text)).toEqual(['m2', 'm3']);
  });

  it('recovers after reopening: entries, order, byte accounting and sequence continuity', async () => {
    const dir = newDir();
    const s1 = await openSpool(dir);
    for (let i = 0; i < 10; i++) await s1.append(i < 6 ? 'x' : 'y', Buffer.from(`m${i}`.repeat(i + 1)));
    await s1.remove(await s1.take('x', 2));
    const before = { x: s1.depth('x'), y: s1.depth('y'), total: s1.bytes, lastSeq: (await readAll(s1, 'x')).at(-1)!.seq };
    await s1.close();

    const metrics = new RecordingMetrics();
    const s2 = await openSpool(dir, { metrics });
    expect(s2.depth('x')).toEqual(before.x);
    expect(s2.depth('y')).toEqual(before.y);
    expect(s2.bytes).toBe(before.total);
    expect(metrics.gauge('spool_messages', { connector: 'x' })).toBe(4);
    expect(s2.queues().map((q) => q.queue).sort()).toEqual(['x', 'y']);
    // a new append goes after the recovered ones, with the next sequence number
    const seq = await s2.append('x', Buffer.from('after-reopen'));
    expect(seq).toBe(before.lastSeq + 1);
    const x = await readAll(s2, 'x');
    expect(x.map(text)).toEqual(['m2m2m2', 'm3m3m3m3', 'm4m4m4m4m4', 'm5m5m5m5m5m5', 'after-reopen']);
  });

  it('refuses when full: LIMIT_EXCEEDED, transient, nothing stored', async () => {
    const s = await openSpool(newDir(), { maxBytes: 100, overflow: 'refuse' });
    // each entry: key "q\0" + 8 bytes = 10, value 20 → 30 bytes
    for (let i = 0; i < 3; i++) await s.append('q', Buffer.alloc(20, i));
    const err = await s.append('q', Buffer.alloc(20, 9)).catch((e: unknown) => e);
    expect(FerryError.is(err, 'LIMIT_EXCEEDED')).toBe(true);
    expect((err as FerryError).permanent).toBe(false);
    expect(s.depth('q')).toEqual({ messages: 3, bytes: 90 });
    expect((await readAll(s, 'q')).map((e) => e.value[0])).toEqual([0, 1, 2]);
    // a message bigger than the whole spool can never fit: permanent
    const huge = await s.append('q', Buffer.alloc(200)).catch((e: unknown) => e);
    expect(FerryError.is(huge, 'LIMIT_EXCEEDED') && huge.permanent).toBe(true);
  });

  it('drop-oldest makes room from the oldest entries of the queue, counts and never drops a claimed entry', async () => {
    const metrics = new RecordingMetrics();
    const s = await openSpool(newDir(), { maxBytes: 100, overflow: 'drop-oldest', metrics });
    for (let i = 0; i < 3; i++) await s.append('q', Buffer.alloc(20, i));
    await s.append('q', Buffer.alloc(20, 3));
    expect((await readAll(s, 'q')).map((e) => e.value[0])).toEqual([1, 2, 3]);
    expect(metrics.count('messages_dropped_total', { connector: 'q', reason: 'spool-overflow' })).toBe(1);
    // entry 1 is being delivered (claimed): the drop skips it and takes 2
    const inFlight = await s.take('q', 1);
    expect(inFlight.map((e) => e.value[0])).toEqual([1]);
    await s.append('q', Buffer.alloc(20, 4));
    s.giveBack(inFlight);
    expect((await readAll(s, 'q')).map((e) => e.value[0])).toEqual([1, 3, 4]);
    expect(metrics.count('messages_dropped_total', { connector: 'q', reason: 'spool-overflow' })).toBe(2);
    expect(s.depth('q')).toEqual({ messages: 3, bytes: 90 });
    // the drop persisted: after reopening, the same three
    await s.close();
    const again = await openSpool(s.dir, { maxBytes: 100 });
    expect((await readAll(again, 'q')).map((e) => e.value[0])).toEqual([1, 3, 4]);
  });

  it('drop-oldest refuses when the queue has nothing it may drop', async () => {
    const s = await openSpool(newDir(), { maxBytes: 70, overflow: 'drop-oldest' }); // other: 14 + 20, q: 10 + 20
    await s.append('other', Buffer.alloc(20));
    await s.append('q', Buffer.alloc(20));
    await s.take('q', 10); // claimed: not droppable
    const err = await s.append('q', Buffer.alloc(20)).catch((e: unknown) => e);
    expect(FerryError.is(err, 'LIMIT_EXCEEDED')).toBe(true);
    expect(s.depth('other').messages).toBe(1);
  });

  it('does not hand out an entry while an earlier append is still being written', async () => {
    const s = await openSpool(newDir());
    const first = s.append('q', Buffer.alloc(64 * 1024, 1)); // not awaited
    const second = s.append('q', Buffer.from('second'));
    // depth counts both at once: the queue is non-empty from the call on
    expect(s.depth('q').messages).toBe(2);
    const seen: string[] = [];
    // whatever take returns before `first` finished must not contain `second` alone
    const early = await s.take('q', 10);
    s.giveBack(early);
    if (early.length > 0) seen.push(...early.map((e) => (e.value.length > 100 ? 'first' : text(e))));
    expect(seen[0] === undefined || seen[0] === 'first').toBe(true);
    await Promise.all([first, second]);
    expect((await readAll(s, 'q')).map((e) => (e.value.length > 100 ? 'first' : text(e)))).toEqual(['first', 'second']);
  });

  it('refuses appends once closed; close is idempotent; a locked directory is a SPOOL_IO error', async () => {
    const dir = newDir();
    const s = await openSpool(dir);
    const other = new Spool({ dir, logger: silentLogger, metrics: new RecordingMetrics() });
    const locked = await other.open().catch((e: unknown) => e);
    expect(FerryError.is(locked, 'SPOOL_IO')).toBe(true);
    await Promise.all([s.close(), s.close()]);
    const err = await s.append('q', Buffer.from('x')).catch((e: unknown) => e);
    expect(FerryError.is(err, 'SHUTTING_DOWN')).toBe(true);
    await s.open();
    expect(await s.append('q', Buffer.from('x'))).toBe(0);
  });

  it('keeps every append that resolved before the process was SIGKILLed', async () => {
    const dir = newDir();
    const build = newDir();
    const index = buildSpoolForChild(build);
    const child = path.join(build, 'child.mjs');
    // the child appends as fast as it can with 32 appends in flight, and reports each one
    // that resolved with a synchronous write to stdout, so a reported append was resolved
    writeFileSync(
      child,
      `
import { writeSync } from 'node:fs';
import { Spool } from ${JSON.stringify(index)};
import { silentLogger, noopMetrics } from ${JSON.stringify(path.join(build, 'core/index.js'))};
const spool = new Spool({ dir: process.argv[2], logger: silentLogger, metrics: noopMetrics });
await spool.open();
writeSync(1, 'open\\n');
let n = 0;
const lane = async () => { for (;;) { const i = n++; const seq = await spool.append('q', Buffer.from('m' + i)); writeSync(1, seq + ' m' + i + '\\n'); } };
for (let k = 0; k < 32; k++) void lane();
`,
    );
    const proc = spawn(process.execPath, [child, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked = new Map<number, string>();
    let buffer = '';
    const killed = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
    proc.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const [seq, body] = line.split(' ');
        if (body !== undefined) acked.set(Number(seq), body);
        // kill in the middle of the stream, with appends in flight
        if (acked.size >= 500 && !proc.killed) proc.kill('SIGKILL');
      }
    });
    expect(await killed).toBe('SIGKILL');

    const s = await openSpool(dir);
    const stored = new Map((await readAll(s, 'q')).map((e) => [e.seq, text(e)]));
    const missing = [...acked].filter(([seq, body]) => stored.get(seq) !== body);
    console.log(`crash test: ${acked.size} appends resolved before SIGKILL, ${stored.size} entries after reopen, ${missing.length} missing`);
    expect(acked.size).toBeGreaterThanOrEqual(500);
    expect(missing).toEqual([]);
    // what is stored is in sequence order with no entry appearing twice
    const seqs = [...stored.keys()];
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(s.depth('q').messages).toBe(stored.size);
  }, 30_000);
});
