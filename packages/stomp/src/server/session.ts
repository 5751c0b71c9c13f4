import type { AcceptedConnection, ConnectionInfo } from '@ferry/net';
import type { Duplex } from 'node:stream';
import { describeError, FerryError, type Logger } from '@ferry/core';
import { StompFrameError } from '../frame/frame-error.js';
import { CLIENT_COMMANDS, headerValue, STOMP_VERSIONS, type HeaderEntry, type StompFrame, type StompVersion } from '../frame/frame.js';
import { FrameParser } from '../frame/parser.js';
import { DESTINATION_HELP, destinationKind, type BrokerMessage } from './broker-message.js';
import type { StompBroker, SubscriberSession, Subscription } from './broker.js';
import { connectedHeaders, negotiateVersion, sentMessage } from './frame-headers.js';
import { MessageHead } from './message-head.js';
import type { AckTarget } from './ack-target.js';
import { agreeHeartBeat, type AgreedHeartBeat } from './heartbeat.js';
import { HeartBeatMonitor } from './heartbeat-monitor.js';
import { FrameWriter } from './frame-writer.js';
import { SendIntake, SendRefused } from './send-intake.js';
import { SessionSubscriptions } from './session-subscriptions.js';
import { roomRefusal, Transactions, type TxOp, type TxRefusal } from './transactions.js';
import type { SessionAccess, SessionHooksOf, SessionOptions } from './session-options.js';

export * from './session-options.js';

/** what the owner of the server is told and asked by each session (see SessionHooksOf) */
export type SessionHooks = SessionHooksOf<StompSession>;

