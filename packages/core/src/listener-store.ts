import { FerryError } from './errors.js';

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
