import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { silentLogger, FerryError } from '@ferry/core';
import { makeTestPki, RecordingMetrics, waitFor, type TestPki } from '@ferry/testkit';
import { WebSocket } from 'ws';
import { LISTEN_BACKLOG, Listener, type AcceptedConnection } from './listener.js';
import type { z } from 'zod';
import { listenerTransport } from './options.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki.remove();
});

interface Harness {
  readonly listener: Listener;
  readonly metrics: RecordingMetrics;
  readonly accepted: AcceptedConnection[];
}

const open: Listener[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

/**
 * A listener whose "protocol" echoes every byte; the handshake is done on the first byte
 * received unless `handshake` is false.
 */
function echoListener(transport: z.input<typeof listenerTransport>, handshake = true): Harness {
  const metrics = new RecordingMetrics();
  const accepted: AcceptedConnection[] = [];
  const listener = new Listener(
    {
      type: 'test-listener',
      name: 'l1',
      protocol: 'TEST',
      host: '127.0.0.1',
      port: 0,
      transport: listenerTransport.parse(transport),
      baseDir: pki.dir,
      subprotocols: ['mqtt', 'mqttv3.1'],
      maxWebSocketMessageBytes: 64 * 1024,
    },
    { logger: silentLogger, metrics },
    (c) => {
      accepted.push(c);
      c.stream.on('error', () => undefined);
      c.stream.on('data', (d: Buffer) => {
        if (handshake) c.handshakeDone();
        c.stream.write(d);
      });
      c.stream.on('end', () => c.stream.end());
    },
  );
  open.push(listener);
  return { listener, metrics, accepted };
}

function closed(s: Socket | WebSocket): Promise<void> {
  return new Promise((r) => s.once('close', () => r()));
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

async function echo(s: Socket, text: string): Promise<string> {
  const got = new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
  s.write(text);
  return got;
}

describe('Listener over TCP', () => {
  test('hands each connection over as a byte stream with TCP_NODELAY; listen and close are idempotent', async () => {
    const h = echoListener({});
    const a = await h.listener.listen();
    expect(await h.listener.listen()).toBe(a);
    const s = await tcp(a.port);
    expect(await echo(s, 'hello')).toBe('hello');
    expect(h.accepted[0]?.info).toMatchObject({ transport: 'tcp', remoteAddress: '127.0.0.1', authorized: false });
    const gone = closed(s);
    s.end();
    await gone;
    await Promise.all([h.listener.close(), h.listener.close()]);
  });

  test('a busy port is a CONNECT_FAILED FerryError naming the port', async () => {
    const a = echoListener({});
    const { port } = await a.listener.listen();
    const b = new Listener(
      { type: 'test-listener', name: 'l2', protocol: 'TEST', host: '127.0.0.1', port, transport: listenerTransport.parse({}), baseDir: '.', subprotocols: [], maxWebSocketMessageBytes: 1024 },
      { logger: silentLogger, metrics: new RecordingMetrics() },
      () => undefined,
    );
    const err = await b.listen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(FerryError.is(err, 'CONNECT_FAILED')).toBe(true);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toContain('in use');
    await b.close();
  });

  test('a connection silent past handshakeTimeoutMs is closed and counted; a finished handshake is not', async () => {
    const h = echoListener({ handshakeTimeoutMs: 300 });
    const { port } = await h.listener.listen();
    const silent = await tcp(port);
    const talker = await tcp(port);
    expect(await echo(talker, 'x')).toBe('x');
    const t0 = Date.now();
    await closed(silent);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(h.metrics.count('listener_handshake_timeouts_total', { connector: 'l1', transport: 'tcp' })).toBe(1);
    // the one that completed its handshake outlives the deadline: a silent connection opened
    // after it is closed by its own deadline, which falls later than the talker's would
    await closed(await tcp(port));
    expect(await echo(talker, 'still here')).toBe('still here');
    talker.destroy();
  });

  test('maxConnections: one more is closed at once and counted, the others keep being served', async () => {
    const h = echoListener({ maxConnections: 3 });
    const { port } = await h.listener.listen();
    const kept = [await tcp(port), await tcp(port), await tcp(port)];
    for (const s of kept) expect(await echo(s, 'a')).toBe('a');
    const over = await tcp(port);
    await closed(over);
    expect(h.metrics.count('listener_connections_refused_total', { connector: 'l1', reason: 'max-connections' })).toBe(1);
    expect(h.accepted).toHaveLength(3);
    for (const s of kept) expect(await echo(s, 'b')).toBe('b');
    // room again once one leaves
    const gone = closed(kept[0] as Socket);
    kept[0]?.destroy();
    await gone;
    await waitFor(() => h.listener.connectionCount === 2, 'the listener to see the close');
    const again = await tcp(port);
    expect(await echo(again, 'c')).toBe('c');
    for (const s of [...kept, again]) s.destroy();
  });
});

function tlsClient(port: number, opts: { ca?: string; cert?: string; key?: string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: opts.ca, cert: opts.cert, key: opts.key }, () => resolve(s));
    s.once('error', reject);
  });
}

