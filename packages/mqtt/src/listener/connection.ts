import type { Duplex } from 'node:stream';
import { TurnWriter, type AcceptedConnection, type ConnectionInfo } from '@ferry/net';
import { describeError, type AuthorizedClient } from '@ferry/core';
import mqttPacket, {
  type IConnectPacket,
  type IDisconnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
  type QoS,
} from 'mqtt-packet';
import type { ProtocolVersion, PublishProperties } from '../mapping.js';
import { PacketSizeGuard } from '../packet-guard.js';
import { isSharedSubscription, isValidTopicFilter, isValidTopicName, parseSharedSubscription } from '../topic.js';
import type { BrokerCore } from './broker-core.js';
import { checkPacket } from './packet-rules.js';
import { RC, RC3, SUBACK_FAILURE_V3 } from './reason-codes.js';
import { Unparsed } from './unparsed.js';
import { packetReader, type ParserSettings } from './packet-reader.js';
import type { Outlet, Session } from './session.js';
import type { BrokerMessage, PendingWill, PublishDecision } from './types.js';

type ConnackProperties = NonNullable<mqttPacket.IConnackPacket['properties']>;

type State = 'awaiting-connect' | 'connecting' | 'connected' | 'closed';

/**
 * One client's network connection to the embedded broker: the packet size guard, the parser,
 * CONNECT / CONNACK, keep alive, and every control packet after it. Session state lives in
 * {@link Session}; routing of application messages in the broker.
 */
export class Connection implements Outlet {
  version: ProtocolVersion = 4;
  receiveMaximum = 65535;
  clientId: string | undefined;
  readonly remote: string;
  /** the user this connection logged in as (undefined: anonymous); owns the session's client id */
  owner: string | undefined;
  /** transport, remote address and TLS client certificate of this connection */
  readonly info: ConnectionInfo;
  readonly #socket: Duplex;
  readonly #handshakeDone: () => void;
  readonly #core: BrokerCore<Connection>;
  readonly #guard: PacketSizeGuard;
  /** what the shared parser needs to know of this connection (its CONNECT), see packet-reader.ts */
  #parserSettings: ParserSettings | undefined;
  #state: State = 'awaiting-connect';
  readonly #out: TurnWriter;
  #session: Session | undefined;
  #clientMaxPacket: number | undefined;
  #requestProblemInfo = true;
  #keepaliveMs = 0;
  #keepaliveTimer: NodeJS.Timeout | undefined;
  #will: PendingWill | undefined;
  /** set when the client sent DISCONNECT: 'normal' drops the will, 'with-will' publishes it (§3.14.2.1) */
  #disconnect: 'normal' | 'with-will' | undefined;
  /** QoS 1 packet ids whose settlement is pending, so a retransmission is not delivered twice */
  readonly #heldQos1 = new Set<number>();
  /** QoS 1/2 publishes of this client whose settlement is pending */
  #held = 0;
  /**
   * Packet ids counting against the Receive Maximum Ferry gave an MQTT 5 client (§4.9): a QoS 1
   * publish until its PUBACK, a QoS 2 publish until its PUBCOMP (or a PUBREC with a failure code)
   */
  readonly #quota = new Set<number>();
  /** this client's messages waiting for room on a full route (InboundDelivery.onWait) */
  #waitingForRoute = 0;
  /**
   * Whole packets already read from the socket but not parsed yet, with the offsets where each
   * ends: parsing stops between two packets while a publish of this client waits for a full route
   * (one socket read can hold thousands of small publishes, which would all wait in Ferry).
   */
  readonly #unparsed = new Unparsed();
  #feedScheduled = false;
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

  /** resolves once the connection is closed */
  readonly whenClosed: Promise<void>;
  #resolveClosed: () => void = () => undefined;

