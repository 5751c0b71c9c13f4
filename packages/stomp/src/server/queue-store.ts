import { QueuedRecords, type FerryError } from '@ferry/core';
import type { HeaderEntry } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';

const isHeaders = (v: unknown): v is HeaderEntry[] => Array.isArray(v) && v.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string');

/**
 * The stomp-listener's `/queue` messages in a ListenerStore: a message is saved when a
 * queue takes it and removed when it leaves for good (acknowledged, sent in ack mode auto,
 * expired). Topic messages are not kept (nobody is owed them after a restart). Keys: core's
 * {@link QueuedRecords}, by destination (a header value, which holds no NUL: STOMP 1.2
 * §Augmented BNF) and the message's store key.
 */
export class StompQueueStore extends QueuedRecords {
  save(m: BrokerMessage): void {
    const { destination, headers, body, expiresAt, redelivered } = m;
    this.putRecord(destination, m.storeKey ?? 0, { destination, headers, body, expiresAt, redelivered });
  }

  remove(m: BrokerMessage): void {
    this.deleteRecord(m.destination, m.storeKey ?? 0);
  }

  /** the stored messages in store-key order (per queue: the order they were taken) */
  async load(): Promise<{ messages: BrokerMessage[]; corrupt: FerryError[] }> {
    const { records, corrupt } = await this.loadRecords();
    const messages: BrokerMessage[] = [];
    for (const { key, order: storeKey, fields } of records) {
      const { destination, headers, body, expiresAt, redelivered } = fields;
      if (typeof destination !== 'string' || !isHeaders(headers) || !Buffer.isBuffer(body) || (expiresAt !== undefined && typeof expiresAt !== 'number') || typeof redelivered !== 'boolean') {
        corrupt.push(this.corrupt(key));
        continue;
      }
      messages.push({ destination, headers, body, expiresAt, redelivered, storeKey });
    }
    messages.sort((a, b) => (a.storeKey ?? 0) - (b.storeKey ?? 0));
    return { messages, corrupt };
  }
}
