import type { ListenerAuthInput } from '@ferry/core';
import type { StompListenerOptions } from './listener-options.js';

/** The listener's auth options in core's shape: STOMP's CONNECT names the fields login and passcode. */
export function stompAuthInput(o: StompListenerOptions): ListenerAuthInput {
  return { ...o, users: o.users.map((u) => ({ ...u, username: u.login, password: u.passcode })) };
}
