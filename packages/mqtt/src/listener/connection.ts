import type { Duplex } from 'node:stream';
import { TurnWriter, type AcceptedConnection, type ConnectionInfo } from '@ferry/net';
import { describeError, type AuthorizedClient } from '@ferry/core';
import type { IConnectPacket, IDisconnectPacket, Packet } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';
import { isValidTopicName } from '../topic.js';
import type { BrokerCore } from './broker-core.js';
import { clientIdentifier, connackProperties, fitConnack, negotiateKeepalive, sessionExpiry, type ConnackProperties } from './connect-terms.js';
import { checkPacket, type Violation } from './packet-rules.js';
import { acknowledged } from './delivery-acks.js';
import { AckBatch, type AckOutlet } from './ack-batch.js';
import { encodePacket } from './packet-encoding.js';
import { packetSize, plainPublishRemaining, writePlainPublish, type AckCommand } from './packet-fast.js';
import type { KeepAliveWatched } from './keep-alive-sweep.js';
import { PacketInput, type PacketSink } from './packet-input.js';
import { PublishIntake, type IntakeHost } from './publish-intake.js';
import { RC, RC3 } from './reason-codes.js';
import { subscribe, unsubscribe } from './subscribe.js';
import type { Outlet, Session } from './session.js';
import type { StreamOwner } from './connection-streams.js';
import type { OutboundItem, PendingWill } from './types.js';
import { pendingWill } from './will.js';

type State = 'awaiting-connect' | 'connecting' | 'connected' | 'closed';

/** a PUBLISH up to this size is encoded into the turn's joined buffer; a larger one is its own chunk, not copied */
const JOINED_PUBLISH_MAX = 16 * 1024;

/**
 * One client's network connection to the embedded broker: CONNECT / CONNACK, keep alive, the
 * read flow, and the dispatch of every control packet after it. Its bytes become packets in
 * {@link PacketInput}, its publishes are taken by {@link PublishIntake}; session state lives in
 * {@link Session}, routing of application messages in the broker.
 */
export class Connection implements Outlet, IntakeHost, PacketSink, KeepAliveWatched, StreamOwner, AckOutlet {
  version: ProtocolVersion = 4;
  receiveMaximum = 65535;
  clientId: string | undefined;
  readonly remote: string;
  /** the user this connection logged in as (undefined: anonymous); owns the session's client id */
  owner: string | undefined;
  /**
   * transport, remote address and TLS client certificate of this connection, for the login of
   * its CONNECT; let go of once the login attempt is made (a TLS client's certificate is
   * kilobytes, held by an idle device for nothing)
   */
  #info: ConnectionInfo | undefined;
  readonly #socket: Duplex;
  /** tells the transport the MQTT handshake is done; let go of once called (a closure per device) */
  #handshakeDone: (() => void) | undefined;
  readonly #core: BrokerCore<Connection>;
  readonly #input: PacketInput;
  #state: State = 'awaiting-connect';
  readonly #out: TurnWriter;
  /** the writer joins a turn's packets into one buffer: a PUBLISH is encoded straight into it */
  readonly #joined: boolean;
  #session: Session | undefined;
  #clientMaxPacket: number | undefined;
  /** 1.5 × the negotiated keep alive, in ms, while the broker's KeepAliveSweep watches this connection */
  silenceLimitMs = 0;
  /** a packet arrived since the keep-alive sweep last looked (the sweep clears it) */
  heard = false;
  /** see {@link KeepAliveWatched} */
  lastHeardMs = 0;
  #will: PendingWill | undefined;
  /** set when the client sent DISCONNECT: 'normal' drops the will, 'with-will' publishes it (§3.14.2.1) */
  #disconnect: 'normal' | 'with-will' | undefined;
  /**
   * this client's PUBLISHes and their QoS 1/2 settlement; made on its first PUBLISH or PUBREL,
   * since most devices of a fleet only subscribe
   */
  #intake: PublishIntake<Connection> | undefined;
  /** this turn's PUBACKs / PUBRECs, joined (ack-batch.ts); made with the intake */
  #acks: AckBatch | undefined;
  /** MQTT 5 §3.1.2.11.7: whether a failure acknowledgement may carry a Reason String (the intake's, once made) */
  #requestProblemInfo = true;
  /** this client's messages waiting for room on a full route (InboundDelivery.onWait) */
  #waitingForRoute = 0;
  #routeWaiter: ((waiting: boolean) => void) | undefined;
  /** what this client may publish and subscribe to, once its CONNECT was accepted */
  #auth: AuthorizedClient | undefined;
  /**
   * true while the CONNECT's credentials are checked (and a failed login waits out its delay):
   * the socket is not read, and packets sent after CONNECT stay unparsed until it is decided
   * (MQTT 5 §3.1.4 lets a client send them before CONNACK)
   */
  #authenticating = false;
  /** whether the socket is paused now; only {@link updateFlow} changes it */
  #paused = false;
  /** set on a protocol error: no further input is processed (§4.13) */
  #dead = false;
  /** set once Ferry decided to close this connection (takeover, release, shutdown, protocol error) */
  #closing = false;

