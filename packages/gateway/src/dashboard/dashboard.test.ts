/**
 * The dashboard's parts: redaction, the bounded log ring, rates, and the HTTP side (page, JSON,
 * event stream) on a real Runtime with an MQTT listener whose route copies messages to itself
 * (no broker). The page itself is tested in Chromium: integration/browser/dashboard.test.ts.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { captureLogger, freePort, waitFor, type LogLine } from '@ferry/testkit';
import { redactText as redactCoreText } from '@ferry/core';
import { defaultRegistry } from '../registry.js';
import { Runtime } from '../runtime.js';
import { DashboardHttp } from './http.js';
import { describePeer } from './peer.js';
import { RateMeter } from './rate-meter.js';
import { RecentLog, recordingLogger } from './recent-log.js';
import { redactText, redactValue } from './redact.js';
import type { DashboardStatus, RouteStatus } from './status.js';

describe('redaction', () => {
  it('hides URL passwords, secret pairs and HTTP credentials in text, and leaves the rest', () => {
    expect(redactText('connect amqp://ferry:s3cr3t@rabbit:5672/vh failed')).toBe('connect amqp://ferry:***@rabbit:5672/vh failed');
    expect(redactText('login=bob passcode=hunter2, token: "abc def" next')).toBe('login=bob passcode=***, token: *** next');
    expect(redactText('Authorization: Bearer eyJhbGciOi.x.y')).toBe('Authorization: Bearer ***');
    expect(redactText('authorization=abc123')).toBe('authorization=***');
    expect(redactText('sent Basic dXNlcjpwYXNz')).toBe('sent Basic ***');
    expect(redactText('queue telemetry.eu declared at amqp://rabbit:5672')).toBe('queue telemetry.eu declared at amqp://rabbit:5672');
  });

  it("hides at least what core's redaction hides in logs", () => {
    for (const text of ['wss://h/ws?access_token=abc&x=1', 'amqps://guest:p%40ss@rabbit/vhost', 'see https://h/cb;password=pw']) {
      expect(redactText(text)).toBe(redactCoreText(text));
    }
  });

  it('replaces the values of secret-named fields at any depth, bounds arrays and depth', () => {
    const v = redactValue({
      connector: 'rabbit',
      password: 'p',
      nested: { passcode: 'q', apiKey: 'k', url: 'mqtt://u:pw@h:1883', ok: 3 },
      list: Array.from({ length: 25 }, (_, i) => i),
      deep: { a: { b: { c: { d: { e: 1 } } } } },
      body: Buffer.from('payload'),
    }) as Record<string, unknown>;
    expect(v['password']).toBe('***');
    expect(v['nested']).toEqual({ passcode: '***', apiKey: '***', url: 'mqtt://u:***@h:1883', ok: 3 });
    expect((v['list'] as unknown[]).length).toBe(21);
    expect(JSON.stringify(v['deep'])).toBe('{"a":{"b":{"c":"…"}}}');
    expect(v['body']).toBe('<7 bytes>');
  });
});

describe('RecentLog', () => {
  it('keeps the last N lines newest first, each bounded in size, and counts them all', () => {
    const log = new RecentLog({ capacity: 3, maxMessageChars: 20, maxDetailChars: 30 });
    for (let i = 1; i <= 5; i++) log.record(i % 2 === 0 ? 'warn' : 'error', `line ${i}`, { i });
    log.record('error', 'x'.repeat(100), { big: 'y'.repeat(100) });
    const e = log.entries();
    expect(e.map((l) => l.seq)).toEqual([6, 5, 4]);
    expect(e[0]?.message.length).toBe(20);
    expect(e[0]?.detail.length).toBe(30);
    expect(e[1]).toMatchObject({ level: 'error', message: 'line 5', detail: '{"i":5}' });
    expect(log.recorded).toBe(6);
  });

  it('recordingLogger writes every line through and records warn/error with the fields of its parents, redacted', () => {
    const lines: LogLine[] = [];
    const log = new RecentLog();
    const logger = recordingLogger(captureLogger(lines), log).child({ connector: 'rabbit' });
    logger.info('connected');
    logger.warn('connection lost', { url: 'amqp://a:b@h', password: 'x' });
    logger.child({ route: 'r' }).error('write failed');
    expect(lines.map((l) => l.message)).toEqual(['connected', 'connection lost', 'write failed']);
    expect(log.entries().map((l) => [l.level, l.message, l.detail])).toEqual([
      ['error', 'write failed', '{"connector":"rabbit","route":"r"}'],
      ['warn', 'connection lost', '{"connector":"rabbit","url":"amqp://a:***@h","password":"***"}'],
    ]);
  });
});

describe('describePeer', () => {
  it('a client: its URLs without credentials; a listener: every address it binds, TLS and WebSocket marked', () => {
    expect(describePeer({ url: 'amqp://ferry:s3cret@rabbit:5672/prod' }, false)).toBe('amqp://rabbit:5672/prod');
    expect(describePeer({ url: 'mqtts://broker:8883' }, false)).toBe('mqtts://broker:8883');
    expect(describePeer({ urls: ['stomp://a:61613', 'stomp://b:61613'] }, false)).toBe('stomp://a:61613, stomp://b:61613');
    expect(describePeer({ port: 1883, host: '0.0.0.0' }, true)).toBe('listening on 0.0.0.0:1883');
    expect(describePeer({ port: 1883, tls: { cert: 'c', key: 'k', port: 8883 }, websocket: { port: 8083, path: '/mqtt' } }, true)).toBe(
      'listening on 0.0.0.0:1883, 0.0.0.0:8883 (TLS), ws://0.0.0.0:8083/mqtt',
    );
    expect(describePeer({ port: 61614, host: '127.0.0.1', tls: { cert: 'c', key: 'k' }, websocket: { port: 15674, host: '::1', tls: {} } }, true)).toBe(
      'listening on 127.0.0.1:61614 (TLS), wss://[::1]:15674',
    );
  });
});

describe('RateMeter', () => {
  it('divides over at least its window, keeps the last rate in between, and survives a reset', () => {
    const m = new RateMeter(1000);
    expect(m.rate('k', 10, 0)).toBe(0);
    expect(m.rate('k', 20, 500)).toBe(0);
    expect(m.rate('k', 30, 2000)).toBe(10);
    expect(m.rate('k', 35, 2100)).toBe(10);
    expect(m.rate('k', 5, 3000)).toBe(0);
    m.retainOnly(new Set());
    expect(m.rate('k', 100, 4000)).toBe(0);
  });
});

// ---- HTTP ------------------------------------------------------------------------------------

interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

function fetchText(port: number, path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An open /events stream: the `status` events parsed as they come. */
class EventStream {
  readonly events: DashboardStatus[] = [];
  status = 0;
  contentType = '';
  #res: IncomingMessage | undefined;
  #buffer = '';

