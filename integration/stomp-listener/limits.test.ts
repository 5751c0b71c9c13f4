/**
 * stomp-listener byte limits and the idle time-out: a client cannot make the listener hold
 * more bytes than its limits, is told with an ERROR (with the receipt-id of the SEND refused),
 * and nothing that got a RECEIPT is lost. Raw sockets for the hostile side, stomp.js to consume.
 */
import { jest } from '@jest/globals';
import { createConnection } from 'node:net';
import { FrameParser, headerValue, stompListenerDefinition, type StompListenerConnector } from '@ferry/stomp';
import { freePort, RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { deactivate, RawClient, stompjs } from './helpers.js';

jest.setTimeout(120_000);

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});

async function listener(extra: Record<string, unknown> = {}, lines: LogLine[] = [], metrics = new RecordingMetrics()): Promise<{ l: StompListenerConnector; port: number }> {
  const port = await freePort();
  const options = stompListenerDefinition.options.parse({ port, host: '127.0.0.1', limits: { maxFrameBytes: 2 * 1024 * 1024 }, anonymous: true, ...extra });
  const l = stompListenerDefinition.create(testContext(lines, metrics), 'web', options) as StompListenerConnector;
  started.push(l);
  await l.start();
  return { l, port };
}

const MB = Buffer.alloc(1024 * 1024, 0x78);
// the listener-wide limit, 16 MiB here instead of the default 64 MiB: the same refusals past it
// from 80 SENDs (15 held, 65 refused) as from 300 at the default (63 held), each refusal an ERROR and a reconnect
const BUFFERED = 16 * MB.length;
const SENDS = 80;

function send(destination: string, receipt: string, headers = ''): Buffer {
  return Buffer.concat([Buffer.from(`SEND\ndestination:${destination}\nreceipt:${receipt}\n${headers}content-length:${MB.length}\n\n`), MB, Buffer.from('\0')]);
}

async function connected(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  c.write('CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n\0');
  await c.waitFor((t) => t.startsWith('CONNECTED'), 'CONNECTED');
  return c;
}

/** RECEIPT or ERROR for `receipt` on `c` */
async function answer(c: RawClient, receipt: string): Promise<'receipt' | 'error'> {
  await c.waitFor((t) => t.includes(`receipt-id:${receipt}\n`), `the answer to ${receipt}`);
  const frame = c.frames().find((f) => f.includes(`receipt-id:${receipt}\n`)) ?? '';
  return frame.startsWith('RECEIPT') ? 'receipt' : 'error';
}

/**
 * A consumer of 1 MB messages that parses as the bytes come (Ferry's own frame parser), so
 * 15 MiB cost one pass: auto-ack subscriptions to `queues`, `onMessage(destination)` per MESSAGE.
 */
function consume(port: number, queues: readonly string[], onMessage: (destination: string) => void): { close(): void } {
  const socket = createConnection(port, '127.0.0.1');
  socket.setNoDelay(true);
  const parser = new FrameParser((f) => {
    if (f.command === 'MESSAGE') onMessage(headerValue(f, 'destination') ?? '?');
  }, { maxFrameBytes: 4 * 1024 * 1024, maxBodyBytes: 4 * 1024 * 1024 }, '1.2');
  socket.on('data', (d: Buffer) => parser.push(d));
  socket.on('error', () => undefined);
  socket.write(`CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n\0${queues.map((q, i) => `SUBSCRIBE\nid:${i}\ndestination:${q}\n\n\0`).join('')}`);
  return { close: () => socket.destroy() };
}

