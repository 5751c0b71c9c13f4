import { LastSource, type GatewayMessage, type MessageSource } from '@ferry/core';
import type { StompVersion } from '../frame/frame.js';

type Meta = GatewayMessage['meta'];

/**
 * The parts of a SEND's canonical message that every SEND of one session to one destination has
 * alike: its `source` and its `meta` without `persistent` (`{ stomp: { version, session } }`).
 * Messages are read-only, so the last ones made are given again while they fit: a SEND in flight
 * then keeps three objects fewer. One per connector; a SEND of another session or destination
 * makes new ones.
 */
export class SharedSendParts {
  readonly #source: LastSource;
  #meta: Meta | undefined;
  #session = '';
  #version: StompVersion | undefined;

  constructor(connector: string) {
    this.#source = new LastSource(connector, 'stomp');
  }

  /** the source of a SEND to `destination` */
  source(destination: string): MessageSource {
    return this.#source.of(destination);
  }

  /** the meta of a SEND without `persistent` from session `session` */
  meta(version: StompVersion, session: string): Meta {
    const last = this.#meta;
    if (last !== undefined && this.#session === session && this.#version === version) return last;
    this.#session = session;
    this.#version = version;
    return (this.#meta = { stomp: { version, session } });
  }
}
