import { corruptRecord, encodeListenerRecord, loadListenerRecords, type FerryError, type ListenerStore } from '@ferry/core';
import type { HeaderEntry } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';

/**
 * Record keys: `q\0<destination>\0<store key, 12 hex digits>`. A destination is a header
 * value, which holds no NUL (STOMP 1.2 §Augmented BNF: NUL ends the frame); the last `\0`
 * is taken all the same.
 */
const QUEUED = 'q\0';

const keyOf = (m: BrokerMessage): string => `${QUEUED}${m.destination}\0${(m.storeKey ?? 0).toString(16).padStart(12, '0')}`;

const isHeaders = (v: unknown): v is HeaderEntry[] => Array.isArray(v) && v.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string');

/**
 * The stomp-listener's `/queue` messages in a {@link ListenerStore}: a message is saved when a
 * queue takes it and removed when it leaves for good (acknowledged, sent in ack mode auto,
 * expired). Topic messages are not kept (nobody is owed them after a restart).
 */
export class StompQueueStore {
  readonly #store: ListenerStore;

  constructor(store: ListenerStore) {
    this.#store = store;
  }

  get location(): string {
    return this.#store.location;
  }

  save(m: BrokerMessage): void {
    const { destination, headers, body, expiresAt, redelivered } = m;
    this.#store.put(keyOf(m), encodeListenerRecord({ destination, headers, body, expiresAt, redelivered }));
  }

  remove(m: BrokerMessage): void {
    this.#store.del(keyOf(m));
  }

  written(): Promise<void> {
    return this.#store.written();
  }

  /** the stored messages in store-key order (per queue: the order they were taken) */
  async load(): Promise<{ messages: BrokerMessage[]; corrupt: FerryError[] }> {
    const { records, corrupt } = await loadListenerRecords(this.#store, QUEUED);
    const messages: BrokerMessage[] = [];
    for (const { key, fields } of records) {
      const storeKey = Number.parseInt(key.slice(key.lastIndexOf('\0') + 1), 16);
      const { destination, headers, body, expiresAt, redelivered } = fields;
      if (typeof destination !== 'string' || !isHeaders(headers) || !Buffer.isBuffer(body) || (expiresAt !== undefined && typeof expiresAt !== 'number') || typeof redelivered !== 'boolean' || !Number.isSafeInteger(storeKey)) {
        corrupt.push(corruptRecord(this.#store.location, key, 'queued message fields invalid'));
        continue;
      }
      messages.push({ destination, headers, body, expiresAt, redelivered, storeKey });
    }
    messages.sort((a, b) => (a.storeKey ?? 0) - (b.storeKey ?? 0));
    return { messages, corrupt };
  }
}