describe('stomp-listener byte limits', () => {
  it(`${SENDS} SENDs of 1 MB to ${SENDS} queues: held bytes stay under maxBufferedBytes, the rest get ERROR, every receipted message is delivered`, async () => {
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const { l, port } = await listener({ maxBufferedBytes: BUFFERED }, lines, metrics);
    const rss0 = process.memoryUsage().rss;
    const tally = new Tally();
    const accepted: string[] = [];
    let refused = 0;
    let c = await connected(port);
    for (let i = 0; i < SENDS; i++) {
      if (c.closed) c = await connected(port);
      c.write(send(`/queue/q${i}`, `r${i}`));
      if ((await answer(c, `r${i}`)) === 'receipt') {
        accepted.push(`q${i}`);
        tally.sent(`q${i}`);
      } else {
        refused++;
        expect(c.frames().find((f) => f.startsWith('ERROR')) ?? '').toContain('maxBufferedBytes');
        await waitFor(() => c.closed, 'the connection closed after the ERROR');
      }
    }
    c.close();
    const held = l.broker.heldBytes;
    console.log(`${SENDS} × 1 MB SENDs: ${accepted.length} receipted, ${refused} refused; held ${(held / 1048576).toFixed(1)} MiB; RSS +${((process.memoryUsage().rss - rss0) / 1048576).toFixed(0)} MB`);
    expect(held).toBeLessThanOrEqual(BUFFERED);
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.length).toBeLessThan(BUFFERED / MB.length);
    expect(refused).toBe(SENDS - accepted.length);
    expect(metrics.count('limits_exceeded_total', { connector: 'web', limit: 'maxBufferedBytes' })).toBe(refused);
    expect(lines.some((x) => x.level === 'warn' && x.message.includes('over a limit'))).toBe(true);
    // nothing that got a RECEIPT is lost
    const consumer = consume(port, accepted.map((q) => `/queue/${q}`), (d) => tally.received(d.slice('/queue/'.length)));
    await waitFor(() => tally.complete, 'every receipted message delivered', 30_000);
    expect(tally.counts).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    consumer.close();
    await waitFor(() => l.broker.heldBytes === 0, 'the listener holds nothing once delivered');
  });

  it('one open transaction of many MB: refused past maxTransactionBytes with an ERROR carrying the receipt-id; nothing of it delivered', async () => {
    const metrics = new RecordingMetrics();
    const { l, port } = await listener({ maxTransactionBytes: 8 * 1024 * 1024 }, [], metrics);
    const c = await connected(port);
    c.write('BEGIN\ntransaction:t1\n\n\0');
    let n = 0;
    for (; n < 40; n++) {
      c.write(send('/queue/tx', `t${n}`, 'transaction:t1\n'));
      if ((await answer(c, `t${n}`)) === 'error') break;
    }
    expect(n).toBe(7);
    expect(c.frames().find((f) => f.startsWith('ERROR')) ?? '').toContain('more than 8388608 bytes');
    await waitFor(() => c.closed, 'closed after the ERROR');
    expect(metrics.count('limits_exceeded_total', { connector: 'web', limit: 'maxTransactionBytes' })).toBe(1);
    expect(l.broker.heldBytes).toBe(0);
    expect(l.broker.queueDepth('/queue/tx')).toBe(0);
  });

  it('a client-individual subscriber that never acks holds at most maxUnackedBytesPerSubscription; the rest wait in the queue and come once it acks', async () => {
    const { l, port } = await listener({ maxUnackedBytesPerSubscription: 3 * 1024 * 1024 });
    const producer = await connected(port);
    for (let i = 0; i < 10; i++) {
      producer.write(send('/queue/slow', `s${i}`));
      expect(await answer(producer, `s${i}`)).toBe('receipt');
    }
    const consumer = await stompjs(port, '1.2');
    const got: { ack: () => void }[] = [];
    consumer.client.subscribe('/queue/slow', (m) => got.push(m), { ack: 'client-individual' });
    await waitFor(() => got.length === 3, 'three deliveries (3 MiB)');
    // the fourth would exceed the bound: it waits in the queue
    await waitFor(() => l.broker.queueDepth('/queue/slow') === 7, 'seven still queued');
    expect(got.length).toBe(3);
    for (const m of got.splice(0)) m.ack();
    await waitFor(() => l.broker.queueDepth('/queue/slow') === 4, 'three more after the acks');
    await deactivate(consumer);
    producer.close();
  });
});

describe('stomp-listener idle time-out', () => {
  it('a client with heart-beat 0,0 that goes silent gets an ERROR and is closed after heartBeat.idleTimeoutMs; one that keeps talking stays', async () => {
    const metrics = new RecordingMetrics();
    const { port } = await listener({ heartBeat: { idleTimeoutMs: 400 } }, [], metrics);
    // the time-out runs from the CONNECT, which is after t0
    const t0 = Date.now();
    const silent = await connected(port);
    const talker = await connected(port);
    const timer = setInterval(() => talker.write('\n'), 100);
    await waitFor(() => silent.closed, 'the silent client closed', 10_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(400);
    expect(silent.frames().find((f) => f.startsWith('ERROR')) ?? '').toContain('without heart-beats');
    expect(metrics.count('limits_exceeded_total', { connector: 'web', limit: 'heartBeat.idleTimeoutMs' })).toBe(1);
    // the talker has been connected longer than the time-out, and still is
    await waitFor(() => Date.now() - t0 > 1200, 'three time-outs');
    clearInterval(timer);
    expect(talker.closed).toBe(false);
    talker.close();
  });
});
