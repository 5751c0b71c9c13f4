/**
 * mqtt-listener's transports with clients Ferry does not use itself: mosquitto_pub over TLS
 * (right CA and client certificate; wrong CA, expired or missing client certificate), Paho over
 * WebSocket and secure WebSocket (with the same authentication as TCP), the handshake deadline
 * and maxConnections.
 */
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { mqttListenerDefinition, type MqttListenerConnector } from '@ferry/mqtt';
import { hashPassword } from '@ferry/core';
import { freePort, RecordingMetrics, testContext, waitFor } from '@ferry/testkit';
import { runClient, runPythonFile } from '../support/third-party.js';
import { goodTls, lastJson, mutualTls, silentSocket, tally, Taken, testPki, TLS_REFUSALS, type ClientTlsFiles } from './helpers.js';

jest.setTimeout(60_000);

const PAHO = fileURLToPath(new URL('./mqtt_client.py', import.meta.url));

const PKI = testPki();

const running: MqttListenerConnector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop()));
});

async function listener(extra: Record<string, unknown>): Promise<{ conn: MqttListenerConnector; metrics: RecordingMetrics; taken: Taken }> {
  const metrics = new RecordingMetrics();
  const options = mqttListenerDefinition.options.parse({ port: await freePort(), host: '127.0.0.1', anonymous: true, ...extra });
  const conn = mqttListenerDefinition.create(testContext([], metrics), 'devices', options) as MqttListenerConnector;
  const taken = new Taken();
  await conn.openSources([{ route: 'r', from: { topic: '#' } }], taken.handler);
  await conn.start();
  running.push(conn);
  return { conn, metrics, taken };
}

interface Roundtrip {
  readonly connected: boolean;
  readonly error: string | null;
  readonly published: string[];
  readonly acked: string[];
  readonly received: string[];
}

interface Login {
  readonly connected: boolean;
  readonly rc: number | null;
  readonly acked: boolean;
}

async function paho(transport: 'tcp' | 'tls' | 'ws' | 'wss', port: number, path: string, n: number, tls: string[] = []): Promise<Roundtrip> {
  return lastJson<Roundtrip>('mqtt_client.py', await runPythonFile(PAHO, ['roundtrip', transport, '127.0.0.1', String(port), path, String(n), ...tls], 45_000));
}

describe('mqtt-listener over TLS (mosquitto_pub)', () => {
  const mtls = () => mutualTls(PKI.get());
  const flags = (f: ClientTlsFiles): string[] => ['--cafile', f.ca, ...(f.cert === undefined ? [] : ['--cert', f.cert, '--key', f.key ?? f.cert])];
  const pub = (port: number, id: string, tlsArgs: string[]) =>
    runClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-i', `pub-${id}`, '-t', `tls/${id}`, '-m', id, ...tlsArgs], { timeoutMs: 15_000 });

  it('the right CA and a client certificate of it: published, taken, counted', async () => {
    const { conn, taken } = await listener(mtls());
    const ids = ['a', 'b', 'c'];
    for (const id of ids) {
      const r = await pub(conn.port as number, id, flags(goodTls(PKI.get())));
      expect(r).toMatchObject({ code: 0 });
    }
    await waitFor(() => taken.bodies.length === 3, 'three publishes taken');
    expect(tally(ids, taken.bodies).counts).toMatchObject({ sent: 3, received: 3, lost: 0, duplicated: 0 });
  });

  it.each(TLS_REFUSALS)('$what: refused in the TLS handshake, nothing taken, other clients served', async ({ files, server }) => {
    const { conn, metrics, taken } = await listener(mtls());
    const port = conn.port as number;
    const bad = await pub(port, 'bad', flags(files(PKI.get())));
    expect(bad.code).not.toBe(0);
    if (server) await waitFor(() => metrics.count('listener_tls_failures_total', { connector: 'devices' }) >= 1, 'the refusal counted');
    const good = await pub(port, 'good', flags(goodTls(PKI.get())));
    expect(good.code).toBe(0);
    await waitFor(() => taken.bodies.length === 1, 'the good publish taken');
    expect(taken.bodies).toEqual(['good']);
  });

  it('openssl s_client sees the server certificate chain verify (return code 0) on a separate tls.port', async () => {
    const { conn } = await listener({ tls: { cert: PKI.get().server.cert, key: PKI.get().server.key, port: await freePort() } });
    const tlsPort = conn.ports?.tlsPort as number;
    const r = await runClient('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-CAfile', PKI.get().ca, '-verify_return_error', '-brief'], { input: '', timeoutMs: 15_000 });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Verification: OK/);
    const wrong = await runClient('openssl', ['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-CAfile', PKI.get().otherCa, '-verify_return_error', '-brief'], { input: '', timeoutMs: 15_000 });
    expect(wrong.code).not.toBe(0);
  });
});

