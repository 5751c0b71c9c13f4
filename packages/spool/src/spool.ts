import type { ClassicLevel } from 'classic-level';
import { FerryError, describeError, importInTurn, type ListenerStore, type Logger, type Metrics } from '@ferry/core';
import { LISTENER_NAMESPACE, ListenerBatcher, SpoolListenerStore } from './listener-store.js';

export type OverflowPolicy = 'refuse' | 'drop-oldest';

const DEFAULT_MAX_BYTES = 1024 ** 3; // 1 GiB

export interface SpoolOptions {
  /** the LevelDB directory (absolute, or relative to the process's working directory) */
  readonly dir: string;
  /** bound of all queues together, counted as key + value bytes; default 1 GiB */
  readonly maxBytes?: number;
  /** what an append does when the spool is full; default `refuse` */
  readonly overflow?: OverflowPolicy;
  /**
   * fsync every append before it resolves (default true). That is the point of the spool: an
   * append that resolved survives kill -9 and a power cut. Only tests and benchmarks turn it off.
   */
  readonly sync?: boolean;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** One stored message of a queue, as {@link Spool.take} hands it out. */
export interface SpoolEntry {
  readonly queue: string;
  readonly seq: number;
  readonly value: Buffer;
  /** key + value bytes, what the entry counts against `maxBytes` */
  readonly size: number;
}

interface QueueState {
  /** the next sequence number to hand out */
  next: number;
  /** stored entries, plus appends reserved and not yet written */
  messages: number;
  bytes: number;
  /** sequence numbers reserved by appends whose write has not finished */
  readonly pending: Set<number>;
  /** entries handed out by `take` and not yet removed or given back */
  readonly claimed: Set<number>;
  /** serializes everything that removes entries (take/remove/drop), see `#removal` */
  lock: Promise<void>;
}

const SEPARATOR = 0x00;
/** appends per group commit at most (bounds one LevelDB batch) */
const MAX_GROUP = 1024;
const SEQ_BYTES = 8;

/** `<queue>\0<seq as u64 big-endian>`: LevelDB's bytewise order is queue order, then arrival order. */
function keyOf(queue: string, seq: number): Buffer {
  const name = Buffer.from(queue, 'utf8');
  const key = Buffer.allocUnsafe(name.length + 1 + SEQ_BYTES);
  name.copy(key, 0);
  key[name.length] = SEPARATOR;
  key.writeBigUInt64BE(BigInt(seq), name.length + 1);
  return key;
}

/** the key range of one queue: [`<queue>\0`, `<queue>\x01`) */
function rangeOf(queue: string): { gte: Buffer; lt: Buffer } {
  const name = Buffer.from(queue, 'utf8');
  return { gte: Buffer.concat([name, Buffer.from([SEPARATOR])]), lt: Buffer.concat([name, Buffer.from([SEPARATOR + 1])]) };
}

function parseKey(key: Buffer): { queue: string; seq: number } | undefined {
  const at = key.indexOf(SEPARATOR);
  if (at < 0 || key.length !== at + 1 + SEQ_BYTES) return undefined;
  return { queue: key.toString('utf8', 0, at), seq: Number(key.readBigUInt64BE(at + 1)) };
}

/**
 * A durable, bounded store of FIFO queues (one per sink connector) in one LevelDB directory.
 *
 * - `append` resolves only once the entry is on disk (`sync: true`: LevelDB fsyncs its log
 *   before answering), so whatever was acknowledged upstream after it survives kill -9.
 *   LevelDB groups concurrent synced writes into one fsync (its writer queue), so appends from
 *   many devices at once share the cost.
 * - Order: a sequence number is taken synchronously when `append` is called, so entries drain in
 *   call order; `take` never reads past an append that is still being written.
 * - Removal (`remove` of delivered entries, overflow drops) is not synced: losing a removal to a
 *   crash brings a delivered message back (a duplicate), never loses one.
 * - Accounting (messages, bytes) is recovered at `open` by reading the queues once.
 *
 * Removals of a queue run one at a time (a small promise lock) and `take` claims what it hands
 * out, so an overflow drop never deletes a message the drainer is writing, and no entry is
 * counted out twice.
 */
export class Spool {
  readonly #opts: Required<Pick<SpoolOptions, 'maxBytes' | 'overflow' | 'sync'>> & SpoolOptions;
  #db: ClassicLevel<Buffer, Buffer> | undefined;
  #opening: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #queues = new Map<string, QueueState>();
  #bytes = 0;
  /** appends and removals in progress, awaited by close */
  readonly #ops = new Set<Promise<unknown>>();
  /** appends waiting for the next group commit */
  #group: { key: Buffer; value: Buffer; resolve: () => void; reject: (err: unknown) => void }[] = [];
  #committing = false;
  /** listeners' records (sessions, retained and queued messages) share this LevelDB */
  readonly #listenerBatcher: ListenerBatcher;

