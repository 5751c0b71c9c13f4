import { describeError, type AuthorizedClient, type Outcome } from '@ferry/core';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { ProtocolVersion, PublishProperties } from '../mapping.js';
import { DeviceParts } from '../device-parts.js';
import { isValidTopicName } from '../topic.js';
import type { BrokerCore } from './broker-core.js';
import type { Violation } from './packet-rules.js';
import { RC } from './reason-codes.js';
import { IdTable } from './id-table.js';
import type { AckCommand } from './packet-fast.js';
import type { Session } from './session.js';
import { HeldPublish, type HeldPublishOwner } from './held-publish.js';
import { RoomTicket } from './room-wait.js';
import { ACCEPT, type BrokerMessage, type PublishDecision } from './types.js';

/** What the intake needs of the connection it takes publishes from. */
export interface IntakeHost {
  readonly version: ProtocolVersion;
  readonly clientId: string | undefined;
  readonly remote: string;
  readonly closed: boolean;
  send(packet: Packet): 'sent' | 'too-large' | 'invalid' | 'closed';
  /** an acknowledgement with reason Success and no properties, written as its bytes (no packet object) */
  sendAck(cmd: AckCommand, messageId: number): void;
  /** close with a server-side reason, without acknowledging what is held */
  close(reasonCode: number | undefined): void;
  /** one of the inputs of the connection's read flow changed (see {@link PublishIntake.held}) */
  updateFlow(): void;
}

/**
 * The receiving side of one connection's application messages (MQTT 5 §4.3, §4.9): PUBLISH
 * checked and handed to the broker, its QoS 1/2 settlement answered with PUBACK / PUBREC, the
 * QoS 2 flow ended with PUBREL / PUBCOMP, and the count of unsettled publishes the connection's
 * flow control reads. `C` is the connection's own type, so this file does not import it.
 */
export class PublishIntake<C extends IntakeHost> implements HeldPublishOwner {
  readonly #conn: C;
  readonly #core: BrokerCore<C>;
  /** QoS 1 packet ids whose settlement is pending, so a retransmission is not delivered twice */
  readonly #heldQos1 = new IdTable<true>();
  /** QoS 1/2 publishes of this client whose settlement is pending */
  #held = 0;
  /**
   * Packet ids counting against the Receive Maximum Ferry gave an MQTT 5 client (§4.9): a QoS 1
   * publish until its PUBACK, a QoS 2 publish until its PUBCOMP (or a PUBREC with a failure code)
   */
  readonly #quota = new IdTable<true>();
  /** MQTT 5 §3.1.2.11.7: whether a failure acknowledgement may carry a Reason String */
  requestProblemInfo = true;
  /** the topic name last found valid */
  #validTopic: string | undefined;
  /** what the canonical messages of this client's publishes share (see DeviceParts) */
  #deviceParts: DeviceParts | undefined;
  /** the connection's session, for the QoS 2 state of what it holds (one session per connection) */
  #session: Session | undefined;

  constructor(conn: C, core: BrokerCore<C>) {
    this.#conn = conn;
    this.#core = core;
  }