type State = 'connecting' | 'connected' | 'disconnecting' | 'closing' | 'closed';

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
  readonly #out: FrameWriter;
  readonly #broker: StompBroker;
  readonly #hooks: SessionHooks;
  readonly #opts: SessionOptions;
  readonly #log: Logger;
  readonly #parser: FrameParser;
  #state: State = 'connecting';
  #login: string | undefined;
  /** what this client may send to and subscribe to; undefined: everything */
  #access: SessionAccess | undefined;
  /**
   * true while the CONNECT's credentials are checked (a failed login waits out its slow-down
   * here): the socket is not read, and frames that came with the CONNECT wait in #early
   */
  #authenticating = false;
  readonly #early: StompFrame[] = [];
  readonly #subs: SessionSubscriptions;
  readonly #tx: Transactions;
  readonly #pending: SendIntake;
  /** reading stopped by the owner's flow control */
  #pausedForFlow = false;
  readonly #beats = new HeartBeatMonitor();
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
    this.#broker = broker;
    this.#hooks = hooks;
    this.#opts = opts;
    this.#log = log.child({ session: this.id });
    this.#out = new FrameWriter(stream, this.#log, this.#beats, transport === undefined || transport.info.transport === 'tcp' || transport.info.transport === 'tls');
    this.#parser = new FrameParser((f) => this.#onFrame(f), opts.limits);
    this.#tx = new Transactions(opts);
    this.#pending = new SendIntake(broker, hooks, this.#log, opts.maxPendingSends, () => this.#applyRead(), {
      accepted: (receipt) => {
        if (this.#state === 'connected' || this.#state === 'disconnecting') this.#out.receipt(receipt);
      },
      refused: (receipt, err) => this.#fail(`message not accepted: ${describeError(err)}`, receipt),
    });
    this.#subs = new SessionSubscriptions(this, broker, opts.maxSubscriptions);
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
      this.#out.writable = true;
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
    if (this.#pending.paused || this.#pausedForFlow || this.#authenticating) this.#stream.pause();
    else this.#stream.resume();
  }

  get state(): State {
    return this.#state;
  }

  get version(): StompVersion {
    return this.#out.version;
  }

  get writable(): boolean {
    // Not while disconnecting: an auto-ack delivery to a client that is leaving would be lost.
    return this.#out.writable && this.#state === 'connected';
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
    this.#beats.read();
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
    if (!CLIENT_COMMANDS.has(f.command)) return this.#protocolError(f, `unknown command ${f.command}`);
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
        return this.#protocolError(f, 'already connected');
      case 'SEND':
        return this.#onSend(f);
      case 'SUBSCRIBE':
        return this.#onSubscribe(f);
      case 'UNSUBSCRIBE':
        return this.#onUnsubscribe(f);
      case 'ACK':
      case 'NACK':
        return this.#onAck(f);
      case 'BEGIN':
      case 'COMMIT':
      case 'ABORT':
        return this.#onTransaction(f);
      case 'DISCONNECT':
        return this.#onDisconnect(f);
    }
  }

  #onConnect(f: StompFrame): void {
    // STOMP 1.2 §Protocol Negotiation: an ERROR lists the server's versions when none fits
    const version = negotiateVersion(f);
    if (version === undefined) return this.#fail(`Supported protocol versions are ${STOMP_VERSIONS.join(',')}`, undefined, undefined, [['version', STOMP_VERSIONS.join(',')]]);
    if (f.command === 'STOMP' && version === '1.0') return this.#fail('the STOMP frame needs STOMP 1.1 or later (send accept-version)');
    this.#out.version = version;
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
    // STOMP 1.0 has no heart-beating
    const agreed = version === '1.0' ? { serverSendsMs: 0, clientSendsMs: 0 } : agreeHeartBeat(headerValue(f, 'heart-beat'), this.#opts.heartBeat);
    if (typeof agreed === 'string') return this.#fail(agreed);
    this.#state = 'connected';
    this.#out.frame('CONNECTED', connectedHeaders(version, this.#opts, this.id));
    this.#handshakeDone();
    this.#startHeartBeat(agreed);
    // a client that connects while the flow is paused gets CONNECTED, then waits in TCP
    this.updateFlow();
    this.#log.debug('stomp session connected', { version, login, heartBeat: agreed });
  }

  #onSend(f: StompFrame): void {
    const destination = this.#destination(f, 'send to');
    if (destination === undefined) return;
    const txId = headerValue(f, 'transaction');
    if (txId !== undefined) {
      this.#held(f, this.#tx.addSend(txId, f, destination));
      return;
    }
    const receipt = headerValue(f, 'receipt');
    const refused = this.#pending.send(sentMessage(f, destination), receipt, this.id, this.#login, this.#out.version);
    if (refused !== undefined) this.#refused(refused, receipt);
  }

  /** RECEIPT once what the frame did was settled; ERROR when it was refused (STOMP 1.2 §RECEIPT) */
  #receiptWhenSettled(settled: Promise<unknown>, receipt: string, refusal: string): void {
    settled.then(
      () => {
        if (this.#state === 'connected' || this.#state === 'disconnecting') this.#out.receipt(receipt);
      },
      (err: unknown) => this.#fail(`${refusal}: ${describeError(err)}`, receipt),
    );
  }

  /**
   * The destination a SEND or SUBSCRIBE names, known and inside the client's grants; undefined
   * once the frame was answered with an ERROR. STOMP has no negative receipt: a destination
   * outside the grants is ERROR and close (STOMP 1.2 §ERROR).
   */
  #destination(f: StompFrame, action: 'send to' | 'subscribe to'): string | undefined {
    const destination = headerValue(f, 'destination');
    if (destination === undefined) this.#protocolError(f, `${f.command} without a destination header`);
    else if (destinationKind(destination) === undefined) this.#protocolError(f, `unknown destination ${JSON.stringify(destination)}: ${DESTINATION_HELP}`);
    else if (this.#access === undefined || (action === 'send to' ? this.#access.mayPublish(destination, this.info?.remote) : this.#access.maySubscribe(destination, this.info?.remote))) return destination;
    else this.#fail(`access refused: you may not ${action} ${destination}`, headerValue(f, 'receipt'));
    return undefined;
  }

  /**
   * Hand one SEND of a COMMIT to the broker and to the hooks. Returns false when it failed (an
   * ERROR was sent), else the settlement to wait for.
   */
  #publish(f: StompFrame, destination: string, confirmed: boolean, receiptForError?: string): false | Promise<void> {
    const r = this.#pending.take(sentMessage(f, destination), confirmed, this.id, this.#login, this.#out.version);
    if (!(r instanceof SendRefused)) return r;
    this.#refused(r, receiptForError ?? headerValue(f, 'receipt'));
    return false;
  }

  /** ERROR for a SEND the intake refused before handing it on */
  #refused(r: SendRefused, receipt: string | undefined): void {
    if (r.limit !== undefined) this.#limitSeen(r.limit);
    this.#fail(r.message, receipt);
  }

  #onSubscribe(f: StompFrame): void {
    const destination = this.#destination(f, 'subscribe to');
    if (destination === undefined) return;
    const sub = this.#subs.add(f, destination, this.#out.version);
    if (typeof sub === 'string') return this.#protocolError(f, sub);
    this.#receipt(f);
    // Deliver what a queue held only after the RECEIPT, so a client that waits for it sees it first.
    this.#broker.resume([sub]);
  }

  #onUnsubscribe(f: StompFrame): void {
    const refused = this.#subs.remove(f, this.#out.version);
    if (refused === undefined) this.#receipt(f);
    else this.#protocolError(f, refused);
  }

  #onAck(f: StompFrame): void {
    const txId = headerValue(f, 'transaction');
    // Find what it refers to first, so a bad ACK fails now and not at COMMIT.
    const target = this.#ackTarget(f);
    if (target === undefined) return;
    if (txId !== undefined) {
      this.#held(f, this.#tx.addAck(txId, f, f.command === 'ACK' ? 'ack' : 'nack'));
      return;
    }
    this.#subs.settle(f.command === 'ACK' ? 'ack' : 'nack', target);
    this.#receipt(f);
  }

  /** the delivery an ACK/NACK names (see ack-target.ts); undefined after a protocol error */
  #ackTarget(f: StompFrame): AckTarget | null | undefined {
    const t = this.#subs.target(f, this.#out.version);
    if (typeof t !== 'string') return t;
    this.#protocolError(f, t);
    return undefined;
  }

  /** A frame a transaction holds: RECEIPT, or the error that refused it. */
  #held(f: StompFrame, refused: TxRefusal | undefined): void {
    if (refused === undefined) this.#receipt(f);
    else if (refused.kind === 'protocol') this.#protocolError(f, refused.message);
    else {
      this.#limitSeen(refused.error);
      this.#fail(refused.error.message, headerValue(f, 'receipt'));
    }
  }

  #onTransaction(f: StompFrame): void {
    const txId = headerValue(f, 'transaction');
    if (txId === undefined) return this.#protocolError(f, `${f.command} without a transaction header`);
    if (f.command === 'BEGIN') {
      const refused = this.#tx.begin(txId);
      return refused === undefined ? this.#receipt(f) : this.#protocolError(f, refused);
    }
    const ops = this.#tx.end(txId);
    if (ops === undefined) return this.#protocolError(f, `unknown transaction ${JSON.stringify(txId)}`);
    if (f.command === 'ABORT') this.#receipt(f);
    else this.#commit(f, ops);
  }

  /**
   * COMMIT (STOMP 1.2 §COMMIT): the transaction's SENDs and ACKs take effect now, in order. Queue
   * room is checked for all SENDs first, so a full queue fails the whole COMMIT, not half of it.
   * The RECEIPT waits for every SEND's settlement.
   */
  #commit(f: StompFrame, ops: TxOp[]): void {
    const receipt = headerValue(f, 'receipt');
    const refused = roomRefusal(ops, this.#broker);
    if (refused !== undefined) {
      this.#limitSeen(refused);
      return this.#fail(`COMMIT refused: ${refused.message}`, receipt);
    }
    const waits: Promise<void>[] = [];
    for (const op of ops) {
      if (op.kind === 'send') {
        const r = this.#publish(op.frame, op.destination, receipt !== undefined, receipt);
        if (r === false) {
          // the connection failed with an ERROR: what was sent before it settles unwatched
          for (const w of waits) w.catch(() => undefined);
          return;
        }
        waits.push(r);
      } else {
        this.#subs.settle(op.kind, this.#ackTarget(op.frame) ?? null);
      }
    }
    if (receipt !== undefined) this.#receiptWhenSettled(Promise.all(waits), receipt, `transaction ${headerValue(f, 'transaction') ?? ''} not accepted`);
  }

  /**
   * STOMP 1.2 §DISCONNECT: stop reading, let pending SENDs settle (their RECEIPTs go out
   * first), then RECEIPT and close. Open transactions are aborted.
   */
  #onDisconnect(f: StompFrame): void {
    this.#state = 'disconnecting';
    this.#parser.stop();
    this.#tx.clear();
    const receipt = headerValue(f, 'receipt');
    void this.#pending.idle().then(() => {
      // Let RECEIPTs of settled SENDs (queued in their own `then`) go out first.
      setImmediate(() => {
        if (this.#state !== 'disconnecting') return;
        if (receipt !== undefined) this.#out.receipt(receipt);
        this.#close();
      });
    });
  }

  #receipt(f: StompFrame): void {
    const receipt = headerValue(f, 'receipt');
    if (receipt !== undefined) this.#out.receipt(receipt);
  }

  #limitSeen(err: FerryError): void {
    const details = err.details;
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
    // the subscription's part of the frame, encoded at its first MESSAGE (the version is fixed by then)
    const head = (sub.head ??= new MessageHead(sub.id, sub.destination, sub.ackMode !== 'auto', this.#out.version));
    this.#out.message(head.text(msg, messageId), msg);
  }

  // ---- heart-beating ----------------------------------------------------------------------

  #startHeartBeat(agreed: AgreedHeartBeat): void {
    this.#beats.start(agreed, this.#opts.heartBeat.idleTimeoutMs ?? 0, this.#log, {
      readPaused: () => this.#pausedForFlow || this.#pending.paused,
      beat: () => this.#out.heartBeat(),
      limitExceeded: (limit, details) => this.#hooks.onLimitExceeded?.(limit, details),
      dead: (message) => {
        this.#fail(message);
        // A dead peer will not answer the close: do not linger (the ERROR frame goes first).
        this.#out.flush();
        this.#stream.destroy();
      },
    });
  }

  // ---- closing ----------------------------------------------------------------------------

  /** ERROR frame, then close (STOMP 1.2 §ERROR: "MUST then close the connection"). */
  #fail(message: string, receiptId?: string, detail?: string, extra: readonly HeaderEntry[] = []): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#out.error(message, receiptId, detail, extra);
    this.#close();
  }

  #close(): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#state = 'closing';
    this.#parser.stop();
    this.#beats.stop();
    this.#subs.releaseAll();
    this.#tx.clear();
    // RECEIPTs joined in this turn go before the end (a DISCONNECT's is the last)
    this.#out.flush();
    this.#stream.end();
    if (this.#pending.paused || this.#pausedForFlow) this.#stream.resume();
    this.#lingerTimer = setTimeout(() => this.#stream.destroy(), this.#opts.lingerMs);
    this.#lingerTimer.unref();
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#parser.stop();
    this.#beats.stop();
    if (this.#lingerTimer !== undefined) clearTimeout(this.#lingerTimer);
    this.#subs.releaseAll();
    this.#tx.clear();
    this.#hooks.onClosed?.(this);
    this.#resolveClosed();
  }
}
