/**
 * stomp-listener's transports with clients Ferry does not use itself: stomp.py over TLS (right
 * CA and client certificate; wrong CA, expired, missing or foreign client certificate),
 * openssl s_client speaking STOMP by hand, STOMP frames over WebSocket from websocket-client
 * (frames packed together and split across WebSocket messages), the handshake deadline and
 * maxConnections.
 */
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import type { Connector } from '@ferry/core';
import { stompListenerDefinition } from '@ferry/stomp';
import { freePort, RecordingMetrics, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { runClient, runPythonFile } from '../support/third-party.js';
import { goodTls, lastJson, mutualTls, pyTlsArgs, silentSocket, tally, Taken, testPki, TLS_REFUSALS } from './helpers.js';

jest.setTimeout(60_000);

const SCRIPT = fileURLToPath(new URL('./stomp_client.py', import.meta.url));

const PKI = testPki();

interface Ports {
  readonly ports?: { port: number; tlsPort?: number | undefined; websocketPort?: number | undefined } | undefined;
}

const running: Connector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

async function listener(extra: Record<string, unknown>): Promise<{ ports: NonNullable<Ports['ports']>; metrics: RecordingMetrics; taken: Taken; lines: LogLine[] }> {
  const metrics = new RecordingMetrics();
  const lines: LogLine[] = [];
  const options = stompListenerDefinition.options.parse({ port: await freePort(), host: '127.0.0.1', anonymous: true, ...extra });
  const conn = stompListenerDefinition.create(testContext(lines, metrics), 'web', options);
  const taken = new Taken();
  await conn.openSources?.([{ route: 'r', from: { destination: '/topic/#' } }], taken.handler);
  await conn.start();
  running.push(conn);
  return { ports: (conn as unknown as Ports).ports as NonNullable<Ports['ports']>, metrics, taken, lines };
}

interface SendResult {
  readonly connected: boolean;
  readonly error: string | null;
  readonly subprotocol?: string;
  readonly sent: string[];
  readonly receipts: string[];
  readonly received: string[];
}

const stompPy = async (port: number, n: number, tls: string[] = []): Promise<SendResult> =>
  lastJson<SendResult>('stomp_client.py send', await runPythonFile(SCRIPT, ['send', '127.0.0.1', String(port), String(n), ...tls], 45_000));

describe('stomp-listener over TLS (stomp.py, openssl s_client)', () => {
  const mtls = () => mutualTls(PKI.get());

  it('the right CA and a client certificate of it: 100 SENDs receipted after routing, delivered to the subscriber, counted', async () => {
    const { ports, taken } = await listener(mtls());
    const r = await stompPy(ports.port, 100, pyTlsArgs(goodTls(PKI.get())));
    expect(r.error).toBeNull();
    expect(tally(r.sent, r.receipts).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
    expect(tally(r.sent, r.received).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
    expect(tally(r.sent, taken.bodies).counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0 });
  });

  it.each(TLS_REFUSALS)('$what: not connected, nothing taken; a good client is served', async ({ files, server }) => {
    const { ports, metrics, taken, lines } = await listener(mtls());
    const bad = await stompPy(ports.port, 1, pyTlsArgs(files(PKI.get())));
    expect(bad.connected).toBe(false);
    if (server) await waitFor(() => metrics.count('listener_tls_failures_total', { connector: 'web' }) >= 1, 'the refusal counted');
    expect(taken.bodies).toHaveLength(0);
    const good = await stompPy(ports.port, 3, pyTlsArgs(goodTls(PKI.get())));
    // on failure, what the listener logged tells a refusal from a CONNECT that never arrived
    if (good.error !== null) console.log(`the good client failed (${good.error}); the listener logged:\n${lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields)}`).join('\n')}`);
    expect(good.error).toBeNull();
    expect(tally(good.sent, good.receipts).counts).toMatchObject({ sent: 3, received: 3, lost: 0 });
  });

  it('openssl s_client with a client certificate: CONNECT by hand gets CONNECTED', async () => {
    const { ports } = await listener(mtls());
    const r = await runClient(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${ports.port}`, '-CAfile', PKI.get().ca, '-cert', PKI.get().client.cert, '-key', PKI.get().client.key, '-verify_return_error', '-quiet'],
      // the DISCONNECT with a receipt makes the server answer and close, which ends s_client
      { input: 'CONNECT\naccept-version:1.2\nhost:ferry\n\n\0DISCONNECT\nreceipt:bye\n\n\0', timeoutMs: 15_000 },
    );
    expect(r.stdout).toMatch(/^CONNECTED\n/m);
    expect(r.stdout).toMatch(/RECEIPT\nreceipt-id:bye/);
  });
});

