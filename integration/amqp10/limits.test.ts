/**
 * amqp10-listener byte limits on its sink side: what it holds for client receivers is bounded in
 * bytes per address, in total, and per receiver that does not settle. A write over a limit fails
 * with LIMIT_EXCEEDED (transient: its source keeps the message), counted and logged; nothing a
 * write was confirmed for is lost.
 */
import { jest } from '@jest/globals';
import rhea from 'rhea';
import { createMessage, FerryError, type GatewayMessage } from '@ferry/core';
import { amqp10ListenerDefinition, installCapture, type Amqp10Listener } from '@ferry/amqp10';
import { RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { client, openReceiver } from './helpers.js';

jest.setTimeout(120_000);

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});
beforeAll(() => installCapture());

const MiB = 1024 * 1024;
// the listener-wide limit of the maxBufferedBytes case, 16 MiB instead of the default 64 MiB: the
// same refusals past it from 80 writes as from 300 at the default, and a quarter of the bytes to
// deliver to the receivers afterwards
const BUFFERED = 16 * MiB;
const WRITES = 80;

async function listener(options: Record<string, unknown>, lines: LogLine[], metrics: RecordingMetrics): Promise<Amqp10Listener> {
  const opts = amqp10ListenerDefinition.options.parse({ port: 0, host: '127.0.0.1', maxFrameSize: 1024 * 1024, anonymous: true, ...options });
  const l = amqp10ListenerDefinition.create(testContext(lines, metrics), 'devices', opts) as Amqp10Listener;
  started.push(l);
  await l.start();
  return l;
}

function big(id: string): GatewayMessage {
  return createMessage({ body: Buffer.alloc(MiB, 0x61), messageId: id, source: { connector: 'test', protocol: 'amqp10', address: 'x' } });
}

/** taken: the write resolved; refused: LIMIT_EXCEEDED, transient; failed: anything else */
type Result = 'taken' | 'refused' | 'failed' | 'waiting';

function track(p: Promise<void>, results: Map<string, Result>, id: string): void {
  results.set(id, 'waiting');
  p.then(
    () => results.set(id, 'taken'),
    (e: unknown) => results.set(id, e instanceof FerryError && e.code === 'LIMIT_EXCEEDED' && !e.permanent ? 'refused' : 'failed'),
  );
}

const count = (results: Map<string, Result>, r: Result): number => [...results.values()].filter((x) => x === r).length;

describe('amqp10-listener byte limits', () => {
  it('a receiver that never settles holds at most maxUnsettledBytesPerReceiver; the queue behind it is bounded in bytes; once it settles, every taken write is delivered', async () => {
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const l = await listener({ queueBufferBytes: 8 * MiB, maxUnsettledBytesPerReceiver: 4 * MiB }, lines, metrics);
    const c = await client(l.port as number);
    const r = await openReceiver(c, 'out', { autoaccept: false, credit_window: 100 });
    const got: rhea.EventContext[] = [];
    r.on('message', (ctx: rhea.EventContext) => got.push(ctx));
    const results = new Map<string, Result>();
    // the first delivery shows the receiver's credit reached the listener
    track(l.sink.write(big('m0'), { address: 'out' }), results, 'm0');
    await waitFor(() => got.length === 1, 'the first delivery');
    for (let i = 1; i < 20; i++) track(l.sink.write(big(`m${i}`), { address: 'out' }), results, `m${i}`);
    // 4 sent (4 MiB unsettled), 7 queued behind them (8 MiB), the other 9 refused
    await waitFor(() => count(results, 'refused') === 9, 'nine writes refused');
    await waitFor(() => got.length === 4, 'four deliveries');
    expect(l.queued('out')).toBe(7);
    // not for want of credit: the receiver still has most of it
    expect((r as rhea.Receiver & { readonly credit: number }).credit).toBeGreaterThan(90);
    expect(l.heldBytes).toBeLessThanOrEqual(12 * MiB + 4096);
    expect(metrics.count('limits_exceeded_total', { connector: 'devices', limit: 'queueBufferBytes' })).toBe(9);
    expect(lines.filter((x) => x.level === 'warn' && x.message.includes('refuses writes to out'))).toHaveLength(1);
    // the receiver settles from now on: the rest flows, every taken write resolves
    const tally = new Tally();
    for (const [id, res] of results) if (res !== 'refused') tally.sent(id);
    for (const ctx of got.splice(0)) {
      tally.received(String(ctx.message?.message_id));
      ctx.delivery?.accept();
    }
    r.on('message', (ctx: rhea.EventContext) => {
      tally.received(String(ctx.message?.message_id));
      ctx.delivery?.accept();
    });
    await waitFor(() => tally.complete && count(results, 'waiting') === 0, 'every taken write delivered', 30_000);
    expect(count(results, 'taken')).toBe(11);
    expect(count(results, 'failed')).toBe(0);
    expect(tally.counts).toMatchObject({ sent: 11, received: 11, lost: 0, duplicated: 0 });
    await waitFor(() => l.heldBytes === 0, 'nothing held once settled');
    await c.close();
  });

  it(`${WRITES} writes of 1 MB to ${WRITES} addresses nobody receives from: held bytes stay under maxBufferedBytes, the rest refused; receivers get every taken one`, async () => {
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const l = await listener({ maxBufferedBytes: BUFFERED }, lines, metrics);
    const results = new Map<string, Result>();
    for (let i = 0; i < WRITES; i++) track(l.sink.write(big(`a${i}`), { address: `a${i}` }), results, `a${i}`);
    await waitFor(() => count(results, 'waiting') === 0, 'every write answered');
    expect(count(results, 'failed')).toBe(0);
    const taken = [...results].filter(([, r]) => r === 'taken').map(([id]) => id);
    console.log(`${WRITES} × 1 MB writes: ${taken.length} taken, ${WRITES - taken.length} refused; held ${(l.heldBytes / MiB).toFixed(1)} MiB`);
    expect(l.heldBytes).toBeLessThanOrEqual(BUFFERED);
    expect(taken.length).toBeGreaterThan(0);
    expect(taken.length).toBeLessThan(BUFFERED / MiB);
    expect(metrics.count('limits_exceeded_total', { connector: 'devices', limit: 'maxBufferedBytes' })).toBe(WRITES - taken.length);
    const tally = new Tally();
    const c = await client(l.port as number);
    for (const id of taken) {
      tally.sent(id);
      const r = await openReceiver(c, id);
      r.on('message', (ctx: rhea.EventContext) => tally.received(String(ctx.message?.message_id)));
    }
    await waitFor(() => tally.complete, 'every taken message received', 30_000);
    expect(tally.counts).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
    await waitFor(() => l.heldBytes === 0, 'nothing held once accepted');
    await c.close();
  });
});
