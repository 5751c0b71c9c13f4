import { TopicTrie } from './topic-trie.js';
import type { BrokerMessage } from './types.js';

/** what a retained message costs: its payload and topic */
const cost = (m: BrokerMessage): number => m.payload.length + m.topic.length;

/**
 * The retained messages (§3.3.1.3), one per topic, bounded in bytes: a message that would take
 * the total above `maxBytes` is refused and the one it would replace is kept. Looked up by topic
 * filter through a trie, so a new subscription costs the matching topics, not all of them.
 */
/** Told of every change, to keep a durable copy (listener-state.ts). */
export interface RetainedJournal {
  putRetained(message: BrokerMessage): void;
  removeRetained(topic: string): void;
}

export class RetainedStore {
  readonly #trie = new TopicTrie<BrokerMessage>();
  readonly #maxBytes: number;
  #bytes = 0;
  /** set once what the journal held was read back (restored messages are not written again) */
  journal: RetainedJournal | undefined;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#trie.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Store `message` as the topic's retained message, or clear it for an empty payload
   * (§3.3.1.3). False when storing it would exceed the byte limit (nothing changes then).
   */
  put(message: BrokerMessage): boolean {
    if (message.payload.length === 0) {
      this.#remove(message.topic);
      return true;
    }
    const old = this.#trie.get(message.topic);
    const next = this.#bytes - (old === undefined ? 0 : cost(old)) + cost(message);
    if (next > this.#maxBytes) return false;
    this.#trie.set(message.topic, message);
    this.#bytes = next;
    this.journal?.putRetained(message);
    return true;
  }

  /** the retained messages matching `filter`, dropping the expired ones found on the way (§3.3.2.3.3) */
  matching(filter: string, now: number): BrokerMessage[] {
    const out: BrokerMessage[] = [];
    const expired: string[] = [];
    this.#trie.match(filter, (topic, m) => {
      if (m.expiresAt !== undefined && m.expiresAt <= now) expired.push(topic);
      else out.push(m);
    });
    for (const t of expired) this.#remove(t);
    return out;
  }

  #remove(topic: string): void {
    const old = this.#trie.delete(topic);
    if (old === undefined) return;
    this.#bytes -= cost(old);
    this.journal?.removeRetained(topic);
  }
}
