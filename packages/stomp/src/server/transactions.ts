import { FerryError } from '@ferry/core';
import type { StompFrame } from '../frame/frame.js';
import { messageBytes } from './broker-message.js';
import type { StompBroker } from './broker.js';
import { sentMessage } from './frame-headers.js';
import type { SessionOptions } from './session-options.js';

/** One frame a transaction holds until its COMMIT (STOMP 1.2 §BEGIN: SEND and ACK/NACK). */
export type TxOp = { readonly kind: 'send'; readonly frame: StompFrame; readonly destination: string; readonly bytes: number } | { readonly kind: 'ack' | 'nack'; readonly frame: StompFrame };

/** Why a transaction frame was refused: a protocol error, or a byte limit (named as the option). */
export type TxRefusal = { readonly kind: 'protocol'; readonly message: string } | { readonly kind: 'limit'; readonly error: FerryError };

/** What a SEND held in a transaction costs: its body and header text. */
function frameBytes(f: StompFrame): number {
  let n = f.body.length;
  for (const [k, v] of f.headers) n += k.length + v.length;
  return n;
}

/**
 * The open transactions of one session (STOMP 1.2 §BEGIN, §COMMIT, §ABORT): the frames each
 * holds, bounded in count per session, in frames per transaction and in bytes over all of them.
 */
export class Transactions {
  readonly #open = new Map<string, TxOp[]>();
  /** bytes of the SENDs held by open transactions (a COMMIT, ABORT or close gives them back) */
  #bytes = 0;
  readonly #opts: Pick<SessionOptions, 'maxTransactions' | 'maxTransactionFrames' | 'maxTransactionBytes'>;

  constructor(opts: Pick<SessionOptions, 'maxTransactions' | 'maxTransactionFrames' | 'maxTransactionBytes'>) {
    this.#opts = opts;
  }

  /** BEGIN: an error message, or undefined once the transaction is open */
  begin(txId: string): string | undefined {
    if (this.#open.has(txId)) return `transaction ${JSON.stringify(txId)} already begun`;
    if (this.#open.size >= this.#opts.maxTransactions) return `more than ${this.#opts.maxTransactions} open transactions`;
    this.#open.set(txId, []);
    return undefined;
  }

  /** A SEND held by the transaction until its COMMIT. */
  addSend(txId: string, frame: StompFrame, destination: string): TxRefusal | undefined {
    const ops = this.#ops(txId);
    if (!Array.isArray(ops)) return ops;
    const bytes = frameBytes(frame);
    const max = this.#opts.maxTransactionBytes;
    if (this.#bytes + bytes > max) {
      return { kind: 'limit', error: new FerryError('LIMIT_EXCEEDED', `open transactions would hold more than ${max} bytes`, { details: { limit: 'maxTransactionBytes', transaction: txId, max } }) };
    }
    this.#bytes += bytes;
    ops.push({ kind: 'send', frame, destination, bytes });
    return undefined;
  }

  /** An ACK or NACK held by the transaction until its COMMIT. */
  addAck(txId: string, frame: StompFrame, kind: 'ack' | 'nack'): TxRefusal | undefined {
    const ops = this.#ops(txId);
    if (!Array.isArray(ops)) return ops;
    ops.push({ kind, frame });
    return undefined;
  }

  /** COMMIT or ABORT: the transaction's frames in order, undefined for an unknown one. */
  end(txId: string): TxOp[] | undefined {
    const ops = this.#open.get(txId);
    if (ops === undefined) return undefined;
    this.#open.delete(txId);
    for (const op of ops) if (op.kind === 'send') this.#bytes -= op.bytes;
    return ops;
  }

  /** every open transaction aborted (DISCONNECT, close) */
  clear(): void {
    this.#open.clear();
    this.#bytes = 0;
  }

  #ops(txId: string): TxOp[] | TxRefusal {
    const ops = this.#open.get(txId);
    if (ops === undefined) return { kind: 'protocol', message: `unknown transaction ${JSON.stringify(txId)}` };
    if (ops.length >= this.#opts.maxTransactionFrames) return { kind: 'protocol', message: `transaction ${txId} holds more than ${this.#opts.maxTransactionFrames} frames` };
    return ops;
  }
}

/**
 * Whether the queues a COMMIT sends to have room for all of its SENDs, checked before any is
 * sent, so a full queue fails the whole COMMIT, not half of it: the refusal, or undefined.
 */
export function roomRefusal(ops: readonly TxOp[], broker: Pick<StompBroker, 'refusal'>): FerryError | undefined {
  const perQueue = new Map<string, { count: number; bytes: number }>();
  for (const op of ops) {
    if (op.kind !== 'send') continue;
    const q = perQueue.get(op.destination) ?? { count: 0, bytes: 0 };
    q.count++;
    q.bytes += messageBytes(sentMessage(op.frame, op.destination));
    perQueue.set(op.destination, q);
  }
  for (const [dest, q] of perQueue) {
    const refused = broker.refusal(dest, q.count, q.bytes);
    if (refused !== undefined) return refused;
  }
  return undefined;
}
