import mqttPacket, { type IConnectPacket } from 'mqtt-packet';
import type { ProtocolVersion } from '../mapping.js';
import type { BrokerConfig } from './broker-core.js';

export type ConnackProperties = NonNullable<mqttPacket.IConnackPacket['properties']>;

/**
 * The terms a CONNECT settles with the server: keep alive, session lifetime, and what CONNACK
 * tells the client about them and about the server's capabilities.
 */
export interface KeepaliveTerms {
  /** seconds; 0 turns keep alive off (§3.1.2.10) */
  readonly keepalive: number;
  /** MQTT 5 §3.2.2.3.14 Server Keep Alive, when the server imposes its own */
  readonly serverKeepAlive?: number | undefined;
}

/**
 * The keep alive a client asked for, against the configured limit; undefined when a 3.1.1
 * client must be refused for it. §3.1.2.10: keep alive 0 turns the mechanism off, accepted
 * unless the operator set a limit, as Mosquitto does (its max_keepalive).
 */
export function negotiateKeepalive(asked: number, limit: number | undefined, version: ProtocolVersion): KeepaliveTerms | undefined {
  if (limit === undefined || (asked !== 0 && asked <= limit)) return { keepalive: asked };
  // MQTT 5 §3.2.2.3.14: the server tells the client the keep alive to use instead; 3.1.1 has no
  // way to impose one (refused, as Mosquitto's max_keepalive does)
  return version === 5 ? { keepalive: limit, serverKeepAlive: limit } : undefined;
}

/**
 * Seconds the session outlives the connection: what the client asked for and what it gets.
 * MQTT 5 §3.1.2.11.2 (0 = ends with the connection); 3.1.1 §3.1.2.4 (a persistent session
 * lasts until a clean session replaces it). Bounded by maxSessionExpiry, so no session outlives
 * its client for ever (3.1.1 has no expiry of its own; Mosquitto's persistent_client_expiration
 * does the same).
 */
export function sessionExpiry(p: IConnectPacket, version: ProtocolVersion, max: number): { readonly asked: number; readonly expiry: number } {
  const cleanStart = p.clean ?? true;
  const asked = version === 5 ? (p.properties?.sessionExpiryInterval ?? 0) : cleanStart ? 0 : Infinity;
  return { asked, expiry: Math.min(asked, max) };
}

/** The MQTT 5 CONNACK properties of an accepted CONNECT (§3.2.2.3). */
export function connackProperties(cfg: BrokerConfig, keep: KeepaliveTerms, assigned: string | undefined, session: { readonly asked: number; readonly expiry: number }): ConnackProperties {
  const props: ConnackProperties = {
    receiveMaximum: cfg.receiveMaximum,
    maximumPacketSize: cfg.maxPacketSize,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
  };
  if (keep.serverKeepAlive !== undefined) props.serverKeepAlive = keep.serverKeepAlive;
  if (assigned !== undefined) props.assignedClientIdentifier = assigned;
  // MQTT 5 §3.2.2.3.2: a server using another Session Expiry Interval than asked says so
  if (session.expiry !== session.asked) props.sessionExpiryInterval = session.expiry;
  return props;
}

/**
 * The CONNACK properties that fit the client's Maximum Packet Size (§3.1.2.11.4: the server
 * must not send a larger packet). Dropped first are those whose absence means the same
 * (§3.2.2.3.5, §3.2.2.3.11, §3.2.2.3.12 default to "available"), then the ones the client can
 * do without; never Server Keep Alive or Assigned Client Identifier, which the client must obey
 * or learn. Undefined when even that does not fit.
 */
export function fitConnack(props: ConnackProperties, max: number | undefined): ConnackProperties | undefined {
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
    Reflect.deleteProperty(p, key);
  }
}

/**
 * The client identifier of a CONNECT, and the one the server assigned when it was empty (MQTT 5
 * §3.1.3.1 lets the server assign one and return it as Assigned Client Identifier); undefined
 * for an empty id a 3.1.1 client sent with a persistent session (3.1.1 §3.1.3.1 [MQTT-3.1.3-8]).
 */
export function clientIdentifier(
  p: IConnectPacket,
  version: ProtocolVersion,
  core: { newClientId(): string; readonly config: BrokerConfig },
): { readonly clientId: string; readonly assigned?: string | undefined } | undefined {
  if (p.clientId.length > 0) return { clientId: p.clientId };
  if (version !== 5 && p.clean !== true) return undefined;
  let clientId = core.newClientId();
  // with a clientIdPattern the assigned id is the pattern filled in with the claimed user name
  // (checked against the name the login establishes, like any other id)
  const rule = core.config.clientIdRule;
  if (rule !== undefined && p.username !== undefined && p.username !== '') clientId = rule.assign(p.username, clientId);
  return { clientId, assigned: version === 5 ? clientId : undefined };
}