  /** the parts its messages share, made on the first publish (the client id is known by then) */
  #parts(): DeviceParts {
    this.#deviceParts ??= new DeviceParts(this.#core.connectorName, this.#conn.clientId ?? '');
    return this.#deviceParts;
  }

  /** QoS 1/2 publishes of this client whose settlement is pending */
  get held(): number {
    return this.#held;
  }

  /**
   * A PUBLISH from the connected client: a violation to close the connection with (§4.13), or
   * undefined once it was handed to the broker, refused, or recognised as a retransmission.
   */
  publish(p: IPublishPacket, session: Session, auth: AuthorizedClient): Violation | undefined {
    const conn = this.#conn;
    const props = p.properties;
    if (props?.topicAlias !== undefined) {
      // Ferry advertises Topic Alias Maximum 0 (the default), so an alias is a protocol error (§3.3.2.3.4)
      return { code: 'topic-alias', detail: 'topic alias not allowed', reason: RC.topicAliasInvalid };
    }
    if (props?.subscriptionIdentifier !== undefined) {
      // §3.3.4: a client must not send a Subscription Identifier in PUBLISH
      return { code: 'subscription-id-in-publish', detail: 'subscription identifier in PUBLISH', reason: RC.protocolError };
    }
    // a device publishes on one topic again and again (the same string, packet-fast.ts LastTopic): checked once
    if (p.topic !== this.#validTopic) {
      if (!isValidTopicName(p.topic)) return { code: 'invalid-topic', detail: `invalid topic name "${p.topic}"`, reason: RC.topicNameInvalid };
      this.#validTopic = p.topic;
    }
    if (!auth.mayPublish(p.topic, conn.remote)) {
      this.#refuse(p, session);
      return undefined;
    }
    let properties: PublishProperties | undefined;
    let expiresAt: number | undefined;
    if (props !== undefined) {
      const { messageExpiryInterval, ...rest } = props;
      if (messageExpiryInterval !== undefined) expiresAt = Date.now() + messageExpiryInterval * 1000;
      properties = Object.keys(rest).length > 0 ? rest : undefined;
    }
    const message: BrokerMessage = {
      topic: p.topic,
      payload: typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload,
      qos: p.qos,
      retain: p.retain,
      properties,
      expiresAt,
      origin: conn.clientId,
    };
    const id = p.messageId ?? 0;

    if (p.qos === 0) {
      this.#core.ingest(conn, message, undefined, this.#parts());
      return undefined;
    }
    if (p.qos === 1) {
      // a retransmission of a publish still being settled: the pending settlement will answer it
      if (this.#heldQos1.has(id)) return undefined;
    } else {
      const st = session.incomingQos2.get(id);
      // §4.3.3: the receiver must not deliver a QoS 2 message twice; a repeat while it is held
      // is answered when the settlement arrives, a repeat after PUBREC gets PUBREC again
      if (st === 'held') return undefined;
      if (st === 'received') {
        conn.send({ cmd: 'pubrec', messageId: id });
        return undefined;
      }
    }
    const max = this.#core.config.receiveMaximum;
    // the quota is MQTT 5's alone (§4.9): 3.1.1 has no Receive Maximum, its clients wait in TCP
    // (Connection.readBlockedBy), and its publishes are counted by `held` only
    const v5 = conn.version === 5;
    if (v5 && !this.#quota.has(id) && this.#quota.size >= max) {
      // MQTT 5 §3.3.4 / §4.9: a QoS 1/2 PUBLISH beyond the Receive Maximum Ferry sent in CONNACK
      return { code: 'receive-maximum-exceeded', detail: `more than ${max} QoS 1/2 publishes unacknowledged`, reason: RC.receiveMaximumExceeded };
    }
    this.#session = session;
    if (p.qos === 1) this.#heldQos1.set(id, true);
    else session.incomingQos2.set(id, 'held');
    if (v5) this.#quota.set(id, true);
    this.#hold(1);
    // one object for the publish in flight, without the packet (see HeldPublish)
    this.#core.ingest(conn, message, new HeldPublish(this, id, p.qos), this.#parts());
    return undefined;
  }

  /** see {@link HeldPublishOwner}: the engine's outcome, counted by the owner, then answered */
  settled(p: HeldPublish, outcome: Outcome): void {
    this.#core.onOutcome?.(outcome);
    this.decided(p, outcome.kind === 'accept' ? ACCEPT : { kind: outcome.kind, reason: outcome.reason.message });
  }

  /**
   * The decision about a held publish (the engine's, or the broker's own), answered once every
   * copy of it that waits for room in a full session queue was admitted or dropped
   * (room-wait.ts), and then, with a listener store, once its copies in persistent sessions and
   * its retained copy are durable. The publisher's window stays full meanwhile.
   */
  decided(p: HeldPublish, d: PublishDecision): void {
    const after = p.after;
    if (after === undefined) return this.#settle(p, d);
    p.after = undefined;
    if (after instanceof RoomTicket) {
      // the decision waits in the ticket itself (no closure per held publish); the durability
      // barrier is taken once the copies are in their queues, not before
      after.whenReady(afterRoom, { intake: this, p, d });
      return;
    }
    // a store that cannot write releases the message: not acknowledged, the client sends it again
    if (d.kind !== 'accept') return this.#settle(p, d);
    after.then(
      () => this.#settle(p, d),
      (err: unknown) => this.#settle(p, { kind: 'release', reason: `listener state not written: ${describeError(err)}` }),
    );
  }

  /** the barrier of what was written once `p`'s copies were admitted, then the decision */
  roomReady(p: HeldPublish, d: PublishDecision): void {
    p.after = this.#core.pendingWrites();
    this.decided(p, d);
  }

  #settle(p: HeldPublish, d: PublishDecision): void {
    const { id, qos } = p;
    const conn = this.#conn;
    this.#hold(-1);
    if (qos === 1) {
      this.#heldQos1.delete(id);
      if (conn.version === 5) this.#quota.delete(id);
    }
    const session = this.#session as Session;
    if (conn.closed) {
      // the client reconnects and resends (§4.4); an ack on another connection could
      // acknowledge a reused packet id, so nothing is sent
      if (qos === 2) session.incomingQos2.delete(id);
      return;
    }
    this.#answer(qos, id, d, session);
  }

  /** PUBREL for a QoS 2 publish Ferry received: PUBCOMP, or a violation to close with. */
  release(id: number, session: Session): Violation | undefined {
    const st = session.incomingQos2.get(id);
    // §4.3.3: PUBREL answers a PUBREC; one for a publish Ferry has not acknowledged yet is a
    // Protocol Error (§4.13)
    if (st === 'held') return { code: 'pubrel-before-pubrec', detail: `PUBREL for packet identifier ${id} before its PUBREC`, reason: RC.protocolError };
    session.incomingQos2.delete(id);
    // §4.9: the QoS 2 publish leaves the receive quota with its PUBCOMP
    this.#quota.delete(id);
    // §4.3.3: every PUBREL is answered by PUBCOMP; MQTT 5 §3.7.2.1: 0x92 when the id is not
    // known (the session state on both sides differs, or the server restarted)
    this.#conn.send({ cmd: 'pubcomp', messageId: id, reasonCode: st === undefined && this.#conn.version === 5 ? RC.packetIdentifierNotFound : RC.success });
    return undefined;
  }

  /**
   * A PUBLISH outside the client's grants is neither routed nor delivered. MQTT 5 answers QoS 1/2
   * with PUBACK / PUBREC 0x87 Not authorized (§3.4.2.1, §3.5.2.1); 3.1.1 has no negative
   * acknowledgement, so, as Mosquitto does, the publish is acknowledged normally and dropped
   * (the client would otherwise resend it forever). QoS 0 is dropped. Counted and logged by the
   * authorizer.
   */
  #refuse(p: IPublishPacket, session: Session): void {
    const id = p.messageId ?? 0;
    if (p.qos === 0) return;
    const cmd = p.qos === 1 ? 'puback' : 'pubrec';
    const v5 = this.#conn.version === 5;
    // a 3.1.1 QoS 2 flow goes on with PUBREL / PUBCOMP; an MQTT 5 PUBREC >= 0x80 ends it (§4.3.3)
    if (p.qos === 2 && !v5) session.incomingQos2.set(id, 'received');
    if (v5) this.#conn.send({ cmd, messageId: id, reasonCode: RC.notAuthorized });
    else this.#conn.send({ cmd, messageId: id });
  }

  #answer(qos: 1 | 2, id: number, d: PublishDecision, session: Session): void {
    const conn = this.#conn;
    const cmd = qos === 1 ? 'puback' : 'pubrec';
    if (d.kind === 'accept') {
      if (qos === 2) session.incomingQos2.set(id, 'received');
      conn.sendAck(cmd, id);
      return;
    }
    if (d.kind === 'reject') {
      if (qos === 2) session.incomingQos2.delete(id);
      if (conn.version === 5) {
        // §4.9: a PUBREC with a failure code ends the QoS 2 flow and returns its quota
        this.#quota.delete(id);
        // MQTT 5 §3.4.2.1 / §3.5.2.1: a failure reason code; the client does not resend
        const properties = this.requestProblemInfo ? { reasonString: d.reason.slice(0, 200) } : undefined;
        conn.send({ cmd, messageId: id, reasonCode: d.reasonCode ?? RC.unspecified, ...(properties === undefined ? {} : { properties }) });
      } else {
        // 3.1.1 has no negative acknowledgement. A rejection is permanent by definition, so a
        // redelivery could never succeed: acknowledge to stop the device resending (counted and
        // logged by the connector as rejected).
        if (qos === 2) session.incomingQos2.set(id, 'received');
        conn.send({ cmd, messageId: id });
      }
      return;
    }
    // release: the message must come again. A client resends unacknowledged publishes only on
    // a new connection (MQTT 5 §4.4, 3.1.1 §4.4), so close this one without acknowledging.
    if (qos === 2) session.incomingQos2.delete(id);
    this.#core.logger.info('closing client connection so it redelivers a released message', { clientId: conn.clientId, reason: d.reason });
    conn.close(RC.serverBusy);
  }

  #hold(delta: number): void {
    this.#held += delta;
    this.#conn.updateFlow();
  }
}

/** what a held publish's ticket hands back once no copy waits: one object, not a closure */
interface RoomReady {
  readonly intake: PublishIntake<IntakeHost>;
  readonly p: HeldPublish;
  readonly d: PublishDecision;
}

function afterRoom({ intake, p, d }: RoomReady): void {
  intake.roomReady(p, d);
}
