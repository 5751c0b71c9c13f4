/**
 * A far AMQP 1.0 peer for the amqp10 connector's tests: a real rhea container listening on a
 * free loopback port, playing an application Ferry sends to or receives from (a JMS consumer,
 * an Artemis-like endpoint). It is not a broker: each test decides what the peer does with
 * every transfer (accept, reject, release, modify, hold) and with its links and connections.
 */
import type { Server, Socket } from 'node:net';
import rhea from 'rhea';
import { peerAddress } from '../src/rhea-seam.js';

/** One transfer the peer received, with the delivery to settle it by. */
export interface PeerTransfer {
  readonly address: string;
  readonly message: rhea.Message;
  readonly delivery: rhea.Delivery;
  readonly receiver: rhea.Receiver;
}

export interface FarPeerOptions {
  /** what to do with each transfer; default: accept it */
  readonly onTransfer?: (t: PeerTransfer) => void;
  /** credit the peer gives each link Ferry attaches (manual: given once, then one per settlement) */
  readonly credit?: number;
}

/** The peer's side of one connection Ferry opened. */
export interface PeerConnection {
  readonly conn: rhea.Connection;
  /** the TCP socket under it (rhea keeps it as `socket`), to write raw bytes */
  readonly socket: Socket;
}

export class FarPeer {
  readonly #container: rhea.Container;
  readonly #opts: FarPeerOptions;
  readonly #turns: (() => void)[] = [];
  #server: Server | undefined;
  readonly connections: PeerConnection[] = [];
  readonly transfers: PeerTransfer[] = [];
  readonly receivers: rhea.Receiver[] = [];
  /** every error event the peer saw: the process must not need them to survive */
  readonly errors: string[] = [];
  port = 0;
  /** called for each link Ferry attaches, after the peer gave it credit: a test may refuse it */
  onReceiverOpen: ((r: rhea.Receiver) => void) | undefined;

  constructor(opts: FarPeerOptions = {}) {
    this.#opts = opts;
    this.#container = rhea.create_container({ id: 'far-peer' });
    const c = this.#container;
    c.on('error', (e: Error) => this.errors.push(`container: ${e.message}`));
    c.on('connection_open', (ctx: rhea.EventContext) => {
      const conn = ctx.connection;
      // rhea keeps the accepted socket as `socket` (lib/connection.js init); its typings do not say so
      this.connections.push({ conn, socket: (conn as unknown as { socket: Socket }).socket });
    });
    c.on('disconnected', () => undefined);
    c.on('connection_error', () => undefined);
    c.on('receiver_open', (ctx: rhea.EventContext) => {
      const r = ctx.receiver;
      if (r === undefined) return;
      this.receivers.push(r);
      // the peer attaches back with the address Ferry asked for (§2.6.3)
      const address = peerAddress(r, 'target');
      if (address !== undefined) r.set_target({ address });
      r.add_credit(this.#opts.credit ?? 100);
      this.onReceiverOpen?.(r);
    });
    c.on('message', (ctx: rhea.EventContext) => {
      const r = ctx.receiver;
      const d = ctx.delivery;
      if (r === undefined || d === undefined || ctx.message === undefined) return;
      const t: PeerTransfer = { address: peerAddress(r, 'target') ?? '', message: ctx.message, delivery: d, receiver: r };
      this.transfers.push(t);
      this.#inTurn(() => (this.#opts.onTransfer === undefined ? d.accept() : this.#opts.onTransfer(t)));
      r.add_credit(1);
    });
    c.on('receiver_error', () => undefined);
    c.on('sender_error', () => undefined);
    c.on('session_error', () => undefined);
  }

  /**
   * One settlement per turn of the event loop. rhea 3.0.5 merges a session's dispositions of
   * one pass into one frame with the first one's outcome (docs/mapping/amqp10.md, "rhea 3.0.5
   * bug"): a peer that accepted #0 and rejected #1 in one tick would send `accepted` for both,
   * which is the peer's bug, not what these tests are about.
   */
  #inTurn(f: () => void): void {
    this.#turns.push(f);
    if (this.#turns.length === 1) setImmediate(() => this.#nextTurn());
  }

  #nextTurn(): void {
    const f = this.#turns[0];
    if (f === undefined) return;
    f();
    this.#turns.shift();
    if (this.#turns.length > 0) setImmediate(() => this.#nextTurn());
  }

  async start(): Promise<number> {
    const server = this.#container.listen({
      port: 0,
      host: '127.0.0.1',
      // manual settlement and credit: the peer's own choices, per test
      receiver_options: { autoaccept: false, credit_window: 0 },
      tcp_no_delay: true,
    } as Parameters<rhea.Container["listen"]>[0]);
    await new Promise<void>((resolve) => (server.listening ? resolve() : server.once('listening', () => resolve())));
    this.#server = server;
    const a = server.address();
    this.port = a !== null && typeof a === 'object' ? a.port : 0;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.socket.destroy();
    await new Promise<void>((r) => (this.#server === undefined ? r() : this.#server.close(() => r())));
  }
}
