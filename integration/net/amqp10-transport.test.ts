/**
 * amqp10-listener's transports with clients Ferry does not use itself: Qpid Proton over amqps
 * (right CA and client certificate; wrong CA, expired, missing or foreign client certificate),
 * openssl s_client reading the AMQP protocol header back over TLS, the handshake deadline and
 * maxConnections.
 */
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import type { Connector } from '@ferry/core';
import { amqp10ListenerDefinition } from '@ferry/amqp10';
import { freePort, RecordingMetrics, testContext, waitFor } from '@ferry/testkit';
import rhea from 'rhea';
import { WebSocket } from 'ws';
import { client, openSender, outcomes } from '../amqp10/helpers.js';
import { runClient, runPythonFile } from '../support/third-party.js';
import { goodTls, lastJson, mutualTls, pyTlsArgs, silentSocket, tally, Taken, testPki, TLS_REFUSALS } from './helpers.js';

jest.setTimeout(60_000);

const SCRIPT = fileURLToPath(new URL('./amqp_client.py', import.meta.url));
const ADDRESS = 'net.in';

const PKI = testPki();

const running: Connector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

async function listener(extra: Record<string, unknown>): Promise<{ port: number; metrics: RecordingMetrics; taken: Taken }> {
  const metrics = new RecordingMetrics();
  const port = await freePort();
  const options = amqp10ListenerDefinition.options.parse({ port, host: '127.0.0.1', anonymous: true, ...extra });
  const conn = amqp10ListenerDefinition.create(testContext([], metrics), 'amqp-in', options);
  const taken = new Taken();
  await conn.openSources?.([{ route: 'r', from: { address: ADDRESS } }], taken.handler);
  await conn.start();
  running.push(conn);
  return { port, metrics, taken };
}

interface SendResult {
  readonly connected: boolean;
  readonly error: string | null;
  readonly sent: string[];
  readonly accepted: string[];
}

const proton = async (port: number, n: number, tls: string[] = []): Promise<SendResult> =>
  lastJson<SendResult>('amqp_client.py send', await runPythonFile(SCRIPT, ['send', tls.length > 0 ? 'localhost' : '127.0.0.1', String(port), ADDRESS, String(n), ...tls], 45_000));

describe('amqp10-listener over TLS (Qpid Proton, amqps)', () => {
  const mtls = () => mutualTls(PKI.get());

  it('the right CA and a client certificate of it: 100 messages accepted after routing, counted', async () => {
    const { port, taken } = await listener(mtls());
    const r = await proton(port, 100, pyTlsArgs(goodTls(PKI.get())));
    expect(r.error).toBeNull();
    expect(tally(r.sent, r.accepted).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
    expect(tally(r.sent, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });

  it.each(TLS_REFUSALS)('$what: nothing accepted; a good client is served', async ({ files, server }) => {
    const { port, metrics, taken } = await listener(mtls());
    const bad = await proton(port, 1, pyTlsArgs(files(PKI.get())));
    expect(bad.accepted).toHaveLength(0);
    expect(bad.error).not.toBeNull();
    if (server) await waitFor(() => metrics.count('listener_tls_failures_total', { connector: 'amqp-in' }) >= 1, 'the refusal counted');
    expect(taken.bodies).toHaveLength(0);
    const good = await proton(port, 3, pyTlsArgs(goodTls(PKI.get())));
    expect(tally(good.sent, good.accepted).counts).toMatchObject({ sent: 3, received: 3, lost: 0 });
  });

  it('openssl s_client: the listener answers the AMQP protocol header over TLS (AMQP 1.0 §2.2)', async () => {
    // s_client keeps the connection after its input ends; the deadline closes it
    const { port } = await listener({ ...mtls(), handshakeTimeoutMs: 1000 });
    const r = await runClient('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', PKI.get().ca, '-cert', PKI.get().client.cert, '-key', PKI.get().client.key, '-verify_return_error', '-quiet'], {
      input: 'AMQP\x03\x01\x00\x00',
      timeoutMs: 15_000,
    });
    // the SASL header comes back first (§5.3.1): "AMQP" 3 1 0 0
    expect(r.stdout.startsWith('AMQP\x03\x01\x00\x00')).toBe(true);
  });
});

describe('amqp10-listener over WebSocket (AMQP WebSocket binding, subprotocol amqp)', () => {
  it('rhea over ws: 100 transfers accepted after routing, counted; the frame guard reads the WebSocket stream', async () => {
    const wsPort = await freePort();
    const { taken } = await listener({ websocket: { port: wsPort, path: '/amqp' } });
    const ws = rhea.create_container().websocket_connect(WebSocket);
    const c = await client(0, { connection_details: ws(`ws://127.0.0.1:${wsPort}/amqp`, ['amqp'], {}) });
    const s = await openSender(c, ADDRESS);
    const seen = outcomes(s);
    const ids = Array.from({ length: 100 }, (_, i) => `w${i}`);
    for (const id of ids) s.send({ body: id });
    await waitFor(() => seen.size === 100, '100 outcomes');
    expect([...seen.values()].every((o) => o === 'accepted')).toBe(true);
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
    await c.close();
  });
});

describe('amqp10-listener limits', () => {
  it('a socket that never sends the protocol header is closed after handshakeTimeoutMs and counted; a client stays served', async () => {
    const { port, metrics } = await listener({ handshakeTimeoutMs: 700 });
    const s = await silentSocket(port);
    const client = proton(port, 20);
    expect(await s.closed).toBeGreaterThanOrEqual(500);
    expect(metrics.count('listener_handshake_timeouts_total', { connector: 'amqp-in', transport: 'tcp' })).toBe(1);
    const r = await client;
    expect(tally(r.sent, r.accepted).counts).toMatchObject({ sent: 20, received: 20, lost: 0 });
  });

  it('maxConnections: the one over is refused while the others are served', async () => {
    const { port, metrics } = await listener({ maxConnections: 3 });
    const r = lastJson<{ connected: boolean[]; accepted: number }>('amqp_client.py limit', await runPythonFile(SCRIPT, ['limit', '127.0.0.1', String(port), ADDRESS, '3'], 45_000));
    expect(r.connected).toEqual([true, true, true, false]);
    expect(r.accepted).toBe(3);
    expect(metrics.count('listener_connections_refused_total', { connector: 'amqp-in', reason: 'max-connections' })).toBe(1);
  });
});
