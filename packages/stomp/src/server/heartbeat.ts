/**
 * Heart-beat negotiation (STOMP 1.2 §Heart-beating).
 *
 * The client's CONNECT says `heart-beat:cx,cy` (it can send every cx ms, wants to receive every
 * cy ms); the server's CONNECTED says `sx,sy`. Then:
 * - client → server: 0 if cx = 0 or sy = 0, else max(cx, sy) ms;
 * - server → client: 0 if sx = 0 or cy = 0, else max(sx, cy) ms.
 * STOMP 1.0 has no heart-beating: both are 0.
 */
export interface HeartBeatSettings {
  /** how often the server can send (sx) */
  readonly sendMs: number;
  /** how often the server wants to hear from the client (sy) */
  readonly receiveMs: number;
  /**
   * When the negotiation leaves the client no heart-beats to send (it offered cx = 0, or speaks
   * STOMP 1.0), the server still closes it after this much silence (0 or absent: never).
   * STOMP 1.2 §Heart-beating lets a client opt out, but a silent connection that never ends
   * holds a socket for ever; a client that idles longer offers heart-beats.
   */
  readonly idleTimeoutMs?: number | undefined;
}

export interface AgreedHeartBeat {
  /** the server sends an EOL when it wrote nothing for this long (0: never) */
  readonly serverSendsMs: number;
  /** the client promised data at least this often (0: no check) */
  readonly clientSendsMs: number;
}

/** Parse a `heart-beat` header: two non-negative integers. undefined when malformed. */
function parseHeartBeat(value: string | undefined): readonly [number, number] | undefined {
  if (value === undefined) return [0, 0];
  const m = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(value);
  if (m === null) return undefined;
  return [Number(m[1]), Number(m[2])];
}

export function negotiateHeartBeat(client: readonly [number, number], server: HeartBeatSettings): AgreedHeartBeat {
  const [cx, cy] = client;
  return {
    clientSendsMs: cx === 0 || server.receiveMs === 0 ? 0 : Math.max(cx, server.receiveMs),
    serverSendsMs: server.sendMs === 0 || cy === 0 ? 0 : Math.max(server.sendMs, cy),
  };
}

/** The heart-beats a CONNECT's `heart-beat` header agrees to, or why the header is refused. */
export function agreeHeartBeat(header: string | undefined, server: HeartBeatSettings): AgreedHeartBeat | string {
  const client = parseHeartBeat(header);
  if (client === undefined) return `invalid heart-beat header ${JSON.stringify(header)}: expected two integers, "cx,cy"`;
  return negotiateHeartBeat(client, server);
}

/**
 * STOMP 1.2 §Heart-beating: a receiver "MAY consider the connection dead" when nothing arrived
 * within the agreed interval, allowing for "some tolerance". Ferry waits twice the interval.
 */
export const DEAD_PEER_FACTOR = 2;