  #whenClosed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;

  /** `accepted` comes from the listener's transport (@ferry/net): TCP, TLS or WebSocket alike */
  constructor(core: BrokerCore<Connection>, accepted: AcceptedConnection) {
    this.#core = core;
    this.#socket = accepted.stream;
    // MQTT over WebSocket keeps a packet per message (ws, wss); a byte stream joins a turn's packets
    this.#joined = accepted.info.transport === 'tcp' || accepted.info.transport === 'tls';
    this.#out = new TurnWriter(accepted.stream, { join: this.#joined });
    this.#handshakeDone = accepted.handshakeDone;
    this.#info = accepted.info;
    this.remote = accepted.info.remote;
    this.#input = new PacketInput(this, core.config.maxPacketSize);
  }

  #intakeNow(): PublishIntake<Connection> {
    if (this.#intake === undefined) {
      this.#intake = new PublishIntake<Connection>(this, this.#core);
      this.#intake.requestProblemInfo = this.#requestProblemInfo;
    }
    return this.#intake;
  }

  /**
   * Resolves once the connection is closed. Made when first asked for (the broker asks at
   * shutdown), not at accept: a promise and its resolver for each of 10,000 idle devices.
   */
  get whenClosed(): Promise<void> {
    this.#whenClosed ??= this.#state === 'closed' ? Promise.resolve() : new Promise((r) => (this.#resolveClosed = r));
    return this.#whenClosed;
  }

  get backlog(): number {
    return this.#socket.writableLength + this.#out.pending;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  // The stream's events arrive through the broker's ConnectionStreams (connection-streams.ts).
  // MQTT 3.1.1 §3.1 / 5 §3.1: a connection that sends no CONNECT within a reasonable time is
  // closed; the transport's handshake deadline does it (until the CONNACK below).

  /** see {@link StreamOwner} */
  received(chunk: Buffer): void {
    this.#input.push(chunk);
  }

  /** see {@link StreamOwner} */
  streamError(err: Error): void {
    this.#core.logger.debug('client socket error', { remote: this.remote, clientId: this.clientId, error: err.message });
  }

  /** see {@link StreamOwner}: the session writes what waited for room (session.ts WRITE_HIGH_WATER) */
  streamDrained(): void {
    if (this.#state === 'connected') this.#session?.pump();
  }

  /** see {@link StreamOwner} */
  streamClosed(): void {
    this.#onClose();
  }

  /** Close with a server-side reason (shutdown, takeover): MQTT 5 gets DISCONNECT first (§3.14). */
  close(reasonCode: number | undefined): void {
    if (this.#state === 'closed') return;
    if (reasonCode !== undefined && this.version === 5 && this.#state === 'connected' && !this.#closing) {
      this.send({ cmd: 'disconnect', reasonCode });
    }
    this.#beginClose();
  }

  /** End the socket: our FIN now, destroy once written, and at the latest after 1 s. */
  #beginClose(): void {
    this.#closing = true;
    // a closing socket is read (and its input discarded) so the peer's FIN or RST is seen
    this.updateFlow();
    // destroy once our FIN is out, as net.Socket#destroySoon does (a WebSocket stream has none)
    const socket = this.#socket;
    this.#end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
    // a peer that never reads must not keep the socket open forever
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  send(packet: Packet): 'sent' | 'too-large' | 'invalid' | 'closed' {
    if (this.#state === 'closed' || this.#socket.destroyed || !this.#socket.writable) return 'closed';
    const buf = encodePacket(packet, this.version, this.#clientMaxPacket);
    if (Buffer.isBuffer(buf)) {
      this.#write(buf);
      return 'sent';
    }
    if (buf.kind === 'invalid') this.#core.logger.warn('could not encode MQTT packet', { clientId: this.clientId, cmd: packet.cmd, error: buf.error });
    return buf.kind;
  }

  /** see {@link Outlet} */
  sendPlainPublish(item: OutboundItem, messageId: number | undefined, dup: boolean): 'sent' | 'too-large' | 'invalid' | 'closed' {
    if (this.#state === 'closed' || this.#socket.destroyed || !this.#socket.writable) return 'closed';
    const m = item.message;
    const remaining = plainPublishRemaining(m.topic, m.payload.length, item.qos, messageId, this.version);
    // what the fields alone cannot say (a topic past 65,535 bytes) mqtt-packet judges
    if (remaining < 0) return this.send({ cmd: 'publish', topic: m.topic, payload: m.payload, qos: item.qos, retain: item.retain, dup, ...(messageId === undefined ? {} : { messageId }) });
    const size = packetSize(remaining);
    // MQTT 5 §3.1.2.11.4: nothing larger than the client's Maximum Packet Size
    if (this.#clientMaxPacket !== undefined && size > this.#clientMaxPacket) return 'too-large';
    if (this.#joined && size <= JOINED_PUBLISH_MAX) {
      // after the acknowledgements joined so far, as #write
      this.#acks?.flush();
      const at = this.#out.reserve(size);
      writePlainPublish(this.#out.buffer, at, remaining, m.topic, m.payload, item.qos, item.retain, dup, messageId, this.version);
      return 'sent';
    }
    const b = Buffer.allocUnsafe(size);
    writePlainPublish(b, 0, remaining, m.topic, m.payload, item.qos, item.retain, dup, messageId, this.version);
    this.#write(b);
    return 'sent';
  }

  /**
   * see {@link IntakeHost}: an acknowledgement with reason Success and no properties, as its four
   * bytes (MQTT 3.1.1 §3.4, MQTT 5 §3.4.2.1: reason 0x00 without properties may be left out)
   */
  sendAck(cmd: AckCommand, messageId: number): void {
    if (this.#state === 'closed' || this.#socket.destroyed || !this.#socket.writable) return;
    (this.#acks ??= new AckBatch(this)).add(cmd, messageId);
  }

  /** see {@link AckOutlet} */
  writeAcks(bytes: Buffer): void {
    if (this.#state !== 'closed' && !this.#socket.destroyed && this.#socket.writable) this.#out.write(bytes);
  }


  #rawWrite(buf: Buffer): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#write(buf);
  }

  /** Packets written in one turn (a batch of PUBACKs, a burst of deliveries) leave in one system call (TurnWriter). */
  #write(buf: Buffer): void {
    // the acknowledgements joined so far go first: the client reads packets in the order they were sent
    this.#acks?.flush();
    this.#out.write(buf);
  }

  /** see {@link PacketSink} */
  inputDead(): boolean {
    return this.#dead || this.#state === 'closed';
  }

  /** parsing stops between two packets while a publish waits for a route or the login is decided */
  inputHeld(): boolean {
    return this.#waitingForRoute > 0 || this.#authenticating || this.#dead || this.#state === 'closed';
  }

  /** Check what mqtt-packet let through (packet-rules.ts) and handle it. */
  takePacket(raw: Buffer, packet: Packet, start = 0, end = raw.length): void {
    const connecting = packet.cmd === 'connect' && this.#state === 'awaiting-connect';
    // a CONNECT decides the protocol level its violations are answered in (§4.13)
    if (connecting) this.version = packet.protocolVersion === 5 ? 5 : packet.protocolVersion === 3 ? 3 : 4;
    const v = checkPacket(raw, packet, packet.cmd === 'connect' ? (packet.protocolVersion === 5 ? 5 : 4) : this.version, start, end);
    if (v === undefined) return this.#onPacket(packet);
    // MQTT 5 §3.1.4: a CONNECT in error is answered with a CONNACK carrying the reason code
    if (connecting) this.#state = 'connecting';
    this.#protocolError(v.code, v.detail, v.reason);
  }

  /**
   * see {@link PacketSink}: a 2-byte acknowledgement of a non-zero packet id, which needs no
   * check beyond the parser's (packet-rules.ts checkAck) and no packet object
   */
  takeAck(cmd: AckCommand, id: number): void {
    if (this.#state === 'closed' || this.#dead) return;
    // [MQTT-3.1.0-1]: before CONNECT (and CONNACK) an acknowledgement is refused as any packet is
    if (this.#state !== 'connected') return this.#onPacket({ cmd, messageId: id });
    this.heard = true;
    const session = this.#session as Session;
    if (cmd === 'pubrel') return this.#violated(this.#intakeNow().release(id, session));
    this.#violated(acknowledged(this, session, cmd, id, undefined));
  }

  inputViolation(code: string, detail: string, reason: number): void {
    this.#protocolError(code, detail, reason);
  }

  handlerFailed(err: unknown): void {
    this.#core.logger.error('MQTT listener failed handling a packet', { clientId: this.clientId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    this.#protocolError('internal-error', String(err), RC.implementationSpecific);
  }

  /** see {@link PacketSink}: the socket is read again unless another reason holds it */
  backlogTaken(): void {
    this.updateFlow();
  }

  parseError(msg: string): void {
    if (this.#state === 'awaiting-connect' && /protocol version/i.test(msg)) {
      // MQTT 3.1.1 §3.1.2.2: answer an unsupported protocol level with CONNACK 0x01
      this.#rawWrite(Buffer.from([0x20, 0x02, 0x00, RC3.unacceptableProtocolVersion]));
      this.#protocolError('unsupported-protocol-version', msg, undefined);
      return;
    }
    this.#protocolError('malformed-packet', msg, RC.malformedPacket);
  }

  #onPacket(packet: Packet): void {
    if (this.#state === 'closed' || this.#dead) return;
    this.heard = true;
    if (packet.cmd === 'connect') {
      // [MQTT-3.1.0-2]: a second CONNECT is a protocol error
      if (this.#state !== 'awaiting-connect') return this.#protocolError('second-connect', 'second CONNECT', RC.protocolError);
      this.#onConnect(packet);
      return;
    }
    // [MQTT-3.1.0-1]: the first packet must be CONNECT
    if (this.#state !== 'connected') return this.#protocolError('not-connected', `${packet.cmd} before CONNECT`, undefined);
    const session = this.#session as Session;
    switch (packet.cmd) {
      case 'publish':
        return this.#violated(this.#intakeNow().publish(packet, session, this.#auth as AuthorizedClient));
      case 'puback':
      case 'pubcomp':
      case 'pubrec':
        return this.#violated(acknowledged(this, session, packet.cmd, packet.messageId ?? 0, packet.reasonCode));
      case 'pubrel':
        return this.#violated(this.#intakeNow().release(packet.messageId ?? 0, session));
      case 'subscribe':
        return this.#violated(subscribe(this, this.#core, session, this.#auth as AuthorizedClient, packet));
      case 'unsubscribe':
        return unsubscribe(this, this.#core, session, packet);
      case 'pingreq':
        this.send({ cmd: 'pingresp' });
        return;
      case 'disconnect':
        return this.#onDisconnect(packet);
      case 'auth':
        // MQTT 5 §4.12: enhanced authentication is not offered, so AUTH is a protocol error
        return this.#protocolError('auth-unsupported', 'AUTH without an authentication method', RC.protocolError);
      default:
        return this.#protocolError('unexpected-packet', `unexpected ${packet.cmd} from a client`, RC.protocolError);
    }
  }

  #connack(code: number, sessionPresent: boolean, properties?: ConnackProperties): void {
    if (this.version === 5) {
      this.send({ cmd: 'connack', reasonCode: code, sessionPresent, ...(properties === undefined ? {} : { properties }) });
    } else {
      this.send({ cmd: 'connack', returnCode: code, sessionPresent });
    }
  }

  /** Refuse a CONNECT: CONNACK with the code (session present 0, §3.2.2.1.1), then close. */
  #refuse(code3: number, code5: number, why: string): void {
    this.#connack(this.version === 5 ? code5 : code3, false);
    this.#core.metrics.inc('protocol_errors_total', { connector: this.#core.connectorName, code: `connack-${(this.version === 5 ? code5 : code3).toString(16)}` });
    this.#core.logger.info('refused MQTT connection', { remote: this.remote, clientId: this.clientId, reason: why });
    this.#dead = true;
    this.close(undefined);
  }

  #onConnect(p: IConnectPacket): void {
    this.#state = 'connecting';
    const version: ProtocolVersion = p.protocolVersion === 5 ? 5 : p.protocolVersion === 3 ? 3 : 4;
    this.version = version;
    const cfg = this.#core.config;
    const props = p.properties;

    if (!this.#core.hasRoomForClient()) {
      return this.#refuse(RC3.serverUnavailable, RC.quotaExceeded, 'maxClients reached');
    }
    if (props?.authenticationMethod !== undefined) {
      // MQTT 5 §4.12: Ferry offers no enhanced authentication
      return this.#refuse(RC3.notAuthorized, RC.badAuthenticationMethod, 'enhanced authentication not supported');
    }
    const id = clientIdentifier(p, version, this.#core);
    // 3.1.1 §3.1.3.1: an empty id needs CleanSession=1 [MQTT-3.1.3-8]
    if (id === undefined) return this.#refuse(RC3.identifierRejected, RC.clientIdentifierNotValid, 'empty client id with a persistent session');
    const { clientId, assigned } = id;
    this.clientId = clientId;

    this.#authenticating = true;
    this.updateFlow();
    // only the first CONNECT gets here ([MQTT-3.1.0-2]), so the info is there
    const info = this.#info as ConnectionInfo;
    this.#info = undefined;
    const attempt = {
      username: p.username,
      password: p.password,
      address: info.remoteAddress,
      clientId,
      certificate: info.authorized ? info.peerCertificate : undefined,
    };
    this.#core.login(attempt).then(
      (r) => {
        this.#authenticating = false;
        if (this.#state === 'closed' || this.#dead) return;
        // MQTT 5 §3.2.2.2 / 3.1.1 §3.2.2.3: 0x87 / 0x05 without credentials, 0x86 / 0x04 for wrong ones
        if (!r.ok && r.reason === 'no-credentials') return this.#refuse(RC3.notAuthorized, RC.notAuthorized, 'no credentials, and anonymous clients are not allowed');
        if (!r.ok) return this.#refuse(RC3.badUserNameOrPassword, RC.badUserNameOrPassword, 'bad user name or password');
        if (cfg.clientIdRule !== undefined && !cfg.clientIdRule.allows(r.client.username, clientId)) {
          // MQTT 5 §3.2.2.2 0x85 / 3.1.1 §3.2.2.3 0x02: the server does not accept this id (for this user)
          this.#core.metrics.inc('auth_failures_total', { connector: this.#core.connectorName, reason: 'client-id-not-allowed' });
          return this.#refuse(RC3.identifierRejected, RC.clientIdentifierNotValid, `client id ${JSON.stringify(clientId)} does not fit clientIdPattern for ${r.client.username === undefined ? 'an anonymous client' : `user ${JSON.stringify(r.client.username)}`}`);
        }
        this.#auth = r.client;
        this.owner = r.client.username;
        this.#accepted(p, clientId, assigned);
        this.updateFlow();
        this.#input.feed();
      },
      (err: unknown) => {
        this.#authenticating = false;
        this.#core.logger.error('MQTT login check failed', { remote: this.remote, clientId, error: describeError(err) });
        this.#refuse(RC3.serverUnavailable, RC.unspecified, 'login check failed');
      },
    );
  }

  /** The rest of CONNECT once the client logged in: keep alive, will, session, CONNACK. */
  #accepted(p: IConnectPacket, clientId: string, assigned: string | undefined): void {
    const version = this.version;
    const cfg = this.#core.config;
    const props = p.properties;
    const auth = this.#auth as AuthorizedClient;

    const keep = negotiateKeepalive(p.keepalive ?? 0, cfg.keepaliveLimit, version);
    // 3.1.1 has no way to impose a keep alive; like Mosquitto's max_keepalive, refuse with 0x02
    if (keep === undefined) return this.#refuse(RC3.identifierRejected, RC.unspecified, `keep alive ${p.keepalive ?? 0} s outside 1..${cfg.keepaliveLimit}`);
    if (keep.keepalive > 0) {
      // §3.1.2.10: close after one and a half keep alive periods without a packet
      this.silenceLimitMs = keep.keepalive * 1500;
      this.#core.keepAlive.watch(this);
    }

    if (version === 5) {
      this.receiveMaximum = props?.receiveMaximum ?? 65535;
      this.#clientMaxPacket = props?.maximumPacketSize;
      this.#requestProblemInfo = props?.requestProblemInformation ?? true;
      if (this.#intake !== undefined) this.#intake.requestProblemInfo = this.#requestProblemInfo;
    }

    const cleanStart = p.clean ?? true;
    const lifetime = sessionExpiry(p, version, cfg.maxSessionExpiry);

    let will: PendingWill | undefined;
    if (p.will !== undefined) {
      const w = p.will;
      if (!isValidTopicName(w.topic)) return this.#refuse(RC3.identifierRejected, RC.topicNameInvalid, 'invalid will topic');
      // a will is a publish on the client's behalf: its topic must be inside the client's grants
      if (!auth.mayPublish(w.topic, this.remote)) return this.#refuse(RC3.notAuthorized, RC.notAuthorized, `will topic ${JSON.stringify(w.topic)} outside the grants`);
      will = pendingWill(w, clientId);
    }

    // CONNACK properties exist in MQTT 5 only (§3.2.2.3)
    const fitting = version === 5 ? fitConnack(connackProperties(cfg, keep, assigned, lifetime), this.#clientMaxPacket) : undefined;
    if (version === 5 && fitting === undefined) {
      // §3.1.2.11.4: nothing larger than the client's Maximum Packet Size may be sent, and not
      // even the smallest CONNACK that still tells it what it must know fits
      this.#dead = true;
      this.#core.metrics.inc('protocol_errors_total', { connector: this.#core.connectorName, code: 'connack-too-large' });
      this.#core.logger.info('refused MQTT connection', { remote: this.remote, clientId, reason: `Maximum Packet Size ${this.#clientMaxPacket} too small for a CONNACK` });
      this.#beginClose();
      return;
    }

    const attached = this.#core.attachSession(this, clientId, cleanStart, lifetime.expiry, this.owner);
    if (attached === 'taken') {
      // another user's client id: refused like an id the server does not accept (MQTT 5 0x85,
      // 3.1.1 0x02), so its session and queued messages stay with their owner
      this.#core.metrics.inc('auth_failures_total', { connector: this.#core.connectorName, reason: 'client-id-taken' });
      return this.#refuse(RC3.identifierRejected, RC.clientIdentifierNotValid, `client id ${JSON.stringify(clientId)} belongs to another user`);
    }
    const { session, present } = attached;
    this.#session = session;
    this.#will = will;
    this.#state = 'connected';
    // §3.2.2.2: Session Present tells the client whether its session was resumed
    this.#connack(0, present, fitting);
    this.#handshakeDone?.();
    this.#handshakeDone = undefined;
    this.#core.logger.debug('client connected', { remote: this.remote, clientId, version, sessionPresent: present });
    session.attach(this);
    // a client that connects while the flow is paused gets its CONNACK, then waits in TCP
    this.updateFlow();
  }

  /**
   * One of this client's messages waits for room on a full route (true), or was taken (false).
   * Its socket is not read meanwhile: the client's next publishes would most likely wait for the
   * same route, and they wait in TCP rather than in Ferry's memory, while other clients go on.
   */
  /**
   * {@link routeWait} as a function of its own, for the owner (PublishHandler's onWait, types.ts): made on this
   * client's first publish and kept (a closure per publish otherwise; none for a device that
   * only subscribes)
   */
  get routeWaiter(): (waiting: boolean) => void {
    this.#routeWaiter ??= (waiting) => this.routeWait(waiting);
    return this.#routeWaiter;
  }

  routeWait(waiting: boolean): void {
    this.#waitingForRoute += waiting ? 1 : -1;
    this.updateFlow();
    if (this.#waitingForRoute === 0) this.#input.feedSoon();
  }

  /**
   * Why this connection's socket is not read now, or undefined when it is. The one place that
   * decides, from every reason at once, so no path can resume a socket another reason still
   * holds, or leave one paused that no reason holds any more:
   * - `closing`: Ferry is closing the connection; it is read (input discarded) so the close completes
   * - `authenticating`: the CONNECT's credentials are being checked (a failed login waits out its
   *   slow-down delay here); nothing more is taken from the client until that is decided
   * - `receive-maximum`: the client holds receiveMaximum unsettled QoS 1/2 publishes (flow control
   *   for clients that ignore Receive Maximum, MQTT 5 §3.3.4; 3.1.1 has none)
   * - `route-full`: a message of this client waits for room on a route at maxInFlight
   * - `backlog`: whole packets of an earlier read are still to parse (the input was held). The
   *   socket is read again by the parse that takes the last of them, so Ferry holds at most the
   *   rest of one read and the client's further packets wait in TCP; resuming as soon as a slot
   *   frees would instead append a read per message taken, and grow the backlog without bound
   * - `flow`: the owner paused the flow (as many messages wait for a route as its maxInFlight).
   *   Only connected clients: one still to send CONNECT gets its CONNACK, not a connect timeout.
   */
  get readBlockedBy(): 'authenticating' | 'receive-maximum' | 'route-full' | 'backlog' | 'flow' | undefined {
    if (this.#closing || this.#dead || this.#state === 'closed') return undefined;
    if (this.#authenticating) return 'authenticating';
    // 3.1.1 has no Receive Maximum: a client sending more waits in TCP. An MQTT 5 client that
    // exceeds it is disconnected (see PublishIntake.publish), so never paused for it
    if (this.version !== 5 && (this.#intake?.held ?? 0) >= this.#core.config.receiveMaximum) return 'receive-maximum';
    if (this.#waitingForRoute > 0) return 'route-full';
    if (this.#input.hasBacklog) return 'backlog';
    if (this.#core.flowPaused && this.#state === 'connected') return 'flow';
    return undefined;
  }

  /** whether the socket is paused now (the keep-alive sweep does not count the client's silence meanwhile) */
  get readPaused(): boolean {
    return this.#paused;
  }

  /**
   * Pause or resume the socket to match {@link readBlockedBy}. Called whenever one of its inputs
   * changes: a publish held or settled, the owner's flow, CONNECT accepted, the connection closing.
   * The client's packets wait in TCP while paused.
   */
  updateFlow(): void {
    if (this.#state === 'closed') return;
    const pause = this.readBlockedBy !== undefined;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) this.#socket.pause();
    else {
      this.#socket.resume();
      // the client's silence while we did not read was ours: its keep alive counts from now
      this.heard = true;
    }
  }

  keepAliveExpired(): void {
    this.#protocolError('keepalive-timeout', 'keep alive timeout', RC.keepAliveTimeout);
  }

  #onDisconnect(p: IDisconnectPacket): void {
    const session = this.#session as Session;
    const newExpiry = p.properties?.sessionExpiryInterval;
    if (newExpiry !== undefined) {
      // MQTT 5 §3.14.2.2.2: a session that expired with the connection cannot be extended
      if (session.expiryInterval === 0 && newExpiry !== 0) return this.#protocolError('session-expiry', 'session expiry set at DISCONNECT after 0', RC.protocolError);
      session.expiryInterval = Math.min(newExpiry, this.#core.config.maxSessionExpiry);
    }
    this.#disconnect = p.reasonCode === RC.disconnectWithWill ? 'with-will' : 'normal';
    this.#end();
  }

  /**
   * Our FIN, after everything this turn still holds: the acknowledgements of publishes settled
   * so far (AckBatch waits for the poll phase) and what the writer joined (end() does not flush it).
   */
  #end(): void {
    this.#acks?.flush();
    this.#out.flush();
    this.#socket.end();
  }

  /** close the connection for a violation a packet handler found (§4.13) */
  #violated(v: Violation | undefined): void {
    if (v !== undefined) this.#protocolError(v.code, v.detail, v.reason);
  }

  #protocolError(code: string, detail: string, reasonCode5: number | undefined): void {
    if (this.#state === 'closed' || this.#dead) return;
    this.#dead = true;
    this.#core.metrics.inc('protocol_errors_total', { connector: this.#core.connectorName, code });
    this.#core.logger.info('closing MQTT client connection', { remote: this.remote, clientId: this.clientId, code, detail });
    if (this.version === 5 && reasonCode5 !== undefined && this.#state === 'connected') {
      // MQTT 5 §4.13.1: a DISCONNECT with the reason code before closing
      this.send({ cmd: 'disconnect', reasonCode: reasonCode5 });
    } else if (this.version === 5 && reasonCode5 !== undefined && this.#state === 'connecting') {
      this.#connack(reasonCode5, false);
    }
    this.#beginClose();
  }

  #onClose(): void {
    if (this.#state === 'closed') return;
    const wasConnected = this.#state === 'connected';
    this.#state = 'closed';
    this.#resolveClosed?.();
    if (this.silenceLimitMs > 0) this.#core.keepAlive.unwatch(this);
    if (!wasConnected || this.#session === undefined) return;
    // §3.1.2.5: the will is published unless the client ended with a normal DISCONNECT
    const will = this.#disconnect === 'normal' ? undefined : this.#will;
    this.#core.detach(this, this.#session, will);
  }
}
