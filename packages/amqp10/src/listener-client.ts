import type { Duplex } from 'node:stream';
import type { AuthorizedClient, Logger } from '@ferry/core';
import type rhea from 'rhea';
import type { FrameGuard } from './frame-guard.js';
import type { OutLink } from './outbox.js';
import type { ReceivingLink } from './inbound.js';

/** The server side of a rhea connection: it is handed the accepted socket. */
export interface ServerConnection {
  accept(socket: Duplex): void;
}

/** A client connected to the amqp10-listener. */
export interface Client {
  readonly id: number;
  readonly conn: rhea.Connection;
  readonly guard: FrameGuard;
  /** the transport's stream: TCP, TLS or WebSocket */
  readonly socket: Duplex;
  readonly log: Logger;
  /** its receiving links (Ferry's senders), detached from the outbox when it goes */
  readonly receivers: Set<OutLink>;
  alive: boolean;
  /** what it may send to and receive from: set by its SASL exchange (or anonymous without one) */
  access: AuthorizedClient | undefined;
}

/** A client's sending link: Ferry's receiver. */
/** A link a client sends on, into the sources of this listener. */
export interface InLink extends ReceivingLink {
  readonly receiver: rhea.Receiver;
  readonly client: Client;
}

/** how long stop waits for the clients to answer its close, and then for their sockets to close */
const CLOSE_GRACE_MS = 500;

/**
 * Close every client at stop: a close with amqp:connection:forced (AMQP 1.0 §2.4.3, §2.8.15),
 * a moment for the client to answer and close its side, then whoever is still there goes at
 * once (`gone`, which drops the client from `clients`), and its socket is awaited closed, so
 * nothing of a connection (rhea's handlers on its socket's end included) runs after stop.
 * `listenerClosed`: the listening socket's close, awaited alongside.
 */
export async function closeClients(clients: ReadonlySet<Client>, listenerClosed: Promise<void>, gone: (client: Client) => void): Promise<void> {
  const all = [...clients];
  for (const client of all) {
    try {
      client.conn.close({ condition: 'amqp:connection:forced', description: 'Ferry is shutting down' });
    } catch {
      // already gone
    }
  }
  await settledWithin(Promise.all([listenerClosed, ...all.map((c) => socketClosed(c.socket))]), CLOSE_GRACE_MS);
  const lingering = [...clients];
  for (const client of lingering) {
    client.socket.destroy();
    gone(client);
  }
  await settledWithin(Promise.all([listenerClosed, ...lingering.map((c) => socketClosed(c.socket))]), CLOSE_GRACE_MS);
}

function socketClosed(socket: Duplex): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((r) => socket.once('close', () => r()));
}

/** `p`, or nothing more after `ms`; the timer goes as soon as `p` settles */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
