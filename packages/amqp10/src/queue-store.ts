import { isFieldRecord, QueuedRecords, type FerryError } from '@ferry/core';
import type { Outgoing } from './mapping.js';
import type { HeaderSection } from './sections.js';

/** one message of an address's queue as the store keeps it */
export interface StoredOutgoing {
  readonly address: string;
  readonly seq: number;
  readonly out: Outgoing;
  readonly messageId: string | undefined;
}

function asHeader(v: unknown): { fields: HeaderSection; bytes: number } | undefined | string {
  if (v === undefined) return undefined;
  if (!isFieldRecord(v) || !isFieldRecord(v['fields']) || typeof v['bytes'] !== 'number') return 'header invalid';
  return { fields: v['fields'], bytes: v['bytes'] };
}

/**
 * The amqp10-listener's queued messages in a ListenerStore: saved when a queue takes
 * a write, removed when a receiver accepted it (or it expired, or was refused for good). The
 * encoded AMQP message is kept as the bytes it will be sent as. Keys and order: core's
 * {@link QueuedRecords}, the order being the queue's `seq`.
 */
export class Amqp10QueueStore extends QueuedRecords {
  save(address: string, seq: number, out: Outgoing, messageId: string | undefined): void {
    const { bytes, format, passThrough, expiresAt, header } = out;
    this.putRecord(address, seq, { bytes, format, passThrough, expiresAt, header, messageId });
  }

  remove(address: string, seq: number): void {
    this.deleteRecord(address, seq);
  }

  /** every stored message, per address in write order */
  async load(): Promise<{ messages: StoredOutgoing[]; corrupt: FerryError[] }> {
    const { records, corrupt } = await this.loadRecords();
    const messages: StoredOutgoing[] = [];
    for (const { key, address, order: seq, fields } of records) {
      const { bytes, format, passThrough, expiresAt, messageId } = fields;
      const header = asHeader(fields['header']);
      if (!Buffer.isBuffer(bytes) || typeof format !== 'number' || typeof passThrough !== 'boolean' || (expiresAt !== undefined && typeof expiresAt !== 'number') || (messageId !== undefined && typeof messageId !== 'string') || typeof header === 'string') {
        corrupt.push(this.corrupt(key));
        continue;
      }
      messages.push({ address, seq, out: { bytes, format, passThrough, expiresAt, header }, messageId });
    }
    return { messages, corrupt };
  }
}