async function tlsEcho(s: TLSSocket, text: string): Promise<string> {
  const got = new Promise<string>((r, j) => {
    s.once('data', (d: Buffer) => r(d.toString()));
    s.once('error', j);
    s.once('close', () => j(new Error('closed')));
  });
  s.write(text);
  return got;
}

describe('Listener over TLS', () => {
  const tls = () => ({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true });

  test('a client certificate signed by the CA is verified and handed to the protocol', async () => {
    const h = echoListener({ tls: tls() });
    const { port } = await h.listener.listen();
    const s = await tlsClient(port, { ca: pki.caPem, cert: pki.client.certPem, key: pki.client.keyPem });
    expect(await tlsEcho(s, 'secret')).toBe('secret');
    expect(h.accepted[0]?.info.transport).toBe('tls');
    expect(h.accepted[0]?.info.authorized).toBe(true);
    expect(h.accepted[0]?.info.peerCertificate?.subject.CN).toBe('device-1');
    s.destroy();
  });

  test.each([
    ['no client certificate', () => ({ ca: pki.caPem })],
    ['a client certificate of another CA', () => ({ ca: pki.caPem, cert: pki.otherClient.certPem, key: pki.otherClient.keyPem })],
    ['an expired client certificate', () => ({ ca: pki.caPem, cert: pki.expiredClient.certPem, key: pki.expiredClient.keyPem })],
  ])('%s is refused during the handshake and counted; nothing reaches the protocol', async (_what, opts) => {
    const h = echoListener({ tls: tls() });
    const { port } = await h.listener.listen();
    // TLS 1.3: the client may finish its side before the server's verdict arrives
    const outcome = await tlsClient(port, opts()).then(
      (s) => tlsEcho(s, 'x').then(() => 'served', () => 'refused'),
      () => 'refused',
    );
    expect(outcome).toBe('refused');
    await waitFor(() => h.metrics.count('listener_tls_failures_total', { connector: 'l1' }) === 1, 'the TLS failure counted');
    expect(h.accepted).toHaveLength(0);
  });

  test('a separate tls.port serves TLS beside the plain main port', async () => {
    const h = echoListener({ tls: { cert: pki.server.cert, key: pki.server.key, port: 0 } });
    const ports = await h.listener.listen();
    expect(ports.tlsPort).toBeDefined();
    const plain = await tcp(ports.port);
    expect(await echo(plain, 'p')).toBe('p');
    const s = await tlsClient(ports.tlsPort as number, { ca: pki.caPem });
    expect(await tlsEcho(s, 't')).toBe('t');
    expect(h.accepted.map((a) => a.info.transport)).toEqual(['tcp', 'tls']);
    plain.destroy();
    s.destroy();
  });

  test('reloadTls serves the new certificate to new connections and keeps the open ones', async () => {
    const dir = pki.dir;
    const cert = `${dir}/reload.pem`;
    const key = `${dir}/reload.key`;
    await copyFile(pki.expiredServer.cert, cert);
    await copyFile(pki.expiredServer.key, key);
    const h = echoListener({ tls: { cert, key } });
    const { port } = await h.listener.listen();
    await expect(tlsClient(port, { ca: pki.caPem })).rejects.toThrow(/expired/);
    // the operator renews the certificate in place
    const early = await new Promise<TLSSocket>((resolve) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s));
    });
    expect(await tlsEcho(early, 'old')).toBe('old');
    await copyFile(pki.server.cert, cert);
    await copyFile(pki.server.key, key);
    await h.listener.reloadTls();
    const s = await tlsClient(port, { ca: pki.caPem });
    expect(await tlsEcho(s, 'new')).toBe('new');
    expect(await tlsEcho(early, 'still')).toBe('still');
    s.destroy();
    early.destroy();
  });

  test('a TLS file that cannot be read is a CONFIG_IO error at listen', async () => {
    const h = echoListener({ tls: { cert: 'missing.pem', key: pki.server.key } });
    await expect(h.listener.listen()).rejects.toThrow(/tls.cert: cannot read .*missing.pem/);
  });
});

function wsClient(url: string, protocols: string[], opts: { ca?: string } = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { ca: opts.ca });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