describe('mqtt-listener over WebSocket (Paho, transport="websockets")', () => {
  it('ws: 200 QoS 1 publishes taken and acknowledged, and delivered back to the subscriber, counted', async () => {
    const { conn, metrics, taken } = await listener({ websocket: { port: await freePort(), path: '/mqtt' } });
    const r = await paho('ws', conn.ports?.websocketPort as number, '/mqtt', 200);
    expect(r.error).toBeNull();
    expect(tally(r.published, r.acked).counts).toMatchObject({ sent: 200, received: 200, lost: 0, duplicated: 0 });
    expect(tally(r.published, r.received).counts).toMatchObject({ sent: 200, received: 200, lost: 0, duplicated: 0 });
    expect(tally(r.published, taken.bodies).counts).toMatchObject({ sent: 200, received: 200, lost: 0, duplicated: 0 });
    expect(metrics.count('messages_accepted_total', { connector: 'devices' })).toBe(200);
  });

  it('ws: the same authentication as TCP: a wrong password gets CONNACK 4 and is counted, the right one publishes', async () => {
    const password = 'ws-secret-1';
    const { conn, metrics, taken } = await listener({
      anonymous: false,
      users: [{ username: 'wsdev', password: await hashPassword(password, { ln: 10, r: 8, p: 1 }) }],
      websocket: { port: await freePort(), path: '/mqtt' },
    });
    const ws = conn.ports?.websocketPort as number;
    const login = async (pw: string): Promise<Login> => lastJson<Login>('mqtt_client.py', await runPythonFile(PAHO, ['login', 'ws', '127.0.0.1', String(ws), '/mqtt', 'wsdev', pw], 45_000));
    const refused = await login('wrong');
    // MQTT 3.1.1 §3.2.2.3: return code 4, bad user name or password
    expect(refused).toMatchObject({ connected: false, rc: 4, acked: false });
    expect(metrics.count('auth_failures_total', { connector: 'devices', reason: 'bad-credentials' })).toBe(1);
    const served = await login(password);
    expect(served).toMatchObject({ connected: true, rc: 0, acked: true });
    expect(taken.bodies).toEqual(['hello']);
  });

  it('wss: the same over TLS, with the CA', async () => {
    const { conn, taken } = await listener({ websocket: { port: await freePort(), tls: { cert: PKI.get().server.cert, key: PKI.get().server.key } } });
    const r = await paho('wss', conn.ports?.websocketPort as number, '/', 50, [PKI.get().ca]);
    expect(r.error).toBeNull();
    expect(tally(r.published, r.received).counts).toMatchObject({ sent: 50, received: 50, lost: 0, duplicated: 0 });
    expect(tally(r.published, taken.bodies).counts).toMatchObject({ sent: 50, received: 50, lost: 0, duplicated: 0 });
  });
});

describe('mqtt-listener limits', () => {
  it('a socket that never sends CONNECT is closed after handshakeTimeoutMs and counted; a connected device stays', async () => {
    const { conn, metrics } = await listener({ handshakeTimeoutMs: 700 });
    const s = await silentSocket(conn.port as number);
    const paho2 = paho('tcp', conn.port as number, '-', 20);
    const ms = await s.closed;
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(metrics.count('listener_handshake_timeouts_total', { connector: 'devices', transport: 'tcp' })).toBe(1);
    const r = await paho2;
    expect(tally(r.published, r.acked).counts).toMatchObject({ sent: 20, received: 20, lost: 0 });
  });

  it('maxConnections: the one over is refused at once while the others publish and are acknowledged', async () => {
    const { conn, metrics } = await listener({ maxConnections: 3 });
    const r = lastJson<{ connected: boolean[]; acked: number }>('mqtt_client.py', await runPythonFile(PAHO, ['limit', 'tcp', '127.0.0.1', String(conn.port), '-', '3'], 45_000));
    expect(r.connected).toEqual([true, true, true, false]);
    expect(r.acked).toBe(3);
    expect(metrics.count('listener_connections_refused_total', { connector: 'devices', reason: 'max-connections' })).toBe(1);
  });
});