  static open(port: number): Promise<EventStream> {
    const s = new EventStream();
    return new Promise((resolve, reject) => {
      const req = get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
        s.#res = res;
        s.status = res.statusCode ?? 0;
        s.contentType = String(res.headers['content-type']);
        res.setEncoding('utf8');
        res.on('data', (c: string) => s.#take(c));
        resolve(s);
      });
      req.on('error', reject);
    });
  }

  #take(chunk: string): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const lines = block.split('\n');
      if (!lines.includes('event: status')) continue;
      const data = lines.find((l) => l.startsWith('data: '));
      if (data !== undefined) this.events.push(JSON.parse(data.slice(6)) as DashboardStatus);
    }
  }

  get ended(): boolean {
    return this.#res?.complete === true || this.#res?.destroyed === true;
  }

  close(): void {
    this.#res?.destroy();
  }
}

describe('dashboard HTTP on a running gateway', () => {
  let dir: string;
  let runtime: Runtime | undefined;
  const clients: MqttClient[] = [];
  const streams: EventStream[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-dashboard-'));
  });

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await runtime?.stop();
    runtime = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  const routeFile = (adminPort: number, mqttPort: number, extra = ''): string => `
gateway: { id: dash-test, http: { port: ${adminPort}, host: 127.0.0.1 }, spool: { dir: spool } }
connectors:
  devices: { type: mqtt-listener, port: ${mqttPort}, host: 127.0.0.1, anonymous: true, retainedBytesLimit: 1024 }
routes:
  - name: copy
    from: { connector: devices, topic: "in/+" }
    to: { connector: devices, topic: "out/{1}" }
${extra}`;

  async function start(extra = ''): Promise<{ admin: number; mqttPort: number; lines: LogLine[]; file: string }> {
    const [mqttPort, adminPort] = [await freePort(), await freePort()];
    const file = join(dir, 'routes.yaml');
    await writeFile(file, routeFile(adminPort, mqttPort, extra));
    const lines: LogLine[] = [];
    runtime = new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(lines), drainTimeoutMs: 1_000 });
    expect(await runtime.start()).toBe(true);
    return { admin: runtime.adminPort ?? 0, mqttPort, lines, file };
  }

  async function client(port: number, id: string): Promise<MqttClient> {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, clientId: id, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  }

  it('/api/status counts what flowed per route, with connectors, their peers and clients', async () => {
    const { admin, mqttPort } = await start();
    const sub = await client(mqttPort, 'sub');
    await sub.subscribeAsync('out/#', { qos: 1 });
    let got = 0;
    sub.on('message', () => got++);
    const dev = await client(mqttPort, 'dev');
    for (let i = 0; i < 7; i++) await dev.publishAsync(`in/${i}`, Buffer.from([i]), { qos: 1 });
    await waitFor(() => got === 7, 'the subscriber got 7 copies');

    const reply = await fetchText(admin, '/api/status');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json');
    const s = JSON.parse(reply.body) as DashboardStatus;
    expect(s.gateway).toMatchObject({ id: 'dash-test', ready: true });
    // the route writes to a listener with a spool in front: its depth is shown (empty: all delivered)
    expect(s.connectors).toEqual([
      { name: 'devices', type: 'mqtt-listener', role: 'listener', state: 'up', up: true, peer: `listening on 127.0.0.1:${mqttPort}`, clients: 2, spooled: { messages: 0, bytes: 0 } },
    ]);
    expect(s.routes).toHaveLength(1);
    expect(s.routes[0]).toMatchObject({
      name: 'copy',
      from: 'devices topic=in/+',
      to: ['devices topic=out/{1} qos=1'],
      received: 7,
      sent: 7,
      failed: 0,
      deadLettered: 0,
      inFlight: 0,
      maxInFlight: 1000,
    });
  });

  it('/api/status counts per route the writes that failed and the dead letters', async () => {
    // each message fails on both destinations: a template without its header (permanent, no
    // write), and a retained publish over retainedBytesLimit (a write the listener refuses);
    // each failed destination is dead-lettered on its own
    const { admin, mqttPort } = await start(`  - name: bad
    from: { connector: devices, topic: "bad/+" }
    to: [{ connector: devices, topic: "x/{header.nope}" }, { connector: devices, topic: "kept/{1}", retain: true }]
    onFailure:
      retry: { maxAttempts: 1 }
      deadLetter: { connector: devices, topic: "dead/all" }
`);
    const watcher = await client(mqttPort, 'dead-watcher');
    await watcher.subscribeAsync('dead/#', { qos: 1 });
    let dead = 0;
    watcher.on('message', () => dead++);
    const dev = await client(mqttPort, 'dev');
    for (let i = 0; i < 3; i++) await dev.publishAsync(`bad/${i}`, Buffer.alloc(2048, i), { qos: 1 });
    await waitFor(() => dead === 6, 'six dead letters');
    const bad = async (): Promise<RouteStatus | undefined> => (JSON.parse((await fetchText(admin, '/api/status')).body) as DashboardStatus).routes.find((r) => r.name === 'bad');
    await waitFor(async () => (await bad())?.deadLettered === 6, 'the dead letters counted');
    expect(await bad()).toMatchObject({ received: 3, sent: 0, failed: 3, deadLettered: 6, inFlight: 0 });
  });

  it('serves the page with its own files only (CSP), revalidates by ETag, and refuses writes', async () => {
    const { admin } = await start();
    const page = await fetchText(admin, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(page.body).toContain('<script src="dashboard.js" defer></script>');
    expect(page.body).not.toMatch(/https?:\/\//);

    const js = await fetchText(admin, '/dashboard.js');
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    const etag = String(js.headers['etag']);
    expect((await fetchText(admin, '/dashboard.js', { headers: { 'if-none-match': etag } })).status).toBe(304);
    expect((await fetchText(admin, '/dashboard.css')).headers['content-type']).toBe('text/css; charset=utf-8');

    const post = await fetchText(admin, '/', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    // the admin endpoints are still there, and a wrong path lists the dashboard's
    expect((await fetchText(admin, '/healthz')).status).toBe(200);
    const missing = await fetchText(admin, '/nope');
    expect(missing.status).toBe(404);
    expect((JSON.parse(missing.body) as { endpoints: string[] }).endpoints).toEqual(expect.arrayContaining(['/', '/api/status', '/events']));
  });

  it('/events sends the state at once, then new snapshots as messages flow; a stopped admin ends the stream', async () => {
    const { admin, mqttPort } = await start();
    const stream = await EventStream.open(admin);
    streams.push(stream);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toBe('text/event-stream; charset=utf-8');
    await waitFor(() => stream.events.length >= 1, 'the first event');
    expect(stream.events[0]?.routes[0]?.received).toBe(0);

    const dev = await client(mqttPort, 'dev');
    for (let i = 0; i < 3; i++) await dev.publishAsync(`in/${i}`, 'x', { qos: 1 });
    await waitFor(() => stream.events.at(-1)?.routes[0]?.sent === 3, 'an event with 3 sent', 10_000);
    expect(stream.events.at(-1)?.routes[0]?.received).toBe(3);

    await runtime?.stop();
    await waitFor(() => stream.ended, 'the stream ended');
  });

  it('a reload that adds a route shows it on the open stream, with the counts kept', async () => {
    const { admin, mqttPort, file } = await start();
    const dev = await client(mqttPort, 'dev');
    await dev.publishAsync('in/a', 'x', { qos: 1 });
    const stream = await EventStream.open(admin);
    streams.push(stream);
    await waitFor(() => stream.events.at(-1)?.routes[0]?.sent === 1, 'the first count');
    await writeFile(
      file,
      routeFile(
        admin,
        mqttPort,
        `  - name: echo
    from: { connector: devices, topic: "ping/+" }
    to: { connector: devices, topic: "pong/{1}" }
`,
      ),
    );
    expect(await runtime?.reload()).toBe(true);
    await dev.publishAsync('ping/a', 'y', { qos: 1 });
    await waitFor(() => stream.events.at(-1)?.routes.find((r) => r.name === 'echo')?.sent === 1, 'the new route counted on the same stream', 10_000);
    expect(stream.events.at(-1)?.routes.map((r) => [r.name, r.received])).toEqual([
      ['copy', 1],
      ['echo', 1],
    ]);
    expect(stream.ended).toBe(false);
  });
});

describe('DashboardHttp limits', () => {
  const status = (): Promise<DashboardStatus> => Promise.resolve({
    gateway: { id: 'g', ready: true, startedAt: '', time: '', uptimeSeconds: 0 },
    connectors: [],
    routes: [],
    errors: [],
    errorsLogged: 0,
  });
  let server: Server | undefined;
  let dashboard: DashboardHttp | undefined;

  afterEach(async () => {
    dashboard?.close();
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function serve(d: DashboardHttp): Promise<number> {
    const s = createServer((req, res) => void d.handle(req, res, (req.url ?? '/').split('?')[0] ?? '/'));
    server = s;
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    return (s.address() as AddressInfo).port;
  }

  it('a page that stops reading skips snapshots: what waits for it stays under maxBufferedBytes plus one snapshot', async () => {
    // ~200 KB a snapshot: the socket buffers fill after a few
    const big: DashboardStatus = { ...(await status()), errors: Array.from({ length: 100 }, (_, i) => ({ seq: i, time: '', level: 'warn', message: 'x'.repeat(2000), detail: '' })) };
    const size = JSON.stringify(big).length;
    const d = new DashboardHttp({ status: () => Promise.resolve(big), logger: captureLogger(), intervalMs: 100, maxBufferedBytes: 64 * 1024 });
    dashboard = d;
    const port = await serve(d);
    // a raw client that sends the request and never reads a byte
    const sock = connect({ port, host: '127.0.0.1' });
    sock.pause();
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor(() => d.streams === 1, 'the stream is open');
    let peak = 0;
    // sampled over 30 of the stream's 100 ms ticks: the ticks are the events, and what is
    // measured is the most any of them left buffered
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 100));
      peak = Math.max(peak, d.bufferedBytes);
    }
    sock.destroy();
    // twenty ticks of 200 KB would be 4 MB without the skip
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(64 * 1024 + size + 1024);
  });

  it('refuses event streams beyond maxStreams with 503 and takes one again when one closed', async () => {
    const d = new DashboardHttp({ status, logger: captureLogger(), intervalMs: 100, maxStreams: 2 });
    dashboard = d;
    const port = await serve(d);
    const a = await EventStream.open(port);
    const b = await EventStream.open(port);
    const c = await EventStream.open(port);
    expect([a.status, b.status, c.status]).toEqual([200, 200, 503]);
    await waitFor(() => a.events.length >= 2 && b.events.length >= 2, 'both open streams tick');
    a.close();
    await waitFor(() => d.streams === 1, 'the closed stream is let go');
    const e = await EventStream.open(port);
    expect(e.status).toBe(200);
    b.close();
    e.close();
    c.close();
    await waitFor(() => d.streams === 0, 'no stream left');
  });
});