describe('stomp-listener over WebSocket (websocket-client)', () => {
  it('ws: negotiates v12.stomp; 99 SENDs, two per WebSocket message or split over two, all receipted and delivered, counted', async () => {
    const { ports, taken } = await listener({ websocket: { port: await freePort(), path: '/ws' } });
    const r = lastJson<SendResult>('stomp_client.py ws', await runPythonFile(SCRIPT, ['ws', `ws://127.0.0.1:${ports.websocketPort}/ws`, '99'], 45_000));
    expect(r.subprotocol).toBe('v12.stomp');
    expect(r.error).toBeNull();
    expect(tally(r.sent, r.receipts).counts).toMatchObject({ sent: 99, received: 99, lost: 0, duplicated: 0 });
    expect(tally(r.sent, r.received).counts).toMatchObject({ sent: 99, received: 99, lost: 0, duplicated: 0 });
    expect(tally(r.sent, taken.bodies).counts).toMatchObject({ sent: 99, received: 99, lost: 0, duplicated: 0 });
  });

  it('wss: the same over TLS', async () => {
    const { ports, taken } = await listener({ websocket: { port: await freePort(), tls: { cert: PKI.get().server.cert, key: PKI.get().server.key } } });
    const r = lastJson<SendResult>('stomp_client.py ws', await runPythonFile(SCRIPT, ['ws', `wss://localhost:${ports.websocketPort}/`, '30', PKI.get().ca], 45_000));
    expect(tally(r.sent, r.receipts).counts).toMatchObject({ sent: 30, received: 30, lost: 0, duplicated: 0 });
    expect(tally(r.sent, taken.bodies).counts).toMatchObject({ sent: 30, received: 30, lost: 0, duplicated: 0 });
  });
});

describe('stomp-listener limits', () => {
  it('a socket that never sends CONNECT is closed after handshakeTimeoutMs and counted; a connected client stays', async () => {
    const { ports, metrics } = await listener({ handshakeTimeoutMs: 700 });
    const s = await silentSocket(ports.port);
    const client = stompPy(ports.port, 20);
    expect(await s.closed).toBeGreaterThanOrEqual(500);
    expect(metrics.count('listener_handshake_timeouts_total', { connector: 'web', transport: 'tcp' })).toBe(1);
    const r = await client;
    expect(tally(r.sent, r.receipts).counts).toMatchObject({ sent: 20, received: 20, lost: 0 });
  });

  it('a WebSocket upgraded but silent is closed after handshakeTimeoutMs too', async () => {
    const { ports, metrics } = await listener({ handshakeTimeoutMs: 700, websocket: { port: await freePort() } });
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`ws://127.0.0.1:${ports.websocketPort}/`, ['v12.stomp']);
    const closed = new Promise<void>((r) => ws.once('close', () => r()));
    await closed;
    expect(metrics.count('listener_handshake_timeouts_total', { connector: 'web', transport: 'ws' })).toBe(1);
  });

  it('maxConnections: the one over is refused while the others are served', async () => {
    const { ports, metrics } = await listener({ maxConnections: 3 });
    const r = lastJson<{ connected: boolean[]; receipted: number }>('stomp_client.py limit', await runPythonFile(SCRIPT, ['limit', '127.0.0.1', String(ports.port), '3'], 45_000));
    expect(r.connected).toEqual([true, true, true, false]);
    expect(r.receipted).toBe(3);
    expect(metrics.count('listener_connections_refused_total', { connector: 'web', reason: 'max-connections' })).toBe(1);
  });
});
