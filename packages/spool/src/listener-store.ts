import type { ClassicLevel } from 'classic-level';
import { FerryError, describeError, type ListenerRecord, type ListenerStore, type Logger } from '@ferry/core';

/**
 * Listener records share the spool's LevelDB under keys `\x01<connector>\x00<key>`. A spool
 * queue is named after a connector, whose name starts with a letter or digit, so the two key
 * spaces never meet and the spool's recovery skips this one by its first byte.
 */
export const LISTENER_NAMESPACE = 0x01;
const SEPARATOR = 0x00;

type Value = Buffer | (() => Buffer);
type Op = { readonly type: 'put'; readonly key: Buffer; readonly value: Value } | { readonly type: 'del'; readonly key: Buffer };

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // a batch nobody waits for must not end as an unhandled rejection; waiters get it all the same
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** the key prefix of one connector's records */
function listenerPrefix(connector: string): Buffer {
  const name = Buffer.from(connector, 'utf8');
  const out = Buffer.allocUnsafe(name.length + 2);
  out[0] = LISTENER_NAMESPACE;
  name.copy(out, 1);
  out[name.length + 1] = SEPARATOR;
  return out;
}

/**
 * Every listener's puts and deletes of one event-loop turn, written as one LevelDB batch (one
 * fsync when it holds a put), so a message queued to many persistent sessions costs one write,
 * not one per session. Batches are written one after the other: what was queued later is never
 * durable before what was queued earlier. While a batch is being written the next one gathers.
 * Within a batch the last operation on a key wins, and a value given as a function is encoded
 * when the batch is written: a record that changes several times in one turn (queued, then
 * sent with a packet id) is encoded and written once, one put then deleted is not written.
 */
export class ListenerBatcher {
  readonly #db: () => ClassicLevel<Buffer, Buffer>;
  readonly #sync: boolean;
  readonly #logger: Logger;
  #ops = new Map<string, Op>();
  #next: Deferred | undefined;
  #writing: Promise<void> | undefined;
  #timer: NodeJS.Immediate | undefined;

  constructor(db: () => ClassicLevel<Buffer, Buffer>, sync: boolean, logger: Logger) {
    this.#db = db;
    this.#sync = sync;
    this.#logger = logger;
  }

  queue(op: Op): void {
    this.#ops.set(op.key.toString('latin1'), op);
    this.#schedule();
  }

  /** resolves once everything queued so far is on disk */
  written(): Promise<void> {
    if (this.#ops.size > 0) return (this.#next ??= deferred()).promise;
    return this.#writing ?? Promise.resolve();
  }

  /** write what is queued now (the spool is closing) and wait for it */
  async flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearImmediate(this.#timer);
      this.#timer = undefined;
    }
    while (this.#writing !== undefined || this.#ops.size > 0) {
      if (this.#writing === undefined) this.#write();
      await this.#writing?.catch(() => undefined);
    }
  }

  #schedule(): void {
    if (this.#timer === undefined && this.#writing === undefined) this.#timer = setImmediate(() => this.#write());
  }

  #write(): void {
    this.#timer = undefined;
    const ops: ({ type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer })[] = [];
    let sync = false;
    const done = this.#next ?? deferred();
    const queued = this.#ops;
    this.#ops = new Map();
    this.#next = undefined;
    let write: Promise<void>;
    try {
      for (const op of queued.values()) {
        if (op.type === 'del') ops.push(op);
        else {
          ops.push({ type: 'put', key: op.key, value: typeof op.value === 'function' ? op.value() : op.value });
          sync = this.#sync;
        }
      }
      write = this.#db().batch(ops, { sync });
    } catch (err) {
      write = Promise.reject(err);
    }
    this.#writing = write.then(
      () => done.resolve(),
      (err: unknown) => {
        const e = new FerryError('SPOOL_IO', `cannot write listener state: ${describeError(err)}`, { cause: err, permanent: false });
        this.#logger.error('listener store write failed', { error: e.message, records: ops.length });
        done.reject(e);
      },
    );
    void this.#writing.finally(() => {
      this.#writing = undefined;
      if (this.#ops.size > 0) this.#schedule();
    });
  }
}

/** One connector's view of the listener records: its own key space, the shared batcher. */
export class SpoolListenerStore implements ListenerStore {
  readonly location: string;
  readonly #prefix: Buffer;
  readonly #db: () => ClassicLevel<Buffer, Buffer>;
  readonly #batcher: ListenerBatcher;

  constructor(location: string, connector: string, db: () => ClassicLevel<Buffer, Buffer>, batcher: ListenerBatcher) {
    this.location = `${location} (listener ${connector})`;
    this.#prefix = listenerPrefix(connector);
    this.#db = db;
    this.#batcher = batcher;
  }

  #key(key: string): Buffer {
    return Buffer.concat([this.#prefix, Buffer.from(key, 'utf8')]);
  }

  async scan(prefix: string): Promise<ListenerRecord[]> {
    // what an earlier life of this connector queued in this process is read back too
    await this.#batcher.written().catch(() => undefined);
    const gte = this.#key(prefix);
    // every key that starts with `gte`: below gte with 0xff.. appended
    const lt = Buffer.concat([gte, Buffer.alloc(1, 0xff)]);
    const out: ListenerRecord[] = [];
    try {
      for await (const [key, value] of this.#db().iterator({ gte, lt })) out.push({ key: key.toString('utf8', this.#prefix.length), value });
    } catch (err) {
      throw new FerryError('SPOOL_IO', `cannot read listener state at ${this.location}: ${describeError(err)}`, { cause: err });
    }
    return out;
  }

  put(key: string, value: Buffer | (() => Buffer)): void {
    this.#batcher.queue({ type: 'put', key: this.#key(key), value });
  }

  del(key: string): void {
    this.#batcher.queue({ type: 'del', key: this.#key(key) });
  }

  written(): Promise<void> {
    return this.#batcher.written();
  }
}
