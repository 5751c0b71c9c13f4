import { TurnWriter, type AcceptedConnection, type ConnectionInfo } from '@ferry/net';
import type { Duplex } from 'node:stream';
import { describeError, FerryError, type Logger } from '@ferry/core';
import { encodeFrameDetailed, HEARTBEAT } from '../frame/encoder.js';
import { StompFrameError } from '../frame/frame-error.js';
import { headerValue, STOMP_VERSIONS, type HeaderEntry, type StompFrame, type StompVersion } from '../frame/frame.js';
import { FrameParser } from '../frame/parser.js';
import { DESTINATION_HELP, messageBytes, parseDestination, type BrokerMessage } from './broker-message.js';
import type { AckMode, StompBroker, SubscriberSession, Subscription } from './broker.js';
import { DEAD_PEER_FACTOR, negotiateHeartBeat, parseHeartBeat } from './heartbeat.js';
import type { InboundSend, SessionAccess, SessionOptions } from './session-options.js';

export * from './session-options.js';

export interface SessionHooks {
  /**
   * Whether login/passcode may connect (STOMP 1.2 §CONNECT: login, passcode): true / false, or a
   * promise of what the client may do (undefined: refused). `info` is the connection's transport
   * (its address, its verified client certificate).
   */
  authenticate(login: string | undefined, passcode: string | undefined, info: ConnectionInfo | undefined): boolean | Promise<SessionAccess | undefined>;
  /**
   * A SEND was taken by the broker. Return a promise that resolves when it is settled
   * (accepted), rejects with a FerryError when refused; undefined when there is nothing to wait for.
   */
  onSend(send: InboundSend): Promise<void> | undefined;
  /** false once the server stopped taking messages (closeSources) */
  acceptingSends(): boolean;
  /**
   * true while the owner's flow control (a route at maxInFlight) asks sessions to stop reading
   * their sockets; see {@link StompSession.updateFlow}
   */
  flowPaused?(): boolean;
  onProtocolError?(reason: string): void;
  /** a client went over a byte or count limit (the name of the option) and was told */
  onLimitExceeded?(limit: string, details: Record<string, unknown>): void;
  onOpened?(session: StompSession): void;
  onClosed?(session: StompSession): void;
}

type State = 'connecting' | 'connected' | 'disconnecting' | 'closing' | 'closed';

/** Headers a SEND carries for the server itself; everything else travels with the message. */
const SEND_PROTOCOL_HEADERS = new Set(['destination', 'receipt', 'transaction', 'content-length']);
/** Headers of a MESSAGE the server writes itself; application headers by these names are not copied. */
const MESSAGE_PROTOCOL_HEADERS = new Set(['destination', 'subscription', 'message-id', 'ack', 'content-length', 'receipt', 'receipt-id', 'transaction', 'redelivered']);
const CLIENT_COMMANDS = new Set(['CONNECT', 'STOMP', 'SEND', 'SUBSCRIBE', 'UNSUBSCRIBE', 'ACK', 'NACK', 'BEGIN', 'COMMIT', 'ABORT', 'DISCONNECT']);

type TxOp = { readonly kind: 'send'; readonly frame: StompFrame; readonly destination: string; readonly bytes: number } | { readonly kind: 'ack' | 'nack'; readonly frame: StompFrame };

/** What a SEND held in a transaction costs: its body and header text. */
function frameBytes(f: StompFrame): number {
  let n = f.body.length;
  for (const [k, v] of f.headers) n += k.length + v.length;
  return n;
}

let sessionCounter = 0;

/**
 * One client connection: parses its frames, answers them, and writes MESSAGE frames for its
 * subscriptions. Works over any Duplex (a TCP socket, or an in-memory pair in tests).
 *
 * Errors follow STOMP 1.2 §ERROR: the server sends one ERROR frame (with `message`, and
 * `receipt-id` when the offending frame asked for a receipt) and closes the connection.
 */
