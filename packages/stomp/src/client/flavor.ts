/**
 * STOMP leaves much to the broker ("The exact behavior is server specific", STOMP 1.2 §NACK),
 * and RabbitMQ and ActiveMQ answer differently: which header carries an application message id,
 * how expiry is written, how prefetch is asked for, what NACK does. A flavor names the dialect.
 */
export type BrokerFlavor = 'rabbitmq' | 'activemq' | 'generic';

/** The dialect from the `server` header of CONNECTED (`RabbitMQ/3.10.8`, `ActiveMQ/5.17.2`). */
export function detectFlavor(server: string | undefined): BrokerFlavor {
  const s = (server ?? '').toLowerCase();
  if (s.startsWith('rabbitmq')) return 'rabbitmq';
  // ActiveMQ Classic answers `ActiveMQ/5.x`; Artemis answers `ActiveMQ-Artemis/2.x` and its NACK
  // discards the message (ARTEMIS-1983), unlike Classic's: treat it as generic.
  if (s.startsWith('activemq/')) return 'activemq';
  return 'generic';
}

/**
 * Destination prefixes RabbitMQ accepts (rabbitmq_stomp `?ALL_DEST_PREFIXES`). A SEND to any
 * other prefix gets an ERROR without a receipt-id, so Ferry refuses it before sending.
 */
const RABBIT_PREFIXES = ['/exchange/', '/topic/', '/queue/', '/amq/queue/', '/temp-queue/', '/reply-queue/'];

/** Why `destination` can never be sent to on this broker, or undefined when it can. */
export function destinationProblem(destination: string, flavor: BrokerFlavor): string | undefined {
  if (destination === '') return 'the destination is empty';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we refuse
  if (/[\r\n\u0000]/.test(destination)) return 'the destination contains CR, LF or NUL';
  if (flavor === 'rabbitmq' && !RABBIT_PREFIXES.some((p) => destination.startsWith(p) && destination.length > p.length)) {
    return `RabbitMQ destinations start with ${RABBIT_PREFIXES.join(', ')} and name something after it`;
  }
  return undefined;
}