  /** `accepted` comes from the listener's transport (@ferry/net): TCP, TLS or WebSocket alike */
  constructor(core: BrokerCore<Connection>, accepted: AcceptedConnection) {
    this.#core = core;
    this.#socket = accepted.stream;
    this.#out = new TurnWriter(accepted.stream);
    this.#handshakeDone = accepted.handshakeDone;
    this.info = accepted.info;
    this.remote = accepted.info.remote;
    this.whenClosed = new Promise((r) => (this.#resolveClosed = r));
    this.#guard = new PacketSizeGuard(core.config.maxPacketSize);
  }

  get backlog(): number {
    return this.#socket.writableLength;
  }

  get closed(): boolean {
    return this.#state === 'closed';
  }

  /** Wire the socket. Called once by the broker for every accepted socket. */
  open(): void {
    const socket = this.#socket;
    socket.on('error', (err) => {
      this.#core.logger.debug('client socket error', { remote: this.remote, clientId: this.clientId, error: err.message });
    });
    socket.on('close', () => this.#onClose());
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // the session stops writing to a socket with too much unsent data (session.ts WRITE_HIGH_WATER)
    socket.on('drain', () => {
      if (this.#state === 'connected') this.#session?.pump(Date.now());
    });
    // MQTT 3.1.1 §3.1 / 5 §3.1: a connection that sends no CONNECT within a reasonable time is
    // closed; the transport's handshake deadline does it (until the CONNACK below)
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
    socket.end();
    if (socket.writableFinished) socket.destroy();
    else socket.once('finish', () => socket.destroy());
    // a peer that never reads must not keep the socket open forever
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  send(packet: Packet): 'sent' | 'too-large' | 'invalid' | 'closed' {
    if (this.#state === 'closed' || this.#socket.destroyed || !this.#socket.writable) return 'closed';
    if (this.version === 5 && isAck(packet) && packet.reasonCode === undefined) {
      // MQTT 5 §3.4.2.1 (and §3.5.2.1, §3.6.2.1, §3.7.2.1): with reason 0x00 and no properties
      // the 2-byte form, as Mosquitto sends; mqtt-packet writes the 4-byte form for an absent
      // reason code, which paho-mqtt 1.6.1 cannot read
      packet = { ...packet, reasonCode: RC.success };
    }
    let buf: Buffer;
    try {
      buf = mqttPacket.generate(packet, { protocolVersion: this.version });
    } catch (err) {
      this.#core.logger.warn('could not encode MQTT packet', { clientId: this.clientId, cmd: packet.cmd, error: String(err) });
      return 'invalid';
    }
    if (this.#clientMaxPacket !== undefined && buf.length > this.#clientMaxPacket) return 'too-large';
    this.#write(buf);
    return 'sent';
  }

  #rawWrite(buf: Buffer): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#write(buf);
  }

  /** Packets written in one turn (a batch of PUBACKs, a burst of deliveries) leave in one system call (TurnWriter). */
  #write(buf: Buffer): void {
    this.#out.write(buf);
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'closed' || this.#dead) return;
    const r = this.#guard.push(chunk);
    this.#unparsed.push(r.bytes, r.ends);
    if (r.kind === 'ok') {
      this.#feed();
      return;
    }
    // a refused packet: what came before it is parsed, then the connection is closed
    const before = this.#unparsed.whole();
    this.#unparsed.clear();
    let start = 0;
    for (const end of before.ends) {
      if (this.#dead || this.closed) return;
      if (!this.#parse(before.bytes.subarray(start, end))) return;
      start = end;
    }
    if (r.kind === 'oversize') {
      // MQTT 5 §3.1.2.11.4 / §4.13: a packet above the Maximum Packet Size is a protocol error,
      // answered with DISCONNECT 0x95; 3.1.1 has no code, the connection is closed
      this.#protocolError('packet-too-large', `packet of ${r.size} bytes exceeds maxPacketSize ${this.#core.config.maxPacketSize}`, RC.packetTooLarge);
    } else if (r.kind === 'malformed') {
      this.#protocolError('malformed-packet', r.reason, RC.malformedPacket);
    }
  }

  /**
   * Parse what was read, packet by packet, stopping between two packets while a publish of this
   * client waits for a full route (see {@link routeWait}); the rest is parsed once it was taken.
   */
  #feed(): void {
    const u = this.#unparsed;
    // the start of a packet whose end has not arrived yet waits (unjoined), whole packets only go
    // to the parser: each is checked on its own bytes (packet-rules.ts)
    if (!u.hasPacket || this.#parsingHeld()) return;
    const { bytes, ends } = u.whole();
    let start = 0;
    for (const end of ends) {
      if (this.#parsingHeld()) break;
      if (!this.#parse(bytes.subarray(start, end))) return;
      start = end;
    }
    if (this.#dead || this.#state === 'closed') u.clear();
    else u.consume(start);
  }

  /** parsing stops between two packets while a publish waits for a route or the login is decided */
  #parsingHeld(): boolean {
    return this.#waitingForRoute > 0 || this.#authenticating || this.#dead || this.#state === 'closed';
  }

  /**
   * Parse one whole packet, check what mqtt-packet let through (packet-rules.ts) and handle it;
   * false when handling it threw (the connection is then closed). A parse error closes the
   * connection through the parser's 'error' event.
   */
  #parse(raw: Buffer): boolean {
    if (raw.length === 0) return true;
    try {
      const { result, settings } = packetReader.read(raw, this.#parserSettings);
      this.#parserSettings = settings;
      if (result.kind === 'error') {
        this.#onParseError(result.message);
        return true;
      }
      if (result.kind === 'none' || this.#dead) return true;
      const packet = result.packet;
      const connecting = packet.cmd === 'connect' && this.#state === 'awaiting-connect';
      // a CONNECT decides the protocol level its violations are answered in (§4.13)
      if (connecting) this.version = packet.protocolVersion === 5 ? 5 : packet.protocolVersion === 3 ? 3 : 4;
      const v = checkPacket(raw, packet, packet.cmd === 'connect' ? (packet.protocolVersion === 5 ? 5 : 4) : this.version);
      if (v === undefined) this.#onPacket(packet);
      else {
        // MQTT 5 §3.1.4: a CONNECT in error is answered with a CONNACK carrying the reason code
        if (connecting) this.#state = 'connecting';
        this.#protocolError(v.code, v.detail, v.reason);
      }
      return true;
    } catch (err) {
      // a bug in a packet handler must cost this connection, never the process
      this.#unparsed.clear();
      this.#core.logger.error('MQTT listener failed handling a packet', { clientId: this.clientId, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      this.#protocolError('internal-error', String(err), RC.implementationSpecific);
      return false;
    }
  }

  #onParseError(msg: string): void {
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
    if (this.#keepaliveTimer !== undefined) this.#keepaliveTimer.refresh();
    if (packet.cmd === 'connect') {
      // [MQTT-3.1.0-2]: a second CONNECT is a protocol error
      if (this.#state !== 'awaiting-connect') return this.#protocolError('second-connect', 'second CONNECT', RC.protocolError);
      this.#onConnect(packet);
      return;
    }
    // [MQTT-3.1.0-1]: the first packet must be CONNECT
    if (this.#state !== 'connected') return this.#protocolError('not-connected', `${packet.cmd} before CONNECT`, undefined);
    const session = this.#session as Session;
    const now = Date.now();
    switch (packet.cmd) {
      case 'publish':
        return this.#onPublish(packet);
      case 'puback':
      case 'pubcomp':
      case 'pubrec': {
        const id = packet.messageId ?? 0;
        const r = packet.cmd === 'pubrec' ? session.received(id, packet.reasonCode, now) : session.complete(id, packet.cmd, now);
        if (r === 'ok') return;
        if (r === 'unknown' && packet.cmd === 'pubrec') {
          // §4.3.3 / MQTT 5 §3.6.2.1: a PUBREC is answered by PUBREL, 0x92 when the id is not known
          this.send({ cmd: 'pubrel', messageId: id, reasonCode: this.version === 5 ? RC.packetIdentifierNotFound : 0 });
          return;
        }
        // §4.3.2 / §4.3.3: an acknowledgement for a packet id Ferry has not sent, or of the wrong
        // kind for that id (PUBACK for QoS 2, PUBREC for QoS 1, PUBCOMP before PUBREL), is a
        // Protocol Error (§4.13)
        return this.#protocolError(`${packet.cmd}-${r}-id`, `${packet.cmd.toUpperCase()} for ${r} packet identifier ${id}`, RC.protocolError);
      }
      case 'pubrel':
        return this.#onPubrel(packet.messageId ?? 0);
      case 'subscribe':
        return this.#onSubscribe(packet);
      case 'unsubscribe':
        return this.#onUnsubscribe(packet);
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
    let clientId = p.clientId;
    let assigned: string | undefined;
    if (clientId.length === 0) {
      // 3.1.1 §3.1.3.1: an empty id needs CleanSession=1 [MQTT-3.1.3-8]; MQTT 5 §3.1.3.1 lets the
      // server assign one and return it as Assigned Client Identifier
      if (version !== 5 && p.clean !== true) return this.#refuse(RC3.identifierRejected, RC.clientIdentifierNotValid, 'empty client id with a persistent session');
      clientId = this.#core.newClientId();
      // with a clientIdPattern the assigned id is the pattern filled in with the claimed user
      // name (checked against the name the login establishes, like any other id)
      if (cfg.clientIdRule !== undefined && p.username !== undefined && p.username !== '') clientId = cfg.clientIdRule.assign(p.username, clientId);
      if (version === 5) assigned = clientId;
    }
    this.clientId = clientId;

    this.#authenticating = true;
    this.updateFlow();
    const info = this.info;
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
        this.#feed();
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

    // keep alive (§3.1.2.10) against the configured limit
    // §3.1.2.10: keep alive 0 turns the mechanism off. Accepted unless the operator set a limit,
    // as Mosquitto does (its max_keepalive)
    let keepalive = p.keepalive ?? 0;
    let serverKeepAlive: number | undefined;
    const limit = cfg.keepaliveLimit;
    if (limit !== undefined && (keepalive === 0 || keepalive > limit)) {
      if (version === 5) {
        // MQTT 5 §3.2.2.3.14: the server tells the client the keep alive to use instead
        keepalive = limit;
        serverKeepAlive = keepalive;
      } else {
        // 3.1.1 has no way to impose a keep alive; like Mosquitto's max_keepalive, refuse with 0x02
        return this.#refuse(RC3.identifierRejected, RC.unspecified, `keep alive ${keepalive} s outside 1..${limit}`);
      }
    }
    if (keepalive > 0) {
      // §3.1.2.10: close after one and a half keep alive periods without a packet
      this.#keepaliveMs = keepalive * 1500;
      this.#keepaliveTimer = setTimeout(() => {
        // while Ferry itself stops reading (flow control), the client's silence is ours: wait on
        if (this.#paused) {
          this.#keepaliveTimer?.refresh();
          return;
        }
        this.#protocolError('keepalive-timeout', 'keep alive timeout', RC.keepAliveTimeout);
      }, this.#keepaliveMs);
    }

    if (version === 5) {
      this.receiveMaximum = props?.receiveMaximum ?? 65535;
      this.#clientMaxPacket = props?.maximumPacketSize;
      this.#requestProblemInfo = props?.requestProblemInformation ?? true;
    }

    const cleanStart = p.clean ?? true;
    // session lifetime: MQTT 5 §3.1.2.11.2 (0 = ends with the connection); 3.1.1 §3.1.2.4 (a
    // persistent session lasts until a clean session replaces it)
    const asked = version === 5 ? (props?.sessionExpiryInterval ?? 0) : cleanStart ? 0 : Infinity;
    // bounded by maxSessionExpiry, so no session outlives its client for ever (3.1.1 has no
    // expiry of its own; Mosquitto's persistent_client_expiration does the same)
    const expiry = Math.min(asked, cfg.maxSessionExpiry);

    let will: PendingWill | undefined;
    if (p.will !== undefined) {
      const w = p.will;
      if (!isValidTopicName(w.topic)) return this.#refuse(RC3.identifierRejected, RC.topicNameInvalid, 'invalid will topic');
      // a will is a publish on the client's behalf: its topic must be inside the client's grants
      if (!auth.mayPublish(w.topic, this.remote)) return this.#refuse(RC3.notAuthorized, RC.notAuthorized, `will topic ${JSON.stringify(w.topic)} outside the grants`);
      const wp = w.properties;
      const properties: PublishProperties = {};
      if (wp?.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = wp.payloadFormatIndicator;
      if (wp?.contentType !== undefined) properties.contentType = wp.contentType;
      if (wp?.responseTopic !== undefined) properties.responseTopic = wp.responseTopic;
      if (wp?.correlationData !== undefined) properties.correlationData = wp.correlationData;
      if (wp?.userProperties !== undefined) properties.userProperties = wp.userProperties;
      will = {
        message: {
          topic: w.topic,
          payload: typeof w.payload === 'string' ? Buffer.from(w.payload) : w.payload,
          qos: (w.qos ?? 0) as QoS,
          retain: w.retain ?? false,
          properties: Object.keys(properties).length > 0 ? properties : undefined,
          origin: clientId,
        },
        delaySeconds: wp?.willDelayInterval ?? 0,
        expirySeconds: wp?.messageExpiryInterval,
      };
    }

    const connackProps: ConnackProperties = {
      receiveMaximum: cfg.receiveMaximum,
      maximumPacketSize: cfg.maxPacketSize,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (serverKeepAlive !== undefined) connackProps.serverKeepAlive = serverKeepAlive;
    if (assigned !== undefined) connackProps.assignedClientIdentifier = assigned;
    // MQTT 5 §3.2.2.3.2: a server using another Session Expiry Interval than asked says so
    if (version === 5 && expiry !== asked) connackProps.sessionExpiryInterval = expiry;
    const fitting = version === 5 ? this.#fitConnack(connackProps) : connackProps;
    if (fitting === undefined) {
      // §3.1.2.11.4: nothing larger than the client's Maximum Packet Size may be sent, and not
      // even the smallest CONNACK that still tells it what it must know fits
      this.#dead = true;
      this.#core.metrics.inc('protocol_errors_total', { connector: this.#core.connectorName, code: 'connack-too-large' });
      this.#core.logger.info('refused MQTT connection', { remote: this.remote, clientId, reason: `Maximum Packet Size ${this.#clientMaxPacket} too small for a CONNACK` });
      this.#beginClose();
      return;
    }

    const attached = this.#core.attachSession(this, clientId, cleanStart, expiry, this.owner);
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
    this.#handshakeDone();
    this.#core.logger.debug('client connected', { remote: this.remote, clientId, version, sessionPresent: present });
    session.attach(this, Date.now());
    // a client that connects while the flow is paused gets its CONNACK, then waits in TCP
    this.updateFlow();
  }

  /**
   * The CONNACK properties that fit the client's Maximum Packet Size (§3.1.2.11.4: the server
   * must not send a larger packet). Dropped first are those whose absence means the same
   * (§3.2.2.3.5, §3.2.2.3.11, §3.2.2.3.12 default to "available"), then the ones the client can
   * do without; never Server Keep Alive or Assigned Client Identifier, which the client must obey
   * or learn. Undefined when even that does not fit.
   */
  #fitConnack(props: ConnackProperties): ConnackProperties | undefined {
    const max = this.#clientMaxPacket;
    if (max === undefined) return props;
    const droppable: (keyof ConnackProperties)[] = [
      'retainAvailable',
      'wildcardSubscriptionAvailable',
      'subscriptionIdentifiersAvailable',
      'sharedSubscriptionAvailable',
      'maximumPacketSize',
      'receiveMaximum',
    ];
    const p: ConnackProperties = { ...props };
    for (let i = 0; ; i++) {
      const size = mqttPacket.generate({ cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: p }, { protocolVersion: 5 }).length;
      if (size <= max) return p;
      const key = droppable[i];
      if (key === undefined) return undefined;
      delete p[key];
    }
  }

  #onPublish(p: IPublishPacket): void {
    const props = p.properties;
    if (props?.topicAlias !== undefined) {
      // Ferry advertises Topic Alias Maximum 0 (the default), so an alias is a protocol error (§3.3.2.3.4)
      return this.#protocolError('topic-alias', 'topic alias not allowed', RC.topicAliasInvalid);
    }
    if (props?.subscriptionIdentifier !== undefined) {
      // §3.3.4: a client must not send a Subscription Identifier in PUBLISH
      return this.#protocolError('subscription-id-in-publish', 'subscription identifier in PUBLISH', RC.protocolError);
    }
    if (!isValidTopicName(p.topic)) return this.#protocolError('invalid-topic', `invalid topic name "${p.topic}"`, RC.topicNameInvalid);
    if (!(this.#auth as AuthorizedClient).mayPublish(p.topic, this.remote)) return this.#refusePublish(p);
    const now = Date.now();
    let properties: PublishProperties | undefined;
    let expiresAt: number | undefined;
    if (props !== undefined) {
      const { messageExpiryInterval, ...rest } = props;
      if (messageExpiryInterval !== undefined) expiresAt = now + messageExpiryInterval * 1000;
      properties = Object.keys(rest).length > 0 ? rest : undefined;
    }
    const message: BrokerMessage = {
      topic: p.topic,
      payload: typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload,
      qos: p.qos,
      retain: p.retain,
      properties,
      expiresAt,
      origin: this.clientId,
    };
    const id = p.messageId ?? 0;
    const session = this.#session as Session;

    if (p.qos === 0) {
      this.#core.ingest(this, message, undefined);
      return;
    }
    if (p.qos === 1) {
      // a retransmission of a publish still being settled: the pending settlement will answer it
      if (this.#heldQos1.has(id)) return;
    } else {
      const st = session.incomingQos2.get(id);
      // §4.3.3: the receiver must not deliver a QoS 2 message twice; a repeat while it is held
      // is answered when the settlement arrives, a repeat after PUBREC gets PUBREC again
      if (st === 'held') return;
      if (st === 'received') {
        this.send({ cmd: 'pubrec', messageId: id });
        return;
      }
    }
    if (this.version === 5 && !this.#quota.has(id) && this.#quota.size >= this.#core.config.receiveMaximum) {
      // MQTT 5 §3.3.4 / §4.9: a QoS 1/2 PUBLISH beyond the Receive Maximum Ferry sent in CONNACK
      return this.#protocolError('receive-maximum-exceeded', `more than ${this.#core.config.receiveMaximum} QoS 1/2 publishes unacknowledged`, RC.receiveMaximumExceeded);
    }
    if (p.qos === 1) this.#heldQos1.add(id);
    else session.incomingQos2.set(id, 'held');
    this.#quota.add(id);
    this.#hold(+1);
    let settled = false;
    const settle = (d: PublishDecision): void => {
      if (settled) return;
      settled = true;
      this.#hold(-1);
      if (p.qos === 1) {
        this.#heldQos1.delete(id);
        this.#quota.delete(id);
      }
      if (this.#state === 'closed') {
        // the client reconnects and resends (§4.4); an ack on another connection could
        // acknowledge a reused packet id, so nothing is sent
        if (p.qos === 2) session.incomingQos2.delete(id);
        return;
      }
      this.#answer(p.qos as 1 | 2, id, d, session);
    };
    this.#core.ingest(this, message, settle);
  }

  /**
   * A PUBLISH outside the client's grants is neither routed nor delivered. MQTT 5 answers QoS 1/2
   * with PUBACK / PUBREC 0x87 Not authorized (§3.4.2.1, §3.5.2.1); 3.1.1 has no negative
   * acknowledgement, so, as Mosquitto does, the publish is acknowledged normally and dropped
   * (the client would otherwise resend it forever). QoS 0 is dropped. Counted and logged by the
   * authorizer.
   */
  #refusePublish(p: IPublishPacket): void {
    const id = p.messageId ?? 0;
    if (p.qos === 0) return;
    const cmd = p.qos === 1 ? 'puback' : 'pubrec';
    // a 3.1.1 QoS 2 flow goes on with PUBREL / PUBCOMP; an MQTT 5 PUBREC >= 0x80 ends it (§4.3.3)
    if (p.qos === 2 && this.version !== 5) (this.#session as Session).incomingQos2.set(id, 'received');
    if (this.version === 5) this.send({ cmd, messageId: id, reasonCode: RC.notAuthorized });
    else this.send({ cmd, messageId: id });
  }

  #answer(qos: 1 | 2, id: number, d: PublishDecision, session: Session): void {
    const cmd = qos === 1 ? 'puback' : 'pubrec';
    if (d.kind === 'accept') {
      if (qos === 2) session.incomingQos2.set(id, 'received');
      this.send({ cmd, messageId: id });
      return;
    }
    if (d.kind === 'reject') {
      if (qos === 2) session.incomingQos2.delete(id);
      if (this.version === 5) {
        // §4.9: a PUBREC with a failure code ends the QoS 2 flow and returns its quota
        this.#quota.delete(id);
        // MQTT 5 §3.4.2.1 / §3.5.2.1: a failure reason code; the client does not resend
        const properties = this.#requestProblemInfo ? { reasonString: d.reason.slice(0, 200) } : undefined;
        this.send({ cmd, messageId: id, reasonCode: d.reasonCode ?? RC.unspecified, ...(properties === undefined ? {} : { properties }) });
      } else {
        // 3.1.1 has no negative acknowledgement. A rejection is permanent by definition, so a
        // redelivery could never succeed: acknowledge to stop the device resending (counted and
        // logged by the connector as rejected).
        if (qos === 2) session.incomingQos2.set(id, 'received');
        this.send({ cmd, messageId: id });
      }
      return;
    }
    // release: the message must come again. A client resends unacknowledged publishes only on
    // a new connection (MQTT 5 §4.4, 3.1.1 §4.4), so close this one without acknowledging.
    if (qos === 2) session.incomingQos2.delete(id);
    this.#core.logger.info('closing client connection so it redelivers a released message', { clientId: this.clientId, reason: d.reason });
    this.close(RC.serverBusy);
  }

  #hold(delta: number): void {
    this.#held += delta;
    this.updateFlow();
  }

  /**
   * One of this client's messages waits for room on a full route (true), or was taken (false).
   * Its socket is not read meanwhile: the client's next publishes would most likely wait for the
   * same route, and they wait in TCP rather than in Ferry's memory, while other clients go on.
   */
  routeWait(waiting: boolean): void {
    this.#waitingForRoute += waiting ? 1 : -1;
    this.updateFlow();
    if (this.#waitingForRoute === 0 && this.#unparsed.hasPacket && !this.#feedScheduled) {
      // called from inside the engine (a settlement elsewhere admitted the message): parse the
      // rest on the next turn of the event loop, not in the middle of someone else's work
      this.#feedScheduled = true;
      setImmediate(() => {
        this.#feedScheduled = false;
        this.#feed();
      });
    }
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
   * - `flow`: the owner paused the flow (as many messages wait for a route as its maxInFlight).
   *   Only connected clients: one still to send CONNECT gets its CONNACK, not a connect timeout.
   */
  get readBlockedBy(): 'authenticating' | 'receive-maximum' | 'route-full' | 'flow' | undefined {
    if (this.#closing || this.#dead || this.#state === 'closed') return undefined;
    if (this.#authenticating) return 'authenticating';
    // 3.1.1 has no Receive Maximum: a client sending more waits in TCP. An MQTT 5 client that
    // exceeds it is disconnected (see #onPublish), so never paused for it
    if (this.version !== 5 && this.#held >= this.#core.config.receiveMaximum) return 'receive-maximum';
    if (this.#waitingForRoute > 0) return 'route-full';
    if (this.#core.flowPaused && this.#state === 'connected') return 'flow';
    return undefined;
  }

  /** whether the socket is paused now (for tests and diagnostics) */
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
      this.#keepaliveTimer?.refresh();
    }
  }

  #onPubrel(id: number): void {
    const session = this.#session as Session;
    const st = session.incomingQos2.get(id);
    // §4.3.3: PUBREL answers a PUBREC; one for a publish Ferry has not acknowledged yet is a
    // Protocol Error (§4.13)
    if (st === 'held') return this.#protocolError('pubrel-before-pubrec', `PUBREL for packet identifier ${id} before its PUBREC`, RC.protocolError);
    session.incomingQos2.delete(id);
    // §4.9: the QoS 2 publish leaves the receive quota with its PUBCOMP
    this.#quota.delete(id);
    // §4.3.3: every PUBREL is answered by PUBCOMP; MQTT 5 §3.7.2.1: 0x92 when the id is not
    // known (the session state on both sides differs, or the server restarted)
    this.send({ cmd: 'pubcomp', messageId: id, reasonCode: st === undefined && this.version === 5 ? RC.packetIdentifierNotFound : RC.success });
  }

  #onSubscribe(p: ISubscribePacket): void {
    const session = this.#session as Session;
    const subId = p.properties?.subscriptionIdentifier;
    if (subId === 0) return this.#protocolError('subscription-id-zero', 'subscription identifier 0', RC.protocolError);
    const granted: number[] = [];
    const accepted: { sub: import('./types.js').Subscription; existed: boolean }[] = [];
    for (const s of p.subscriptions) {
      const share = isSharedSubscription(s.topic) ? parseSharedSubscription(s.topic) : undefined;
      // MQTT 5 §4.8.2: a share name that is empty or holds a wildcard, or no filter after it:
      // 0x8F Topic Filter invalid (3.1.1, as Mosquitto takes `$share/` from its clients too: 0x80)
      if (isSharedSubscription(s.topic) ? share === undefined : !isValidTopicFilter(s.topic)) {
        granted.push(this.version === 5 ? RC.topicFilterInvalid : SUBACK_FAILURE_V3);
        continue;
      }
      // a filter wider than the client's grants is refused whole, as Mosquitto does (§3.9.3: 0x87 / 0x80)
      if (!(this.#auth as AuthorizedClient).maySubscribe(s.topic, this.remote)) {
        granted.push(this.version === 5 ? RC.notAuthorized : SUBACK_FAILURE_V3);
        continue;
      }
      if (!session.subscriptions.has(s.topic) && session.subscriptions.size >= this.#core.config.maxSubscriptionsPerSession) {
        // MQTT 5 §3.9.3: 0x97 Quota exceeded; 3.1.1 §3.9.3: 0x80 Failure
        granted.push(this.version === 5 ? RC.quotaExceeded : SUBACK_FAILURE_V3);
        this.#core.metrics.inc('protocol_errors_total', { connector: this.#core.connectorName, code: 'subscriptions-quota' });
        continue;
      }
      const qos = Math.min(s.qos, 2) as QoS;
      // MQTT 5 §3.8.3.1 [MQTT-3.8.3-4]: No Local on a shared subscription is a Protocol Error
      if (share !== undefined && s.nl === true) return this.#protocolError('shared-no-local', `No Local on ${s.topic}`, RC.protocolError);
      const sub = { filter: s.topic, qos, nl: s.nl === true, rap: s.rap === true, rh: s.rh ?? 0, id: subId, share };
      const existed = this.#core.subscribe(session, sub);
      accepted.push({ sub, existed });
      granted.push(qos);
    }
    // §3.8.4: SUBACK before the retained messages of the new subscriptions
    this.send({ cmd: 'suback', messageId: p.messageId ?? 0, granted });
    for (const a of accepted) this.#core.sendRetained(session, a.sub, a.existed);
  }

  #onUnsubscribe(p: IUnsubscribePacket): void {
    const session = this.#session as Session;
    const codes = p.unsubscriptions.map((f) => (this.#core.unsubscribe(session, f) ? RC.success : RC.noSubscriptionExisted));
    if (this.version === 5) this.send({ cmd: 'unsuback', messageId: p.messageId ?? 0, granted: codes });
    else this.send({ cmd: 'unsuback', messageId: p.messageId ?? 0, granted: [] });
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
    this.#socket.end();
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
    this.#resolveClosed();
    clearTimeout(this.#keepaliveTimer);
    if (!wasConnected || this.#session === undefined) return;
    // §3.1.2.5: the will is published unless the client ended with a normal DISCONNECT
    const will = this.#disconnect === 'normal' ? undefined : this.#will;
    this.#core.detach(this, this.#session, will);
  }
}

function isAck(p: Packet): p is mqttPacket.IPubackPacket | mqttPacket.IPubrecPacket | mqttPacket.IPubrelPacket | mqttPacket.IPubcompPacket {
  return p.cmd === 'puback' || p.cmd === 'pubrec' || p.cmd === 'pubrel' || p.cmd === 'pubcomp';
}