export class StompSession implements SubscriberSession {
  readonly id: string;
  readonly #stream: Duplex;
  /** the frames of one turn (a batch of RECEIPTs, a burst of MESSAGEs) leave in one system call */
  readonly #out: TurnWriter;
  readonly #broker: StompBroker;
  readonly #hooks: SessionHooks;
  readonly #opts: SessionOptions;
  readonly #log: Logger;
  readonly #parser: FrameParser;
  #state: State = 'connecting';
  #version: StompVersion = '1.0';
  #login: string | undefined;
  /** what this client may send to and subscribe to; undefined: everything */
  #access: SessionAccess | undefined;
  /**
   * true while the CONNECT's credentials are checked (a failed login waits out its slow-down
   * here): the socket is not read, and frames that came with the CONNECT wait in #early
   */
  #authenticating = false;
  readonly #early: StompFrame[] = [];
  readonly #subs = new Map<string, Subscription>();
  readonly #tx = new Map<string, TxOp[]>();
  /** bytes of the SENDs held by open transactions (a COMMIT, ABORT or close gives them back) */
  #txBytes = 0;
  readonly #pending = new Set<Promise<void>>();
  #pausedForPending = false;
  /** reading stopped by the owner's flow control */
  #pausedForFlow = false;
  #writable = true;
  #lastRead = Date.now();
  #lastWrite = Date.now();
  #sendTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  #closedPromise: Promise<void>;
  #resolveClosed: () => void = () => undefined;

  /** who is connected, over which transport (absent for in-memory streams in tests) */
  readonly info: ConnectionInfo | undefined;
  readonly #handshakeDone: () => void;

