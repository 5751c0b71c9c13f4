/**
 * Shared pieces of the AMQP 1.0 integration tests (integration/amqp10 and the amqp10 gateway
 * tests): a rhea client playing an application against Ferry's listener or RabbitMQ, its links,
 * and the outcomes its sender saw. A test that cuts connections uses testkit's `TcpProxy`
 * (`cut('reset')` for an RST).
 */
import rhea from 'rhea';

export { ManualFlow } from '@ferry/testkit';

/** A rhea connection and what went wrong on it: errors, connection errors and every disconnect. */
export interface TestClient {
  readonly conn: rhea.Connection;
  readonly errors: string[];
  close(): Promise<void>;
}

/** Connects a rhea client (no reconnect, TCP_NODELAY); `extra` goes to rhea's connect (a user, a hostname …). */
export async function client(port: number, extra: Record<string, unknown> = {}): Promise<TestClient> {
  const c = rhea.create_container();
  const errors: string[] = [];
  c.on('error', (e: Error) => errors.push(e.message));
  const conn = c.connect({ host: '127.0.0.1', port, reconnect: false, tcp_no_delay: true, ...extra } as rhea.ConnectionOptions);
  conn.on('error', (e: Error) => errors.push(e.message));
  conn.on('connection_error', () => errors.push(`connection_error: ${JSON.stringify(conn.error)}`));
  conn.on('disconnected', (ctx: rhea.EventContext) => errors.push(`disconnected${ctx.error === undefined ? '' : `: ${ctx.error.message}`}`));
  await new Promise<void>((resolve, reject) => {
    conn.once('connection_open', () => resolve());
    conn.once('disconnected', () => reject(new Error(`could not connect: ${errors.join('; ')}`)));
  });
  return {
    conn,
    errors,
    close: () =>
      new Promise<void>((resolve) => {
        if (!conn.is_open()) return resolve();
        conn.once('connection_close', () => resolve());
        conn.once('disconnected', () => resolve());
        conn.close();
      }),
  };
}

/** A sending link to `address`; rejects when the peer refuses it (a detach after the attach, §2.6.3). */
export function openSender(c: TestClient, address: string): Promise<rhea.Sender> {
  const s = c.conn.open_sender({ target: { address } });
  return new Promise((resolve, reject) => {
    s.once('sender_open', () => resolve(s));
    s.once('sender_close', () => reject(new Error(`sender refused: ${JSON.stringify(s.error)}`)));
  });
}

/** A receiving link from `address`; `opts` go to rhea (autoaccept, credit_window, snd_settle_mode …). */
export function openReceiver(c: TestClient, address: string, opts: rhea.ReceiverOptions = {}): Promise<rhea.Receiver> {
  const r = c.conn.open_receiver({ source: { address }, ...opts });
  return new Promise((resolve) => r.once('receiver_open', () => resolve(r)));
}

/**
 * Outcomes a sender saw, by delivery id: 'accepted', 'rejected <condition>', 'released',
 * 'modified'. A second outcome for one delivery would be a bug: it is kept as "A AND B".
 */
export function outcomes(s: rhea.Sender): Map<number, string> {
  const seen = new Map<number, string>();
  for (const ev of ['accepted', 'rejected', 'released', 'modified']) {
    s.on(ev, (ctx: rhea.EventContext) => {
      const d = ctx.delivery;
      if (d === undefined) return;
      const text = ev === 'rejected' ? `rejected ${String((d.remote_state as { error?: { condition?: string } }).error?.condition)}` : ev;
      seen.set(d.id, seen.has(d.id) ? `${seen.get(d.id)} AND ${text}` : text);
    });
  }
  return seen;
}
