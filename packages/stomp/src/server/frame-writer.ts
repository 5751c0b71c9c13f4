import type { Duplex } from 'node:stream';
import type { Logger } from '@ferry/core';
import { TurnWriter } from '@ferry/net';
import { encodeFrameAfter, encodeFrameDetailed, encodeReceipt, HEARTBEAT, receiptText } from '../frame/encoder.js';
import type { HeaderEntry, StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';
import { MESSAGE_PROTOCOL_HEADERS } from './frame-headers.js';
import type { HeartBeatMonitor } from './heartbeat-monitor.js';

/**
 * The frames one session writes, encoded for the version it agreed (header escaping differs,
 * STOMP 1.2 §Value Encoding). The frames of one turn (a batch of RECEIPTs, a burst of MESSAGEs)
 * leave in one system call (TurnWriter); every write counts as a heart-beat.
 */
export class FrameWriter {
  readonly #stream: Duplex;
  readonly #out: TurnWriter;
  readonly #log: Logger;
  readonly #beats: HeartBeatMonitor;
  version: StompVersion = '1.0';
  /** false once the socket holds more than its high-water mark, until it drains */
  writable = true;
  /**
   * whether the RECEIPTs of a turn may leave as one chunk: on a byte stream (TCP, TLS) frames
   * have no boundaries of their own, over WebSocket each frame stays its own message
   */
  readonly #joinReceipts: boolean;

  constructor(stream: Duplex, log: Logger, beats: HeartBeatMonitor, joinReceipts: boolean) {
    this.#stream = stream;
    this.#out = new TurnWriter(stream);
    this.#log = log;
    this.#beats = beats;
    this.#joinReceipts = joinReceipts;
  }

  frame(command: string, headers: readonly HeaderEntry[], body?: Buffer): void {
    const { bytes, dropped } = encodeFrameDetailed(command, headers, body, this.version);
    this.#written(bytes, dropped);
  }

  /**
   * STOMP 1.2 §MESSAGE: `head`, the command and protocol headers already encoded
   * (message-head.ts), then the message's application headers (but those by a name the server
   * writes itself) and its body
   */
  message(head: string, msg: BrokerMessage): void {
    const { bytes, dropped } = encodeFrameAfter(head, true, true, msg.headers, MESSAGE_PROTOCOL_HEADERS, msg.body, this.version);
    this.#written(bytes, dropped);
  }

  #written(bytes: Buffer, dropped: readonly string[]): void {
    if (dropped.length > 0) this.#log.debug('stomp headers not representable in this version were dropped', { version: this.version, dropped });
    this.#write(bytes);
  }

  /**
   * STOMP 1.2 §RECEIPT: the answer to a frame with a `receipt` header, once what it asked is
   * done. A batch of SENDs settled in one turn (one `basic.ack multiple`) answers with one
   * RECEIPT each: on a byte stream they are joined into one string, written as one buffer at the
   * end of the turn (or before any other frame, so the order on the wire is the order written;
   * TurnWriter.writeText).
   */
  receipt(receiptId: string): void {
    const text = this.#joinReceipts ? receiptText(receiptId) : undefined;
    if (text === undefined) return this.#write(encodeReceipt(receiptId, this.version));
    if (this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#beats.wrote();
    this.#out.writeText(text);
  }

  /** STOMP 1.2 §Heart-beating: an EOL */
  heartBeat(): void {
    this.#write(HEARTBEAT);
  }

  /**
   * STOMP 1.2 §ERROR: `message`, the `receipt-id` of the frame that caused it, and a plain-text
   * body (`detail`, or the message again)
   */
  error(message: string, receiptId: string | undefined, detail: string | undefined, extra: readonly HeaderEntry[]): void {
    const headers: HeaderEntry[] = [['message', message]];
    if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
    headers.push(...extra, ['content-type', 'text/plain']);
    this.frame('ERROR', headers, Buffer.from(detail ?? message, 'utf8'));
  }

  /** send what this turn wrote now (before the socket is destroyed or ended) */
  flush(): void {
    this.#out.flush();
  }

  #write(bytes: Buffer): void {
    if (this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#beats.wrote();
    if (!this.#out.write(bytes)) this.writable = false;
  }
}
