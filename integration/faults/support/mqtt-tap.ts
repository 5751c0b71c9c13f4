/**
 * A TCP proxy between MQTT clients and a broker that records the packets both ways (PUBLISH with
 * its packet id, DUP flag and payload id; PUBACK; CONNECT/CONNACK/DISCONNECT), so a scenario can
 * tell which copies of a message the broker sent again and whether the client had acknowledged
 * the earlier copy. Bytes are forwarded unchanged, and a half-close is passed on as one (a
 * client's DISCONNECT and last PUBACKs reach the broker before its FIN).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

export interface TapRecord {
  /** ms since the tap started */
  readonly t: number;
  /** connection number, from 1 */
  readonly conn: number;
  readonly clientId: string;
  /** 'up': client → broker; 'down': broker → client */
  readonly dir: 'up' | 'down';
  readonly cmd: string;
  readonly mid?: number | undefined;
  readonly dup?: boolean | undefined;
  /** for a PUBLISH: its payload up to the first space (the id a Fleet puts there) */
  readonly id?: string | undefined;
  readonly sessionPresent?: boolean | undefined;
}

export class MqttTap {
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  readonly #t0 = Date.now();
  #conns = 0;
  port = 0;
  readonly records: TapRecord[] = [];

  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    if (this.#server) return this.port;
    const server = createServer({ allowHalfOpen: true }, (client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const addr = server.address();
    this.port = addr !== null && typeof addr === 'object' ? addr.port : 0;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    const s = this.#server;
    this.#server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  #accept(client: Socket): void {
    const conn = ++this.#conns;
    let clientId = '?';
    let version: 4 | 5 = 4;
    client.setNoDelay(true);
    const upstream = createConnection({ port: this.targetPort, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
    this.#sockets.add(client).add(upstream);
    const record = (dir: 'up' | 'down', p: Packet): void => {
      const r: { -readonly [K in keyof TapRecord]: TapRecord[K] } = { t: Date.now() - this.#t0, conn, clientId, dir, cmd: p.cmd };
      if ('messageId' in p) r.mid = p.messageId;
      if (p.cmd === 'publish') {
        r.dup = p.dup;
        const b = Buffer.isBuffer(p.payload) ? p.payload : Buffer.from(p.payload);
        const end = b.indexOf(0x20);
        r.id = b.toString('utf8', 0, end < 0 ? b.length : end);
      }
      if (p.cmd === 'connack') r.sessionPresent = p.sessionPresent;
      this.records.push(r);
    };
    let down: ReturnType<typeof mqttPacket.parser> | undefined;
    const up = mqttPacket.parser({ protocolVersion: 5 });
    up.on('packet', (p: Packet) => {
      if (p.cmd === 'connect') {
        clientId = p.clientId;
        version = p.protocolVersion === 5 ? 5 : 4;
        down = mqttPacket.parser({ protocolVersion: version });
        down.on('packet', (q: Packet) => record('down', q));
      }
      record('up', p);
    });
    client.on('data', (chunk: Buffer) => {
      up.parse(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down?.parse(chunk);
      client.write(chunk);
    });
    client.on('end', () => {
      this.records.push({ t: Date.now() - this.#t0, conn, clientId, dir: 'up', cmd: 'FIN' });
      upstream.end();
    });
    upstream.on('end', () => {
      this.records.push({ t: Date.now() - this.#t0, conn, clientId, dir: 'down', cmd: 'FIN' });
      client.end();
    });
    const close = (which: string) => (err?: Error): void => {
      if (err !== undefined) this.records.push({ t: Date.now() - this.#t0, conn, clientId, dir: which === 'client' ? 'up' : 'down', cmd: `ERR ${err.message}` });
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', close('client')).on('close', () => close('client')());
    upstream.on('error', close('upstream')).on('close', () => close('upstream')());
  }
}

/** What the broker sent to the clients whose id passes `which`, read from the records. */
export interface TapSummary {
  /** PUBLISHes sent again (the same payload id to the same client id) after the client had acknowledged the earlier copy */
  readonly resentAfterAck: number;
  /** PUBLISHes sent again while the earlier copy was unacknowledged (a connection had ended in between) */
  readonly resentUnacked: number;
  /** the most PUBLISHes awaiting their PUBACK at once on one connection */
  readonly mostUnacked: number;
}

export function summarize(records: readonly TapRecord[], which: (clientId: string) => boolean): TapSummary {
  /** per connection: packet id → the payload id awaiting its PUBACK */
  const open = new Map<number, Map<number, string>>();
  /** client id → payload id → acknowledged */
  const seen = new Map<string, Map<string, boolean>>();
  let resentAfterAck = 0;
  let resentUnacked = 0;
  let mostUnacked = 0;
  for (const r of records) {
    if (!which(r.clientId) || r.mid === undefined) continue;
    let conn = open.get(r.conn);
    if (conn === undefined) open.set(r.conn, (conn = new Map<number, string>()));
    let ids = seen.get(r.clientId);
    if (ids === undefined) seen.set(r.clientId, (ids = new Map<string, boolean>()));
    if (r.dir === 'down' && r.cmd === 'publish' && r.id !== undefined) {
      const before = ids.get(r.id);
      if (before === true) resentAfterAck++;
      else if (before === false) resentUnacked++;
      ids.set(r.id, false);
      conn.set(r.mid, r.id);
      mostUnacked = Math.max(mostUnacked, conn.size);
    } else if (r.dir === 'up' && r.cmd === 'puback') {
      const id = conn.get(r.mid);
      conn.delete(r.mid);
      if (id !== undefined) ids.set(id, true);
    }
  }
  return { resentAfterAck, resentUnacked, mostUnacked };
}
