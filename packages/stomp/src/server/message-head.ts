import { escapeHeader, writtenAsIs } from '../frame/escape.js';
import type { StompVersion } from '../frame/frame.js';
import type { BrokerMessage } from './broker-message.js';

/**
 * What every MESSAGE frame of one subscription shares (STOMP 1.2 §MESSAGE), encoded once for
 * the session's version: the command, `subscription`, `destination` (every message of a
 * subscription has its destination) and whether an `ack` header goes with it. Per message only
 * the `message-id` (and `ack`), `redelivered` and the application headers are written. The
 * order on the wire is the one the session always wrote: subscription, message-id, destination,
 * ack, redelivered, the application headers.
 */
export class MessageHead {
  /** `MESSAGE`, `subscription`, the name `message-id` */
  readonly #start: string;
  readonly #destination: string;
  /** the `destination` line, its LF before it and after it */
  readonly #destinationLine: string;
  readonly #version: StompVersion;
  /**
   * STOMP 1.2 §MESSAGE: an `ack` header when the subscription needs explicit acks; its value is
   * what the ACK's `id` names. 1.0/1.1 acknowledge by message-id instead.
   */
  readonly #ack: boolean;

  /** `subscription`, `destination` and whether its ack mode is not `auto`: the subscription's */
  constructor(subscription: string, destination: string, explicitAcks: boolean, version: StompVersion) {
    this.#version = version;
    this.#start = `MESSAGE\nsubscription:${escapeValue(subscription, version)}\nmessage-id:`;
    this.#destination = destination;
    this.#destinationLine = `\ndestination:${escapeValue(destination, version)}\n`;
    this.#ack = explicitAcks && version === '1.2';
  }

  /** the frame's command line and protocol headers for `msg` delivered as `messageId` */
  text(msg: BrokerMessage, messageId: string): string {
    const version = this.#version;
    const id = writtenAsIs(messageId) ? messageId : escapeValue(messageId, version);
    let head = this.#start + id;
    head += msg.destination === this.#destination ? this.#destinationLine : `\ndestination:${escapeValue(msg.destination, version)}\n`;
    if (this.#ack) head += `ack:${id}\n`;
    if (msg.redelivered) head += 'redelivered:true\n';
    return head;
  }
}

/** a header value as a MESSAGE (an escaped frame) writes it: values are never dropped, only escaped */
function escapeValue(value: string, version: StompVersion): string {
  return escapeHeader(value, version, true, false) ?? '';
}
