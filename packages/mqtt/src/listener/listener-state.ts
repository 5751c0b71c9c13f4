import { corruptRecord, encodeListenerRecord, isFieldRecord as isRecord, ListenerStoreView, loadListenerRecords, type FerryError } from '@ferry/core';
import type { QoS } from 'mqtt-packet';
import type { PublishProperties } from '../mapping.js';
import type { Session, SessionEntry, SessionJournal } from './session.js';
import type { BrokerMessage, Subscription } from './types.js';
import { copyFor } from './copies.js';

/**
 * Record keys in the listener store (one key space per listener connector):
 * - `r\0<topic>`: a retained message
 * - `s\0<client id>`: a persistent session (owner, expiry, subscriptions)
 * - `m\0<client id>\0<sequence, 12 hex digits>`: a QoS 1/2 message the session holds, with its
 *   packet id and QoS 2 state while in flight
 * A client id holds no U+0000 (MQTT 5 §1.5.4 [MQTT-1.5.4-2]), so `\0` separates unambiguously;
 * the last one is taken all the same.
 */
const RETAINED = 'r\0';
const SESSION = 's\0';
const MESSAGE = 'm\0';

/** what the store keeps of a session */
interface StoredSession {
  readonly clientId: string;
  readonly owner: string | undefined;
  readonly expiryInterval: number;
  /** absolute ms since the epoch; undefined while connected (the clock starts at the restart) */
  readonly expiresAt: number | undefined;
  readonly subscriptions: readonly Subscription[];
  readonly entries: SessionEntry[];
}

export interface LoadedState {
  readonly sessions: StoredSession[];
  readonly retained: BrokerMessage[];
  /** records that could not be read, each an error naming it; they are skipped */
  readonly corrupt: FerryError[];
}

const isQos = (v: unknown): v is QoS => v === 0 || v === 1 || v === 2;
const isOptString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const isOptNumber = (v: unknown): v is number | undefined => v === undefined || typeof v === 'number';

function asMessage(v: unknown): BrokerMessage | string {
  if (!isRecord(v)) return 'message is not an object';
  const { topic, payload, qos, retain, properties, expiresAt, origin } = v;
  if (typeof topic !== 'string' || topic === '') return 'message topic missing';
  if (!Buffer.isBuffer(payload)) return 'message payload is not bytes';
  if (!isQos(qos) || typeof retain !== 'boolean') return 'message qos/retain invalid';
  if (properties !== undefined && !isRecord(properties)) return 'message properties invalid';
  if (!isOptNumber(expiresAt) || !isOptString(origin)) return 'message expiry/origin invalid';
  return { topic, payload, qos, retain, properties: properties as PublishProperties | undefined, expiresAt, origin };
}

function asSubscription(v: unknown): Subscription | string {
  if (!isRecord(v)) return 'subscription is not an object';
  const { filter, qos, nl, rap, rh, id, share } = v;
  if (typeof filter !== 'string' || !isQos(qos) || typeof nl !== 'boolean' || typeof rap !== 'boolean' || typeof rh !== 'number' || !isOptNumber(id)) return 'subscription fields invalid';
  if (share !== undefined && !(isRecord(share) && typeof share.group === 'string' && typeof share.filter === 'string')) return 'subscription share invalid';
  return { filter, qos, nl, rap, rh, id, share: share as Subscription['share'] };
}

const hex = (n: number): string => n.toString(16).padStart(12, '0');

/**
 * The MQTT listener's durable state in a {@link ListenerStore}: persistent sessions, the
 * messages they hold and retained messages. Every change is queued to the store's batch of the
 * turn; `written` is the barrier the broker waits on before it acknowledges (PUBACK, PUBREC,
 * a sink write's confirmation). Records are V8-serialized (payloads stay raw bytes inside).
 */
export class MqttListenerState extends ListenerStoreView implements SessionJournal {
  save(session: Session, entry: SessionEntry): void {
    // encoded when the batch is written: queued then sent in one turn is one record, in its last state
    this.store.put(`${MESSAGE}${session.clientId}\0${hex(entry.key)}`, () => {
      // the record keeps the copy's message fields under `item`, its place in the session beside them
      const { message, qos, retain, subscriptionIds, share } = entry;
      return encodeListenerRecord({ item: { message, qos, retain, subscriptionIds, share }, id: entry.id, state: entry.state });
    });
  }

