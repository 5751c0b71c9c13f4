import type { FerryError } from './errors.js';
import { corruptRecord, encodeListenerRecord, ListenerStoreView, loadListenerRecords } from './listener-store.js';

/**
 * Record keys: `q\0<address>\0<order, 12 hex digits>`. The order is the last field; the
 * address is everything between the prefix and the last `\0`, so an address that holds a
 * `\0` is still read back whole.
 */
const QUEUED = 'q\0';

const keyOf = (address: string, order: number): string => `${QUEUED}${address}\0${order.toString(16).padStart(12, '0')}`;

/** one queued record as read back: its address, its order within the listener, its fields */
export interface QueuedRecord {
  readonly key: string;
  readonly address: string;
  readonly order: number;
  readonly fields: Record<string, unknown>;
}

/**
 * A listener's queued messages in its {@link ListenerStore}, one record per message, keyed by
 * address and write order: saved when a queue takes a message, removed when it leaves for good.
 * Each listener extends it with what one of its messages is made of.
 */
export class QueuedRecords extends ListenerStoreView {
  protected putRecord(address: string, order: number, fields: Readonly<Record<string, unknown>>): void {
    this.store.put(keyOf(address, order), encodeListenerRecord(fields));
  }

  protected deleteRecord(address: string, order: number): void {
    this.store.del(keyOf(address, order));
  }

  /** every queued record in key order; a record whose order is not a number is corrupt */
  protected async loadRecords(): Promise<{ records: QueuedRecord[]; corrupt: FerryError[] }> {
    const loaded = await loadListenerRecords(this.store, QUEUED);
    const records: QueuedRecord[] = [];
    const corrupt = [...loaded.corrupt];
    for (const { key, fields } of loaded.records) {
      const at = key.lastIndexOf('\0');
      const order = Number.parseInt(key.slice(at + 1), 16);
      if (!Number.isSafeInteger(order)) corrupt.push(this.corrupt(key));
      else records.push({ key, address: key.slice(QUEUED.length, at), order, fields });
    }
    return { records, corrupt };
  }

  /** the error for a record whose fields are not a queued message */
  protected corrupt(key: string): FerryError {
    return corruptRecord(this.store.location, key, 'queued message fields invalid');
  }
}