  constructor(opts: SpoolOptions) {
    const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) throw new FerryError('CONFIG_INVALID', `spool maxBytes must be a positive integer, found ${maxBytes}`);
    this.#opts = { ...opts, maxBytes, overflow: opts.overflow ?? 'refuse', sync: opts.sync ?? true };
    // the last listener records are written while the spool closes (after the listeners stopped)
    this.#listenerBatcher = new ListenerBatcher(() => this.#opened(), this.#opts.sync, opts.logger);
  }

  /**
   * The durable state of listener `connector` in this spool's directory (its own key space;
   * not counted against `maxBytes`: each listener bounds what it holds itself). Usable once the
   * spool is open; no I/O here.
   */
  listenerStore(connector: string): ListenerStore {
    return new SpoolListenerStore(this.#opts.dir, connector, () => this.#opened(), this.#listenerBatcher);
  }

  get dir(): string {
    return this.#opts.dir;
  }

  get maxBytes(): number {
    return this.#opts.maxBytes;
  }

  get isOpen(): boolean {
    return this.#db !== undefined && this.#closing === undefined && this.#opening === undefined;
  }

  /** bytes of every queue together */
  get bytes(): number {
    return this.#bytes;
  }

  /** Open the directory (created if missing) and recover every queue's accounting. Idempotent. */
  open(): Promise<void> {
    if (this.#db !== undefined && this.#opening === undefined) return Promise.resolve();
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    await this.#closing;
    // loaded by the first spool that opens, not by every gateway that imports this module: a
    // configuration without `gateway.spool` never loads LevelDB's bindings
    const { ClassicLevel } = await importInTurn(() => import('classic-level'));
    const db = new ClassicLevel<Buffer, Buffer>(this.#opts.dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    try {
      await db.open({ createIfMissing: true });
    } catch (err) {
      // LEVEL_LOCKED: another process (or another gateway in this one) holds the directory
      throw new FerryError('SPOOL_IO', `cannot open the spool at ${this.#opts.dir}: ${describeError(err)}`, { cause: err });
    }
    this.#queues.clear();
    this.#bytes = 0;
    const started = performance.now();
    let foreign = 0;
    try {
      for await (const [key, value] of db.iterator()) {
        // listeners' records (listener-store.ts) are theirs to read
        if (key[0] === LISTENER_NAMESPACE) continue;
        const parsed = parseKey(key);
        if (parsed === undefined) {
          foreign++;
          continue;
        }
        const q = this.#queue(parsed.queue);
        q.messages++;
        q.bytes += key.length + value.length;
        this.#bytes += key.length + value.length;
        q.next = Math.max(q.next, parsed.seq + 1);
      }
    } catch (err) {
      await db.close().catch(() => undefined);
      throw new FerryError('SPOOL_IO', `cannot read the spool at ${this.#opts.dir}: ${describeError(err)}`, { cause: err });
    }
    this.#db = db;
    for (const [name, q] of this.#queues) this.#gauges(name, q);
    const recovered = [...this.#queues].filter(([, q]) => q.messages > 0).map(([name, q]) => ({ queue: name, messages: q.messages, bytes: q.bytes }));
    this.#opts.logger.info('spool open', {
      dir: this.#opts.dir,
      bytes: this.#bytes,
      maxBytes: this.#opts.maxBytes,
      queues: recovered,
      recoveryMs: Math.round(performance.now() - started),
      ...(foreign > 0 ? { unknownKeys: foreign } : {}),
    });
  }

  /** Wait for appends and removals in progress, then close the directory. Idempotent. */
  close(): Promise<void> {
    if (this.#db === undefined && this.#opening === undefined) return this.#closing ?? Promise.resolve();
    this.#closing ??= (async () => {
      await this.#opening?.catch(() => undefined);
      while (this.#ops.size > 0) await Promise.allSettled([...this.#ops]);
      await this.#listenerBatcher.flush();
      const db = this.#db;
      this.#db = undefined;
      await db?.close();
    })().finally(() => {
      this.#closing = undefined;
    });
    return this.#closing;
  }

  /** Queues that hold (or are being given) entries, with their depth. */
  queues(): { queue: string; messages: number; bytes: number }[] {
    return [...this.#queues].filter(([, q]) => q.messages > 0).map(([queue, q]) => ({ queue, messages: q.messages, bytes: q.bytes }));
  }

  /** Messages and bytes of a queue, counting appends still being written. */
  depth(queue: string): { messages: number; bytes: number } {
    const q = this.#queues.get(queue);
    return { messages: q?.messages ?? 0, bytes: q?.bytes ?? 0 };
  }

  /**
   * Store `value` at the end of `queue`; resolves with its sequence number once it is on disk.
   * Full spool: `refuse` fails with LIMIT_EXCEEDED (transient: the source does not acknowledge
   * and its sender retries later); `drop-oldest` first deletes the oldest entries of the same
   * queue that are not being delivered, counted in messages_dropped_total{reason:"spool-overflow"}.
   * An entry larger than the whole spool fails with a permanent LIMIT_EXCEEDED.
   */
  append(queue: string, value: Buffer): Promise<number> {
    let db: ClassicLevel<Buffer, Buffer>;
    try {
      db = this.#live();
    } catch (err) {
      return Promise.reject(err);
    }
    const q = this.#queue(queue);
    // the sequence number is taken now, synchronously: call order is drain order
    const seq = q.next++;
    const key = keyOf(queue, seq);
    const size = key.length + value.length;
    if (size > this.#opts.maxBytes) {
      return Promise.reject(
        new FerryError('LIMIT_EXCEEDED', `a message of ${size} bytes cannot fit a spool of ${this.#opts.maxBytes} bytes`, {
          permanent: true,
          details: { queue, size, maxBytes: this.#opts.maxBytes },
        }),
      );
    }
    q.pending.add(seq);
    const op = this.#append(db, queue, q, seq, key, value, size).finally(() => {
      q.pending.delete(seq);
      this.#ops.delete(op);
    });
    this.#ops.add(op);
    return op;
  }

  async #append(db: ClassicLevel<Buffer, Buffer>, queue: string, q: QueueState, seq: number, key: Buffer, value: Buffer, size: number): Promise<number> {
    if (!this.#reserve(queue, q, size)) {
      if (this.#opts.overflow === 'drop-oldest') await this.#dropOldest(queue, q, size);
      if (!this.#reserve(queue, q, size)) {
        throw new FerryError('LIMIT_EXCEEDED', `spool full (${this.#bytes} of ${this.#opts.maxBytes} bytes); ${queue} cannot take a message of ${size} bytes`, {
          permanent: false,
          details: { queue, size, bytes: this.#bytes, maxBytes: this.#opts.maxBytes, overflow: this.#opts.overflow },
        });
      }
    }
    try {
      await this.#commit(db, key, value);
    } catch (err) {
      this.#unreserve(queue, q, 1, size);
      throw new FerryError('SPOOL_IO', `spool write failed: ${describeError(err)}`, { cause: err, permanent: false, details: { queue } });
    }
    return seq;
  }

  /**
   * Group commit: appends that arrive while a synced write is in progress go to disk together
   * in the next one (one LevelDB batch, one fsync). A lone append is written at once, so this
   * adds no latency; under load it turns N fsyncs into one (docs/spool.md has the numbers).
   * Batches are written one after the other, so an earlier append is never durable after a
   * later one.
   */
  #commit(db: ClassicLevel<Buffer, Buffer>, key: Buffer, value: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#group.push({ key, value, resolve, reject });
      if (!this.#committing) void this.#flush(db);
    });
  }

  async #flush(db: ClassicLevel<Buffer, Buffer>): Promise<void> {
    this.#committing = true;
    try {
      while (this.#group.length > 0) {
        const group = this.#group.splice(0, MAX_GROUP);
        try {
          await db.batch(
            group.map((g) => ({ type: 'put' as const, key: g.key, value: g.value })),
            { sync: this.#opts.sync },
          );
          for (const g of group) g.resolve();
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  /** count an append in (before its write, so a queue with a write in progress is non-empty) */
  #reserve(queue: string, q: QueueState, size: number): boolean {
    if (this.#bytes + size > this.#opts.maxBytes) return false;
    this.#bytes += size;
    q.bytes += size;
    q.messages++;
    this.#gauges(queue, q);
    return true;
  }

  #unreserve(queue: string, q: QueueState, messages: number, bytes: number): void {
    this.#bytes -= bytes;
    q.bytes -= bytes;
    q.messages -= messages;
    this.#gauges(queue, q);
  }

  /**
   * Hand out up to `limit` of the oldest entries of `queue` that are on disk and not handed out
   * already, in order. They stay stored (and claimed) until `remove` or `giveBack`.
   */
  take(queue: string, limit: number): Promise<SpoolEntry[]> {
    const q = this.#queues.get(queue);
    if (q === undefined || q.messages === 0) return Promise.resolve([]);
    return this.#removal(q, async () => {
      const db = this.#live();
      const range = rangeOf(queue);
      // never past the oldest append still being written: it must drain before later ones
      const firstPending = q.pending.size > 0 ? Math.min(...q.pending) : undefined;
      const lt = firstPending === undefined ? range.lt : keyOf(queue, firstPending);
      const out: SpoolEntry[] = [];
      for await (const [key, value] of db.iterator({ gte: range.gte, lt })) {
        const parsed = parseKey(key);
        if (parsed === undefined || q.claimed.has(parsed.seq)) continue;
        q.claimed.add(parsed.seq);
        out.push({ queue, seq: parsed.seq, value, size: key.length + value.length });
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  /** Delete entries handed out by `take` (delivered, or given up on); not synced, see the class doc. */
  remove(entries: readonly SpoolEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    const queue = (entries[0] as SpoolEntry).queue;
    const q = this.#queue(queue);
    const op = this.#removal(q, async () => {
      const db = this.#live();
      const mine = entries.filter((e) => q.claimed.has(e.seq));
      await db.batch(mine.map((e) => ({ type: 'del' as const, key: keyOf(queue, e.seq) })));
      for (const e of mine) q.claimed.delete(e.seq);
      this.#unreserve(
        queue,
        q,
        mine.length,
        mine.reduce((n, e) => n + e.size, 0),
      );
    });
    const tracked = op.finally(() => this.#ops.delete(tracked));
    this.#ops.add(tracked);
    return tracked;
  }

  /** Give entries handed out by `take` back, undelivered: a later `take` hands them out again. */
  giveBack(entries: readonly SpoolEntry[]): void {
    for (const e of entries) this.#queues.get(e.queue)?.claimed.delete(e.seq);
  }

  /** Delete the oldest unclaimed entries of `queue` until an entry of `size` bytes fits (or none is left). */
  async #dropOldest(queue: string, q: QueueState, size: number): Promise<void> {
    const dropped = await this.#removal(q, async () => {
      // measured under the lock: another drop may have made room while this one waited
      const need = this.#bytes + size - this.#opts.maxBytes;
      if (need <= 0) return { messages: 0, bytes: 0 };
      const db = this.#live();
      const range = rangeOf(queue);
      const victims: Buffer[] = [];
      let freed = 0;
      for await (const [key, value] of db.iterator({ gte: range.gte, lt: range.lt })) {
        const parsed = parseKey(key);
        if (parsed === undefined || q.claimed.has(parsed.seq)) continue;
        victims.push(key);
        freed += key.length + value.length;
        if (freed >= need) break;
      }
      if (victims.length === 0) return { messages: 0, bytes: 0 };
      await db.batch(victims.map((key) => ({ type: 'del' as const, key })));
      this.#unreserve(queue, q, victims.length, freed);
      return { messages: victims.length, bytes: freed };
    });
    if (dropped.messages > 0) {
      this.#opts.metrics.inc('messages_dropped_total', { connector: queue, reason: 'spool-overflow' }, dropped.messages);
      this.#opts.logger.warn('spool full: dropped the oldest messages of a queue', {
        queue,
        dropped: dropped.messages,
        bytes: dropped.bytes,
        maxBytes: this.#opts.maxBytes,
      });
    }
  }

  /** run `fn` after every earlier removal of this queue finished */
  #removal<R>(q: QueueState, fn: () => Promise<R>): Promise<R> {
    const run = q.lock.then(fn);
    q.lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #queue(name: string): QueueState {
    let q = this.#queues.get(name);
    if (q === undefined) {
      q = { next: 0, messages: 0, bytes: 0, pending: new Set(), claimed: new Set(), lock: Promise.resolve() };
      this.#queues.set(name, q);
    }
    return q;
  }

  #gauges(queue: string, q: QueueState): void {
    this.#opts.metrics.set('spool_messages', { connector: queue }, q.messages);
    this.#opts.metrics.set('spool_bytes', { connector: queue }, q.bytes);
  }

  #opened(): ClassicLevel<Buffer, Buffer> {
    if (this.#db === undefined) throw new FerryError('SHUTTING_DOWN', 'the spool is closed', { permanent: false });
    return this.#db;
  }

  #live(): ClassicLevel<Buffer, Buffer> {
    const db = this.#db;
    if (db === undefined || this.#closing !== undefined) throw new FerryError('SHUTTING_DOWN', 'the spool is closed', { permanent: false });
    return db;
  }
}