  remove(session: Session, entry: SessionEntry): void {
    this.store.del(`${MESSAGE}${session.clientId}\0${hex(entry.key)}`);
  }

  /** the session's record: while connected `expiresAt` is left out (the clock starts when it detaches) */
  saveSession(session: Session, expiresAt: number | undefined): void {
    const record = {
      owner: session.owner,
      expiryInterval: session.expiryInterval,
      expiresAt,
      subscriptions: [...session.subscriptions.values()],
    };
    this.store.put(`${SESSION}${session.clientId}`, () => encodeListenerRecord(record));
  }

  /** the session ended: its record goes (its messages were removed one by one as it cleared) */
  removeSession(clientId: string): void {
    this.store.del(`${SESSION}${clientId}`);
  }

  putRetained(message: BrokerMessage): void {
    const { topic, payload, qos, retain, properties, expiresAt, origin } = message;
    this.store.put(`${RETAINED}${topic}`, encodeListenerRecord({ message: { topic, payload, qos, retain, properties, expiresAt, origin } }));
  }

  removeRetained(topic: string): void {
    this.store.del(`${RETAINED}${topic}`);
  }

  /** Read everything back (at start). A record that cannot be read is reported and skipped. */
  async load(): Promise<LoadedState> {
    const corrupt: FerryError[] = [];
    const bad = (key: string, why: string): void => {
      corrupt.push(corruptRecord(this.store.location, key, why));
    };
    const read = async (prefix: string): Promise<{ key: string; fields: Record<string, unknown> }[]> => {
      const loaded = await loadListenerRecords(this.store, prefix);
      corrupt.push(...loaded.corrupt);
      return loaded.records;
    };

    const retained: BrokerMessage[] = [];
    for (const { key, fields: r } of await read(RETAINED)) {
      const m = asMessage(r.message);
      if (typeof m === 'string') bad(key, m);
      else retained.push(m);
    }

    const sessions = new Map<string, StoredSession>();
    for (const { key, fields: r } of await read(SESSION)) {
      const clientId = key.slice(SESSION.length);
      const { owner, expiryInterval, expiresAt } = r;
      if (!isOptString(owner) || typeof expiryInterval !== 'number' || !isOptNumber(expiresAt) || !Array.isArray(r.subscriptions)) {
        bad(key, 'session fields invalid');
        continue;
      }
      const subscriptions: Subscription[] = [];
      let broken: string | undefined;
      for (const s of r.subscriptions as unknown[]) {
        const sub = asSubscription(s);
        if (typeof sub === 'string') broken = sub;
        else subscriptions.push(sub);
      }
      if (broken !== undefined) {
        bad(key, broken);
        continue;
      }
      sessions.set(clientId, { clientId, owner, expiryInterval, expiresAt, subscriptions, entries: [] });
    }

    for (const { key, fields: r } of await read(MESSAGE)) {
      const at = key.lastIndexOf('\0');
      const clientId = key.slice(MESSAGE.length, at);
      const seq = Number.parseInt(key.slice(at + 1), 16);
      const session = sessions.get(clientId);
      if (session === undefined || !Number.isSafeInteger(seq)) {
        // a message of a session whose record is gone (it ended; the deletes of its messages were lost)
        this.store.del(key);
        continue;
      }
      const item = r.item;
      if (!isRecord(item)) {
        bad(key, 'item missing');
        continue;
      }
      const message = asMessage(item.message);
      const { qos, retain, subscriptionIds, share } = item;
      const { id, state } = r;
      if (typeof message === 'string') {
        bad(key, message);
        continue;
      }
      if (!isQos(qos) || typeof retain !== 'boolean' || !Array.isArray(subscriptionIds) || !subscriptionIds.every((n) => typeof n === 'number') || !isOptString(share)) {
        bad(key, 'item fields invalid');
        continue;
      }
      if (!isOptNumber(id) || (state !== 'queued' && state !== 'publish' && state !== 'pubrel')) {
        bad(key, 'delivery state invalid');
        continue;
      }
      const restored = copyFor(message, qos, retain, subscriptionIds, share);
      restored.key = seq;
      restored.id = id;
      restored.state = state;
      session.entries.push(restored);
    }
    return { sessions: [...sessions.values()], retained, corrupt };
  }
}