describe('Listener over WebSocket', () => {
  test('negotiates the subprotocol; a message split over frames and several in one frame arrive as one byte stream', async () => {
    const h = echoListener({ websocket: { port: 0, path: '/mqtt' } });
    const ports = await h.listener.listen();
    const ws = await wsClient(`ws://127.0.0.1:${ports.websocketPort}/mqtt`, ['mqttv3.1', 'mqtt']);
    expect(ws.protocol).toBe('mqttv3.1');
    const received: Buffer[] = [];
    ws.on('message', (d: Buffer) => received.push(d));
    ws.send(Buffer.from('ab'));
    ws.send(Buffer.from('cd'));
    ws.send(Buffer.from('ef\x00gh'));
    await waitFor(() => Buffer.concat(received).length === 9, 'the echo');
    expect(Buffer.concat(received).toString('latin1')).toBe('abcdef\x00gh');
    expect(h.accepted[0]?.info).toMatchObject({ transport: 'ws', subprotocol: 'mqttv3.1' });
    const gone = closed(ws);
    ws.close();
    await gone;
  });

  test('another path is answered 404 and a plain HTTP request 426', async () => {
    const h = echoListener({ websocket: { port: 0, path: '/mqtt' } });
    const ports = await h.listener.listen();
    await expect(wsClient(`ws://127.0.0.1:${ports.websocketPort}/other`, ['mqtt'])).rejects.toThrow(/404/);
    const res = await fetch(`http://127.0.0.1:${ports.websocketPort}/mqtt`);
    expect(res.status).toBe(426);
    expect(h.accepted).toHaveLength(0);
  });

  test('wss: TLS then the upgrade; limits and deadline count WebSocket connections too', async () => {
    const h = echoListener({ websocket: { port: 0, tls: { cert: pki.server.cert, key: pki.server.key } }, maxConnections: 1, handshakeTimeoutMs: 400 });
    const ports = await h.listener.listen();
    const ws = await wsClient(`wss://localhost:${ports.websocketPort}/`, ['mqtt'], { ca: pki.caPem });
    expect(ws.protocol).toBe('mqtt');
    const echoed = new Promise<string>((r) => ws.once('message', (d: Buffer) => r(d.toString())));
    ws.send(Buffer.from('over wss'));
    expect(await echoed).toBe('over wss');
    expect(h.accepted[0]?.info.transport).toBe('wss');
    await expect(wsClient(`wss://localhost:${ports.websocketPort}/`, ['mqtt'], { ca: pki.caPem })).rejects.toThrow();
    expect(h.metrics.count('listener_connections_refused_total', { connector: 'l1' })).toBe(1);
    const gone = closed(ws);
    ws.close();
    await gone;
    // upgraded but silent: the protocol handshake deadline still applies
    const silent = await wsClient(`wss://localhost:${ports.websocketPort}/`, ['mqtt'], { ca: pki.caPem });
    await closed(silent);
    expect(h.metrics.count('listener_handshake_timeouts_total', { connector: 'l1', transport: 'wss' })).toBe(1);
  });

  test('a WebSocket message over maxWebSocketMessageBytes closes the connection (1009) before it is buffered', async () => {
    const h = echoListener({ websocket: { port: 0 } });
    const ports = await h.listener.listen();
    const ws = await wsClient(`ws://127.0.0.1:${ports.websocketPort}/`, ['mqtt']);
    const code = new Promise<number>((r) => ws.once('close', (c: number) => r(c)));
    ws.send(Buffer.alloc(64 * 1024 + 1));
    expect(await code).toBe(1009);
  });
});

describe('listen backlog', () => {
  it("the kernel's queue of connections not yet accepted is as deep as the kernel allows, not Node's 511", async () => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    // with a cap at or below Node's default the test could not tell the two apart
    if (!(somaxconn > 511)) throw new Error(`net.core.somaxconn is ${somaxconn}: raise it (sysctl -w net.core.somaxconn=4096) to run this test`);
    const { listener, accepted } = echoListener({});
    const { port } = await listener.listen();
    // ss shows a listening socket's backlog in its Send-Q column (iproute2, ss(8))
    let line: string;
    try {
      line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
    } catch (err) {
      throw new Error(`this test reads the backlog with ss: apt-get install -y iproute2 (integration/brokers/install.sh does it) (${String(err)})`, { cause: err });
    }
    const sendQ = Number(line.split(/\s+/)[2]);
    expect(sendQ).toBe(Math.min(LISTEN_BACKLOG, somaxconn));
    // and it still takes connections
    const s = await tcp(port);
    await echo(s, 'hello');
    expect(accepted).toHaveLength(1);
    s.destroy();
  });
});