  /** `transport`: from the listener's transport (@ferry/net); its handshake deadline ends at CONNECTED */
  constructor(stream: Duplex, broker: StompBroker, hooks: SessionHooks, opts: SessionOptions, log: Logger, transport?: Pick<AcceptedConnection, 'info' | 'handshakeDone'>) {
    this.info = transport?.info;
    this.#handshakeDone = transport?.handshakeDone ?? (() => undefined);
    this.id = `ferry-${process.pid.toString(36)}-${(++sessionCounter).toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    this.#stream = stream;
    this.#out = new TurnWriter(stream);
    this.#broker = broker;
    this.#hooks = hooks;
    this.#opts = opts;
    this.#log = log.child({ session: this.id });
    this.#parser = new FrameParser((f) => this.#onFrame(f), opts.limits);
    this.#closedPromise = new Promise((r) => (this.#resolveClosed = r));
  }

  /** Wire the stream's events; call once. */
  open(): void {
    this.#stream.on('data', (chunk: Buffer | string) => this.#onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    this.#stream.on('error', (err: Error) => {
      this.#log.debug('stomp session socket error', { error: describeError(err) });
    });
    this.#stream.on('close', () => this.#onClose());
    // A peer that half-closes (FIN) sends nothing more: treat it as gone.
    this.#stream.on('end', () => this.#close());
    this.#stream.on('drain', () => {
      if (this.#state === 'closed') return;
      this.#writable = true;
      this.#broker.resume(this.#subs.values());
    });
  }

  /**
   * Backpressure from the owner: while its flow is paused (a route at maxInFlight), a connected
   * session stops reading its socket, so clients' SENDs wait in TCP rather than in Ferry's
   * memory. Settlements of SENDs already taken still send their RECEIPTs, and resume the flow.
   */
  updateFlow(): void {
    const pause = this.#hooks.flowPaused?.() === true && this.#state === 'connected';
    if (pause === this.#pausedForFlow) return;
    this.#pausedForFlow = pause;
    this.#applyRead();
  }

  #applyRead(): void {
    if (this.#state === 'closed') return;
    if (this.#pausedForPending || this.#pausedForFlow || this.#authenticating) this.#stream.pause();
    else this.#stream.resume();
  }

  get state(): State {
    return this.#state;
  }

  get version(): StompVersion {
    return this.#version;
  }

  get writable(): boolean {
    // Not while disconnecting: an auto-ack delivery to a client that is leaving would be lost.
    return this.#writable && this.#state === 'connected';
  }

  /** bytes the parser holds for a partial frame (bounded by the limits) */
  get bufferedBytes(): number {
    return this.#parser.bufferedBytes;
  }

  get pendingSends(): number {
    return this.#pending.size;
  }

  get subscriptionCount(): number {
    return this.#subs.size;
  }

  /** resolves once the stream closed */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** Close from the server side (shutdown): ERROR with `message`, then close. */
  shutdown(message: string): Promise<void> {
    this.#fail(message);
    return this.#closedPromise;
  }

  // ---- incoming -------------------------------------------------------------------------

  #onData(chunk: Buffer): void {
    this.#lastRead = Date.now();
    if (this.#state === 'closing' || this.#state === 'closed') return;
    try {
      this.#parser.push(chunk);
    } catch (err) {
      if (err instanceof StompFrameError) {
        this.#hooks.onProtocolError?.(err.reason);
        this.#fail(err.message, err.receiptId, `STOMP frame error: ${err.reason}`);
      } else {
        this.#log.error('stomp session internal error', { error: describeError(err) });
        this.#fail('internal server error');
      }
    }
  }

  #onFrame(f: StompFrame): void {
    if (this.#state === 'closing' || this.#state === 'closed' || this.#state === 'disconnecting') return;
    if (!CLIENT_COMMANDS.has(f.command)) {
      this.#protocolError(f, `unknown command ${f.command}`);
      return;
    }
    if (this.#authenticating) {
      // sent right behind CONNECT, before CONNECTED: handled once the login is decided (the
      // socket is paused, so this holds at most what one read already parsed)
      this.#early.push(f);
      return;
    }
    if (this.#state === 'connecting') {
      if (f.command === 'CONNECT' || f.command === 'STOMP') this.#onConnect(f);
      else this.#protocolError(f, `${f.command} before CONNECT: connect first`);
      return;
    }
    switch (f.command) {
      case 'CONNECT':
      case 'STOMP':
        this.#protocolError(f, 'already connected');
        return;
      case 'SEND':
        this.#onSend(f);
        return;
      case 'SUBSCRIBE':
        this.#onSubscribe(f);
        return;
      case 'UNSUBSCRIBE':
        this.#onUnsubscribe(f);
        return;
      case 'ACK':
      case 'NACK':
        this.#onAck(f);
        return;
      case 'BEGIN':
      case 'COMMIT':
      case 'ABORT':
        this.#onTransaction(f);
        return;
      case 'DISCONNECT':
        this.#onDisconnect(f);
        return;
    }
  }

  #onConnect(f: StompFrame): void {
    // STOMP 1.2 §Protocol Negotiation: no accept-version means 1.0; otherwise the highest
    // version both sides support, or an ERROR listing the server's versions.
    const accept = headerValue(f, 'accept-version');
    let version: StompVersion | undefined;
    if (accept === undefined) version = '1.0';
    else {
      const offered = new Set(accept.split(',').map((v) => v.trim()));
      for (const v of STOMP_VERSIONS) if (offered.has(v)) version = v;
    }
    if (version === undefined) {
      this.#fail(`Supported protocol versions are ${STOMP_VERSIONS.join(',')}`, undefined, undefined, [['version', STOMP_VERSIONS.join(',')]]);
      return;
    }
    if (f.command === 'STOMP' && version === '1.0') {
      this.#fail('the STOMP frame needs STOMP 1.1 or later (send accept-version)');
      return;
    }
    this.#version = version;
    this.#parser.version = version;
    const login = headerValue(f, 'login');
    const refused = (): void => {
      this.#hooks.onProtocolError?.('auth');
      this.#log.info('stomp authentication failed', { login, remote: this.info?.remote });
      this.#fail('authentication failed');
    };
    const decided = this.#hooks.authenticate(login, headerValue(f, 'passcode'), this.info);
    if (decided === false) return refused();
    if (decided === true) return this.#connected(f, version, login);
    this.#authenticating = true;
    this.#applyRead();
    decided.then(
      (access) => {
        this.#authenticating = false;
        if (this.#state !== 'connecting') return;
        if (access === undefined) return refused();
        this.#access = access;
        this.#connected(f, version, login);
        for (const early of this.#early.splice(0)) this.#onFrame(early);
        this.#applyRead();
      },
      (err: unknown) => {
        this.#authenticating = false;
        this.#log.error('stomp login check failed', { error: describeError(err) });
        this.#fail('internal server error');
      },
    );
  }

  /** The rest of CONNECT once the client logged in: heart-beats, CONNECTED. */
  #connected(f: StompFrame, version: StompVersion, login: string | undefined): void {
    this.#login = login;
    const clientBeat = version === '1.0' ? ([0, 0] as const) : parseHeartBeat(headerValue(f, 'heart-beat'));
    if (clientBeat === undefined) {
      this.#fail(`invalid heart-beat header ${JSON.stringify(headerValue(f, 'heart-beat'))}: expected two integers, "cx,cy"`);
      return;
    }
    const agreed = negotiateHeartBeat(clientBeat, this.#opts.heartBeat);
    const headers: HeaderEntry[] = [];
    if (version !== '1.0') {
      headers.push(['version', version]);
      headers.push(['heart-beat', `${this.#opts.heartBeat.sendMs},${this.#opts.heartBeat.receiveMs}`]);
    }
    headers.push(['server', this.#opts.serverName], ['session', this.id]);
    this.#state = 'connected';
    this.#writeFrame('CONNECTED', headers);
    this.#handshakeDone();
    this.#startHeartBeat(agreed.serverSendsMs, agreed.clientSendsMs);
    // a client that connects while the flow is paused gets CONNECTED, then waits in TCP
    this.updateFlow();
    this.#log.debug('stomp session connected', { version, login, heartBeat: agreed });
  }

  #onSend(f: StompFrame): void {
    const destination = headerValue(f, 'destination');
    if (destination === undefined) return this.#protocolError(f, 'SEND without a destination header');
    if (parseDestination(destination) === undefined) return this.#protocolError(f, `unknown destination ${JSON.stringify(destination)}: ${DESTINATION_HELP}`);
    // a SEND outside the client's grants: STOMP has no negative receipt, so ERROR and close (§ERROR)
    if (this.#access !== undefined && !this.#access.mayPublish(destination, this.info?.remote)) {
      return this.#fail(`access refused: you may not send to ${destination}`, headerValue(f, 'receipt'));
    }
    const txId = headerValue(f, 'transaction');
    if (txId !== undefined) {
      const ops = this.#tx.get(txId);
      if (ops === undefined) return this.#protocolError(f, `unknown transaction ${JSON.stringify(txId)}`);
      if (ops.length >= this.#opts.maxTransactionFrames) return this.#protocolError(f, `transaction ${txId} holds more than ${this.#opts.maxTransactionFrames} frames`);
      const bytes = frameBytes(f);
      if (this.#txBytes + bytes > this.#opts.maxTransactionBytes) {
        return this.#limitError(f, 'maxTransactionBytes', `open transactions would hold more than ${this.#opts.maxTransactionBytes} bytes`, { transaction: txId, max: this.#opts.maxTransactionBytes });
      }
      this.#txBytes += bytes;
      ops.push({ kind: 'send', frame: f, destination, bytes });
      this.#receipt(f);
      return;
    }
    const receipt = headerValue(f, 'receipt');
    const settled = this.#publish(f, destination, receipt !== undefined);
    if (settled === false) return;
    if (receipt === undefined) return;
    if (settled === true) {
      this.#writeFrame('RECEIPT', [['receipt-id', receipt]]);
      return;
    }
    settled.then(
      () => {
        if (this.#state === 'connected' || this.#state === 'disconnecting') this.#writeFrame('RECEIPT', [['receipt-id', receipt]]);
      },
      (err: unknown) => this.#fail(`message not accepted: ${describeError(err)}`, receipt),
    );
  }

  /**
   * Hand one SEND to the broker and to the hooks. Returns false when it failed (an ERROR was
   * sent), true when there is nothing to wait for, or the settlement promise.
   */
  #publish(f: StompFrame, destination: string, confirmed: boolean, receiptForError?: string): boolean | Promise<void> {
    const receipt = receiptForError ?? headerValue(f, 'receipt');
    if (!this.#hooks.acceptingSends()) {
      this.#fail('shutting down', receipt);
      return false;
    }
    const headers = f.headers.filter(([n]) => !SEND_PROTOCOL_HEADERS.has(n));
    const expires = headerValue(f, 'expires');
    const expiresAt = expires !== undefined && /^\d{1,15}$/.test(expires) ? Number(expires) : undefined;
    const msg: BrokerMessage = { destination, headers, body: f.body, expiresAt, redelivered: false };
    let stored: Promise<void> | undefined;
    try {
      stored = this.#broker.publish(msg).stored;
    } catch (err) {
      if (FerryError.is(err) && err.code === 'LIMIT_EXCEEDED') this.#limitSeen(err);
      this.#fail(FerryError.is(err) ? err.message : describeError(err), receipt);
      return false;
    }
    let p: Promise<void> | undefined;
    try {
      p = this.#hooks.onSend({ destination, headers, body: f.body, confirmed, sessionId: this.id, login: this.#login, version: this.#version });
    } catch (err) {
      p = Promise.reject(err);
    }
    // a /queue message kept in the listener store is confirmed once it is on disk as well
    if (stored !== undefined) p = p === undefined ? stored : Promise.all([p, stored]).then(() => undefined);
    if (p === undefined) return true;
    const tracked = p.finally(() => {
      this.#pending.delete(tracked);
      if (this.#pausedForPending && this.#pending.size <= this.#opts.maxPendingSends / 2) {
        this.#pausedForPending = false;
        if (this.#state !== 'closed') this.#applyRead();
      }
    });
    // Unhandled rejections of the tracked copy are handled by the caller's `then`; keep this one quiet.
    tracked.catch(() => undefined);
    this.#pending.add(tracked);
    if (this.#pending.size >= this.#opts.maxPendingSends && !this.#pausedForPending) {
      // Stop reading: a client that pipelines faster than its messages settle waits in TCP.
      this.#pausedForPending = true;
      this.#applyRead();
    }
    if (!confirmed) {
      // At-most-once: the client asked for no receipt, so a refusal can only be counted.
      tracked.catch((err: unknown) => this.#log.warn('stomp SEND without receipt was not accepted', { destination, error: describeError(err) }));
    }
    return tracked;
  }

  #onSubscribe(f: StompFrame): void {
    const destination = headerValue(f, 'destination');
    if (destination === undefined) return this.#protocolError(f, 'SUBSCRIBE without a destination header');
    if (parseDestination(destination) === undefined) return this.#protocolError(f, `unknown destination ${JSON.stringify(destination)}: ${DESTINATION_HELP}`);
    if (this.#access !== undefined && !this.#access.maySubscribe(destination, this.info?.remote)) {
      return this.#fail(`access refused: you may not subscribe to ${destination}`, headerValue(f, 'receipt'));
    }
    // STOMP 1.2 §SUBSCRIBE id Header: required (1.1 too); STOMP 1.0 made it optional.
    let id = headerValue(f, 'id');
    if (id === undefined) {
      if (this.#version !== '1.0') return this.#protocolError(f, 'SUBSCRIBE without an id header');
      id = destination;
    }
    if (this.#subs.has(id)) return this.#protocolError(f, `subscription id ${JSON.stringify(id)} is already in use on this connection`);
    if (this.#subs.size >= this.#opts.maxSubscriptions) return this.#protocolError(f, `more than ${this.#opts.maxSubscriptions} subscriptions on one connection`);
    const ack = headerValue(f, 'ack') ?? 'auto';
    // STOMP 1.2 §SUBSCRIBE ack Header: auto, client or client-individual.
    if (ack !== 'auto' && ack !== 'client' && ack !== 'client-individual') return this.#protocolError(f, `ack mode ${JSON.stringify(ack)}: expected auto, client or client-individual`);
    const sub = this.#broker.subscribe(this, id, destination, ack as AckMode);
    this.#subs.set(id, sub);
    this.#receipt(f);
    // Deliver what a queue held only after the RECEIPT, so a client that waits for it sees it first.
    this.#broker.resume([sub]);
  }

  #onUnsubscribe(f: StompFrame): void {
    let id = headerValue(f, 'id');
    if (id === undefined && this.#version === '1.0') id = headerValue(f, 'destination');
    if (id === undefined) return this.#protocolError(f, 'UNSUBSCRIBE without an id header');
    const sub = this.#subs.get(id);
    if (sub === undefined) return this.#protocolError(f, `no subscription with id ${JSON.stringify(id)}`);
    this.#subs.delete(id);
    this.#broker.unsubscribe(sub);
    this.#receipt(f);
  }

  #onAck(f: StompFrame): void {
    const txId = headerValue(f, 'transaction');
    // Find what it refers to first, so a bad ACK fails now and not at COMMIT.
    const target = this.#ackTarget(f);
    if (target === undefined) return;
    if (txId !== undefined) {
      const ops = this.#tx.get(txId);
      if (ops === undefined) return this.#protocolError(f, `unknown transaction ${JSON.stringify(txId)}`);
      if (ops.length >= this.#opts.maxTransactionFrames) return this.#protocolError(f, `transaction ${txId} holds more than ${this.#opts.maxTransactionFrames} frames`);
      ops.push({ kind: f.command === 'ACK' ? 'ack' : 'nack', frame: f });
      this.#receipt(f);
      return;
    }
    this.#applyAck(f.command === 'ACK' ? 'ack' : 'nack', target);
    this.#receipt(f);
  }

  /**
   * Which delivery an ACK/NACK names. STOMP 1.2 §ACK: `id` (the MESSAGE's `ack` header);
   * STOMP 1.1: `message-id` and `subscription`; STOMP 1.0: `message-id`. Returns null for an
   * id that is not outstanding (already acknowledged, e.g. cumulatively in `client` mode): the
   * frame is then a no-op, not an error.
   */
  #ackTarget(f: StompFrame): { sub: Subscription; messageId: string } | null | undefined {
    const need = (name: string): string | undefined => {
      const v = headerValue(f, name);
      if (v === undefined) this.#protocolError(f, `${f.command} without a ${name} header (STOMP ${this.#version})`);
      return v;
    };
    let messageId: string | undefined;
    let subId: string | undefined;
    if (this.#version === '1.2') {
      messageId = need('id');
      if (messageId === undefined) return undefined;
    } else if (this.#version === '1.1') {
      messageId = need('message-id');
      if (messageId === undefined) return undefined;
      subId = need('subscription');
      if (subId === undefined) return undefined;
    } else {
      messageId = need('message-id');
      if (messageId === undefined) return undefined;
      subId = headerValue(f, 'subscription');
    }
    if (subId !== undefined) {
      const sub = this.#subs.get(subId);
      if (sub === undefined) {
        this.#protocolError(f, `${f.command} for unknown subscription ${JSON.stringify(subId)}`);
        return undefined;
      }
      return sub.unacked.has(messageId) ? { sub, messageId } : null;
    }
    for (const sub of this.#subs.values()) if (sub.unacked.has(messageId)) return { sub, messageId };
    return null;
  }

  #applyAck(kind: 'ack' | 'nack', target: { sub: Subscription; messageId: string } | null): void {
    if (target === null) return;
    const cumulative = target.sub.ackMode === 'client';
    if (kind === 'ack') this.#broker.ack(target.sub, target.messageId, cumulative);
    else this.#broker.nack(target.sub, target.messageId, cumulative);
  }

  #onTransaction(f: StompFrame): void {
    const txId = headerValue(f, 'transaction');
    if (txId === undefined) return this.#protocolError(f, `${f.command} without a transaction header`);
    if (f.command === 'BEGIN') {
      if (this.#tx.has(txId)) return this.#protocolError(f, `transaction ${JSON.stringify(txId)} already begun`);
      if (this.#tx.size >= this.#opts.maxTransactions) return this.#protocolError(f, `more than ${this.#opts.maxTransactions} open transactions`);
      this.#tx.set(txId, []);
      this.#receipt(f);
      return;
    }
    const ops = this.#tx.get(txId);
    if (ops === undefined) return this.#protocolError(f, `unknown transaction ${JSON.stringify(txId)}`);
    this.#tx.delete(txId);
    for (const op of ops) if (op.kind === 'send') this.#txBytes -= op.bytes;
    if (f.command === 'ABORT') {
      this.#receipt(f);
      return;
    }
    this.#commit(f, ops);
  }

  /**
   * COMMIT (STOMP 1.2 §COMMIT): the transaction's SENDs and ACKs take effect now, in order. Queue
   * room is checked for all SENDs first, so a full queue fails the whole COMMIT, not half of it.
   * The RECEIPT waits for every SEND's settlement.
   */
  #commit(f: StompFrame, ops: TxOp[]): void {
    const receipt = headerValue(f, 'receipt');
    const perQueue = new Map<string, { count: number; bytes: number }>();
    for (const op of ops) {
      if (op.kind !== 'send') continue;
      const q = perQueue.get(op.destination) ?? { count: 0, bytes: 0 };
      q.count++;
      q.bytes += messageBytes({ destination: op.destination, headers: op.frame.headers.filter(([n]) => !SEND_PROTOCOL_HEADERS.has(n)), body: op.frame.body, redelivered: false });
      perQueue.set(op.destination, q);
    }
    for (const [dest, q] of perQueue) {
      const refused = this.#broker.refusal(dest, q.count, q.bytes);
      if (refused !== undefined) {
        this.#limitSeen(refused);
        return this.#fail(`COMMIT refused: ${refused.message}`, receipt);
      }
    }
    const waits: Promise<void>[] = [];
    for (const op of ops) {
      if (op.kind === 'send') {
        const r = this.#publish(op.frame, op.destination, receipt !== undefined, receipt);
        if (r === false) return;
        if (r !== true) waits.push(r);
      } else {
        this.#applyAck(op.kind, this.#ackTarget(op.frame) ?? null);
      }
    }
    if (receipt === undefined) return;
    Promise.all(waits).then(
      () => {
        if (this.#state === 'connected' || this.#state === 'disconnecting') this.#writeFrame('RECEIPT', [['receipt-id', receipt]]);
      },
      (err: unknown) => this.#fail(`transaction ${headerValue(f, 'transaction') ?? ''} not accepted: ${describeError(err)}`, receipt),
    );
  }

  /**
   * STOMP 1.2 §DISCONNECT: stop reading, let pending SENDs settle (their RECEIPTs go out
   * first), then RECEIPT and close. Open transactions are aborted.
   */
  #onDisconnect(f: StompFrame): void {
    this.#state = 'disconnecting';
    this.#parser.stop();
    this.#tx.clear();
    this.#txBytes = 0;
    const receipt = headerValue(f, 'receipt');
    void Promise.allSettled([...this.#pending]).then(() => {
      // Let RECEIPTs of settled SENDs (queued in their own `then`) go out first.
      setImmediate(() => {
        if (this.#state !== 'disconnecting') return;
        if (receipt !== undefined) this.#writeFrame('RECEIPT', [['receipt-id', receipt]]);
        this.#close();
      });
    });
  }

  #receipt(f: StompFrame): void {
    const receipt = headerValue(f, 'receipt');
    if (receipt !== undefined) this.#writeFrame('RECEIPT', [['receipt-id', receipt]]);
  }

  /** A limit refused the frame: ERROR (with its receipt-id) and close, counted and logged. */
  #limitError(f: StompFrame, limit: string, message: string, details: Record<string, unknown>): void {
    this.#limitSeen(new FerryError('LIMIT_EXCEEDED', message, { details: { limit, ...details } }));
    this.#fail(message, headerValue(f, 'receipt'));
  }

  #limitSeen(err: FerryError): void {
    const details = err.details ?? {};
    const limit = typeof details.limit === 'string' ? details.limit : 'unknown';
    this.#log.warn('stomp client over a limit: refused with an ERROR', { limit, ...details, login: this.#login });
    this.#hooks.onLimitExceeded?.(limit, details);
  }

  #protocolError(f: StompFrame, message: string): void {
    this.#hooks.onProtocolError?.('frame');
    this.#fail(message, headerValue(f, 'receipt'));
  }

  // ---- outgoing -------------------------------------------------------------------------

  sendMessage(sub: Subscription, msg: BrokerMessage, messageId: string): void {
    const headers: HeaderEntry[] = [
      ['subscription', sub.id],
      ['message-id', messageId],
      ['destination', msg.destination],
    ];
    // STOMP 1.2 §MESSAGE: an `ack` header when the subscription needs explicit acks; its value
    // is what the ACK's `id` names. 1.0/1.1 acknowledge by message-id instead.
    if (sub.ackMode !== 'auto' && this.#version === '1.2') headers.push(['ack', messageId]);
    if (msg.redelivered) headers.push(['redelivered', 'true']);
    for (const h of msg.headers) if (!MESSAGE_PROTOCOL_HEADERS.has(h[0])) headers.push(h);
    this.#writeFrame('MESSAGE', headers, msg.body);
  }

  #writeFrame(command: string, headers: readonly HeaderEntry[], body?: Buffer): void {
    const { bytes, dropped } = encodeFrameDetailed(command, headers, body, this.#version);
    if (dropped.length > 0) this.#log.debug('stomp headers not representable in this version were dropped', { version: this.#version, dropped });
    this.#write(bytes);
  }

  #write(bytes: Buffer): void {
    if (this.#state === 'closed' || this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#lastWrite = Date.now();
    if (!this.#out.write(bytes)) this.#writable = false;
  }

  // ---- heart-beating ----------------------------------------------------------------------

  #startHeartBeat(serverSendsMs: number, clientSendsMs: number): void {
    if (serverSendsMs > 0) {
      // Tick at half the interval and send an EOL when nothing was written for half of it:
      // the gap between two writes then never exceeds the interval.
      const half = Math.max(1, Math.floor(serverSendsMs / 2));
      this.#sendTimer = setInterval(() => {
        if (Date.now() - this.#lastWrite >= half) this.#write(HEARTBEAT);
      }, half);
    }
    const idle = this.#opts.heartBeat.idleTimeoutMs ?? 0;
    // with client heart-beats: twice the agreed interval; without: the idle time-out
    const limit = clientSendsMs > 0 ? clientSendsMs * DEAD_PEER_FACTOR : idle;
    if (limit > 0) {
      this.#checkTimer = setInterval(() => {
        // while Ferry itself stops reading (flow control, pending SENDs), the silence is ours
        if (this.#pausedForFlow || this.#pausedForPending) this.#lastRead = Date.now();
        const silent = Date.now() - this.#lastRead;
        if (silent > limit) {
          if (clientSendsMs > 0) {
            this.#log.info('stomp peer sent nothing within twice the heart-beat interval: closing', { silentMs: silent, intervalMs: clientSendsMs });
            this.#fail(`no heart-beat for ${silent} ms (agreed interval ${clientSendsMs} ms)`);
          } else {
            this.#hooks.onLimitExceeded?.('heartBeat.idleTimeoutMs', { silentMs: silent });
            this.#log.info('stomp client without heart-beats sent nothing within the idle time-out: closing', { silentMs: silent, idleTimeoutMs: idle });
            this.#fail(`idle for ${silent} ms without heart-beats (the server closes silent connections after ${idle} ms: offer heart-beat cx > 0 to stay connected while idle)`);
          }
          // A dead peer will not answer the close: do not linger (the ERROR frame goes first).
          this.#out.flush();
          this.#stream.destroy();
        }
      }, Math.max(1, Math.floor((clientSendsMs > 0 ? clientSendsMs : Math.min(idle, 60_000)) / 2)));
    }
  }

  #stopTimers(): void {
    if (this.#sendTimer !== undefined) clearInterval(this.#sendTimer);
    if (this.#checkTimer !== undefined) clearInterval(this.#checkTimer);
    this.#sendTimer = undefined;
    this.#checkTimer = undefined;
  }

  // ---- closing ----------------------------------------------------------------------------

  /** ERROR frame, then close (STOMP 1.2 §ERROR: "MUST then close the connection"). */
  #fail(message: string, receiptId?: string, detail?: string, extra: readonly HeaderEntry[] = []): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    const headers: HeaderEntry[] = [['message', message]];
    if (receiptId !== undefined) headers.push(['receipt-id', receiptId]);
    headers.push(...extra, ['content-type', 'text/plain']);
    this.#writeFrame('ERROR', headers, Buffer.from(detail ?? message, 'utf8'));
    this.#close();
  }

  #close(): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#parser.stop();
    this.#stopTimers();
    this.#releaseSubscriptions();
    this.#tx.clear();
    this.#txBytes = 0;
    this.#stream.end();
    if (this.#pausedForPending || this.#pausedForFlow) this.#stream.resume();
    this.#lingerTimer = setTimeout(() => this.#stream.destroy(), this.#opts.lingerMs);
    this.#lingerTimer.unref?.();
  }

  #releaseSubscriptions(): void {
    // STOMP 1.2 §SUBSCRIBE ack Header: unacknowledged messages of a closed connection are
    // given back (here: to the front of their queue, for other subscribers).
    const subs = [...this.#subs.values()];
    this.#subs.clear();
    for (const s of subs) this.#broker.unsubscribe(s);
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#parser.stop();
    this.#stopTimers();
    if (this.#lingerTimer !== undefined) clearTimeout(this.#lingerTimer);
    this.#releaseSubscriptions();
    this.#tx.clear();
    this.#txBytes = 0;
    this.#hooks.onClosed?.(this);
    this.#resolveClosed();
  }
}
