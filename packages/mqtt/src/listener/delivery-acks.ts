import type { Violation } from './packet-rules.js';
import type { IntakeHost } from './publish-intake.js';
import { RC } from './reason-codes.js';
import type { Session } from './session.js';

/**
 * PUBACK, PUBREC or PUBCOMP from the client for a QoS 1/2 message Ferry delivered to it: the
 * session settles it; a PUBREC is answered with PUBREL. A violation to close the connection with
 * (§4.13), or undefined.
 */
export function acknowledged(conn: IntakeHost, session: Session, cmd: 'puback' | 'pubrec' | 'pubcomp', id: number, reasonCode: number | undefined): Violation | undefined {
  const r = cmd === 'pubrec' ? session.received(id, reasonCode) : session.complete(id, cmd);
  if (r === 'ok') return undefined;
  if (r === 'unknown' && cmd === 'pubrec') {
    // §4.3.3 / MQTT 5 §3.6.2.1: a PUBREC is answered by PUBREL, 0x92 when the id is not known
    conn.send({ cmd: 'pubrel', messageId: id, reasonCode: conn.version === 5 ? RC.packetIdentifierNotFound : 0 });
    return undefined;
  }
  // §4.3.2 / §4.3.3: an acknowledgement for a packet id Ferry has not sent, or of the wrong kind
  // for that id (PUBACK for QoS 2, PUBREC for QoS 1, PUBCOMP before PUBREL), is a Protocol
  // Error (§4.13)
  return { code: `${cmd}-${r}-id`, detail: `${cmd.toUpperCase()} for ${r} packet identifier ${id}`, reason: RC.protocolError };
}
