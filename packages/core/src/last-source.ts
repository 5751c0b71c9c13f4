import type { MessageSource, Protocol } from './message.js';

/**
 * The `source` of a connector's last message, given again to the next one from the same address.
 * A device publishes on one topic, a queue delivers one routing key, a client sends to one
 * destination again and again; messages are read-only, so they can share the object (frozen, so
 * nothing can change it for the others), and a message in flight then keeps none of its own. A message from another address gets a new one.
 */
export class LastSource {
  readonly #connector: string;
  readonly #protocol: Protocol;
  #last: MessageSource | undefined;

  constructor(connector: string, protocol: Protocol) {
    this.#connector = connector;
    this.#protocol = protocol;
  }

  /** the source of a message from `address` */
  of(address: string): MessageSource {
    const last = this.#last;
    if (last?.address === address) return last;
    return (this.#last = Object.freeze({ connector: this.#connector, protocol: this.#protocol, address }));
  }
}
