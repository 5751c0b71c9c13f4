import { corruptRecord, encodeListenerRecord, isFieldRecord, loadListenerRecords, type FerryError, type ListenerStore } from '@ferry/core';
import type { Outgoing } from './mapping.js';
import type { HeaderSection } from './sections.js';

/**
 * Record keys: `q\0<address>\0<write order, 12 hex digits>`. The address is the last field
 * but one; the last `\0` separates the order.
 */
const QUEUED = 'q\0';

/** one message of an address's queue as the store keeps it */
export interface StoredOutgoing {
  readonly address: string;
  readonly seq: number;
  readonly out: Outgoing;
  readonly messageId: string | undefined;
}

const keyOf = (address: string, seq: number): string => `${QUEUED}${address}\0${seq.toString(16).padStart(12, '0')}`;

function asHeader(v: unknown): { fields: HeaderSection; bytes: number } | undefined | string {
  if (v === undefined) return undefined;
  if (!isFieldRecord(v) || !isFieldRecord(v['fields']) || typeof v['bytes'] !== 'number') return 'header invalid';
  return { fields: v['fields'], bytes: v['bytes'] };
}

/**
 * The amqp10-listener's queued messages in a {@link ListenerStore}: saved when a queue takes
 * a write, removed when a receiver accepted it (or it expired, or was refused for good). The
 * encoded AMQP message is kept as the bytes it will be sent as.
 */
export class Amqp10QueueStore {
  readonly #store: ListenerStore;

  constructor(store: ListenerStore) {
    this.#store = store;
  }

  get location(): string {
    return this.#store.location;
  }

  save(address: string, seq: number, out: Outgoing, messageId: string | undefined): void {
    const { bytes, format, passThrough, expiresAt, header } = out;
    this.#store.put(keyOf(address, seq), encodeListenerRecord({ bytes, format, passThrough, expiresAt, header, messageId }));
  }

  remove(address: string, seq: number): void {
    this.#store.del(keyOf(address, seq));
  }

  written(): Promise<void> {
    return this.#store.written();
  }

  /** every stored message, per address in write order */
  async load(): Promise<{ messages: StoredOutgoing[]; corrupt: FerryError[] }> {
    const { records, corrupt } = await loadListenerRecords(this.#store, QUEUED);
    const messages: StoredOutgoing[] = [];
    for (const { key, fields } of records) {
      const at = key.lastIndexOf('\0');
      const address = key.slice(QUEUED.length, at);
      const seq = Number.parseInt(key.slice(at + 1), 16);
      const { bytes, format, passThrough, expiresAt, messageId } = fields;
      const header = asHeader(fields['header']);
      if (!Buffer.isBuffer(bytes) || typeof format !== 'number' || typeof passThrough !== 'boolean' || (expiresAt !== undefined && typeof expiresAt !== 'number') || (messageId !== undefined && typeof messageId !== 'string') || typeof header === 'string' || !Number.isSafeInteger(seq)) {
        corrupt.push(corruptRecord(this.#store.location, key, 'queued message fields invalid'));
        continue;
      }
      messages.push({ address, seq, out: { bytes, format, passThrough, expiresAt, header }, messageId });
    }
    return { messages, corrupt };
  }
}
