import { deserialize, serialize } from 'node:v8';
import { FerryError } from './errors.js';
import type { Logger } from './logger.js';

/** One stored record of a listener, as {@link ListenerStore.scan} hands it back. */
export interface ListenerRecord {
  readonly key: string;
  readonly value: Buffer;
}

/**
 * Durable state of one listener connector: a sorted key-value space of its own (keys are
 * UTF-8 strings, values bytes), so what a listener acknowledged to a client survives a restart
 * and a kill -9. Writes are batched: `put` and `del` only queue; everything queued in one
 * event-loop turn goes to disk as one atomic batch, and `written` resolves once what was queued
 * before it is durable. A listener acknowledges a message to its producer only after that
 * (the settlement contract: stored, then confirmed).
 *
 * Core defines the contract; packages/spool implements it on the spool's LevelDB, so core stays
 * free of any storage library.
 */
export interface ListenerStore {
  /** where the records live, for log lines */
  readonly location: string;
  /** every record whose key starts with `prefix`, in key order (for recovery at start) */
  scan(prefix: string): Promise<ListenerRecord[]>;
  /**
   * Store `value` under `key` with the next batch (replaces what was there). A function is
   * called when the batch is written, so a record changed several times in one turn is encoded
   * once, in its last state; within a batch the last put or del of a key wins.
   */
  put(key: string, value: Buffer | (() => Buffer)): void;
  /** delete `key` with the next batch */
  del(key: string): void;
  /**
   * Resolves once every put and del queued before the call is on disk (fsynced when the batch
   * holds a put); rejects with a SPOOL_IO FerryError when that batch could not be written.
   */
  written(): Promise<void>;
}

/** A record that cannot be decoded: an error naming it, for the listener to log and skip. */
export function corruptRecord(location: string, key: string, why: string, cause?: unknown): FerryError {
  return new FerryError('STORE_CORRUPT', `the listener store at ${location} holds a record it cannot read (${JSON.stringify(key)}): ${why}`, {
    permanent: true,
    cause,
    details: { location, key },
  });
}

const RECORD_FORMAT = 1;

/**
 * A listener record's bytes: the fields V8-serialized (node:v8), so Buffers (payloads,
 * correlation data) stay raw bytes and numbers such as Infinity survive.
 */
export function encodeListenerRecord(fields: Readonly<Record<string, unknown>>): Buffer {
  return serialize({ ...fields, v: RECORD_FORMAT });
}

/** a plain object check for decoded fields */
export const isFieldRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every record under `prefix`, decoded; one that cannot be decoded is not returned but reported
 * (an error naming it) in `corrupt`, so one bad record never stops a listener from starting.
 */
export async function loadListenerRecords(store: ListenerStore, prefix: string): Promise<{ records: { key: string; fields: Record<string, unknown> }[]; corrupt: FerryError[] }> {
  const records: { key: string; fields: Record<string, unknown> }[] = [];
  const corrupt: FerryError[] = [];
  for (const { key, value } of await store.scan(prefix)) {
    try {
      const v: unknown = deserialize(value);
      if (!isFieldRecord(v) || v['v'] !== RECORD_FORMAT) throw new Error(`not a format ${RECORD_FORMAT} record`);
      records.push({ key, fields: v });
    } catch (err) {
      corrupt.push(corruptRecord(store.location, key, err instanceof Error ? err.message : String(err), err));
    }
  }
  return { records, corrupt };
}

/**
 * The start-up lines of a listener that read its state back: an error per unreadable record
 * (naming it), then one `listener state restored` line with what came back.
 */
export function reportRestore(logger: Logger, location: string, counts: Readonly<Record<string, number>>, corrupt: readonly FerryError[], startedMs: number): void {
  for (const err of corrupt) logger.error('skipped an unreadable listener record', { error: err.message, key: err.details['key'] });
  logger.info('listener state restored', {
    store: location,
    ...counts,
    ...(corrupt.length > 0 ? { unreadable: corrupt.length } : {}),
    recoveryMs: Math.round(performance.now() - startedMs),
  });
}

/**
 * What every listener's own view of its {@link ListenerStore} starts from: the store, where it
 * is (for log lines), and the barrier that resolves once every change so far is on disk.
 */
export abstract class ListenerStoreView {
  protected readonly store: ListenerStore;

  constructor(store: ListenerStore) {
    this.store = store;
  }

  get location(): string {
    return this.store.location;
  }

  /** resolves once every change so far is on disk */
  written(): Promise<void> {
    return this.store.written();
  }
}
