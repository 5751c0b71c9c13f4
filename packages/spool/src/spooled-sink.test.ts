import { FerryError, createMessage, silentLogger, type FerryErrorCode, type GatewayMessage, type Sink } from '@ferry/core';
import { Spool } from './spool.js';
import { SpooledSink, type SpooledSinkOptions } from './spooled-sink.js';
import { RecordingMetrics, waitFor } from '@ferry/testkit';
import { removeDir, tempDir } from './test-support.js';

type To = { topic: string };
type Mode = 'ok' | 'transient' | 'permanent' | 'hang';

/** A sink whose behaviour the test sets: confirms, fails (transient or permanent) or never answers. */
class FakeSink implements Sink<To> {
  up = true;
  mode: Mode = 'ok';
  /** a function deciding per message, overriding `mode` */
  decide: ((id: string) => Mode) | undefined;
  readonly attempts: string[] = [];
  readonly confirmed: { id: string; to: To; message: GatewayMessage }[] = [];

  async write(message: GatewayMessage, to: To): Promise<void> {
    const id = message.body.toString();
    this.attempts.push(id);
    const mode = this.decide?.(id) ?? this.mode;
    await new Promise((r) => setImmediate(r)); // answers come later, as from a broker
    if (mode === 'hang') return new Promise(() => undefined);
    if (mode === 'transient') throw new FerryError('NOT_CONNECTED', 'down');
    if (mode === 'permanent') throw new FerryError('SINK_REJECTED', 'refused', { permanent: true });
    this.confirmed.push({ id, to, message });
  }

  get ids(): string[] {
    return this.confirmed.map((c) => c.id);
  }
}

const fromDevice = (id: string, extra: Partial<GatewayMessage> = {}): GatewayMessage =>
  createMessage({ body: Buffer.from(id), source: { connector: 'devices', protocol: 'mqtt', address: 'd/1' }, headers: new Map([['n', 1n]]), ...extra });
const fromBroker = (id: string): GatewayMessage => createMessage({ body: Buffer.from(id), source: { connector: 'rabbit', protocol: 'amqp091', address: 'q' } });
const to = (id: string): To => ({ topic: `t/${id}` });

const waitUntil = (check: () => boolean, what: string): Promise<void> => waitFor(check, what, 5_000, 5);

let dir: string;
let spool: Spool;
let metrics: RecordingMetrics;
let fake: FakeSink;
const sinks: SpooledSink<To>[] = [];

async function setup(opts: Partial<SpooledSinkOptions<To>> & { maxBytes?: number } = {}): Promise<SpooledSink<To>> {
  if (!spool.isOpen) {
    spool = new Spool({ dir, logger: silentLogger, metrics, ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }) });
    await spool.open();
  }
  const s = new SpooledSink<To>({
    connector: 'rabbit-out',
    sink: fake,
    spool,
    isUp: () => fake.up,
    spoolFrom: new Set(['devices']),
    logger: silentLogger,
    metrics,
    pollMs: 10,
    backoff: { initialMs: 10, maxMs: 40 },
    stopGraceMs: 100,
    ...opts,
  });
  sinks.push(s);
  s.start();
  return s;
}

beforeEach(() => {
  dir = tempDir('spooled-sink');
  metrics = new RecordingMetrics();
  spool = new Spool({ dir, logger: silentLogger, metrics });
  fake = new FakeSink();
});

afterEach(async () => {
  await Promise.all(sinks.splice(0).map((s) => s.stop()));
  await spool.close();
  removeDir(dir);
});

/** Whether the write failed with a FerryError of `code`. */
const failsWith = async (write: Promise<void>, code: FerryErrorCode): Promise<boolean> => FerryError.is(await write.catch((e: unknown) => e), code);
const spooled = (): number => metrics.count('messages_spooled_total', { connector: 'rabbit-out' });

describe('SpooledSink', () => {
  it('passes straight through while the sink is up and the queue empty', async () => {
    const s = await setup();
    await s.write(fromDevice('m1'), to('m1'));
    expect(fake.ids).toEqual(['m1']);
    expect(s.depth).toBe(0);
    expect(spooled()).toBe(0);
  });

  it('spools a listener message on a transient failure, resolves, and drains it when the sink recovers', async () => {
    fake.mode = 'transient';
    const s = await setup();
    await s.write(fromDevice('m1'), to('m1')); // resolves: the device may be acknowledged
    expect(fake.confirmed).toEqual([]);
    expect(spooled()).toBe(1);
    expect(s.depth).toBe(1);
    fake.mode = 'ok';
    await waitUntil(() => s.depth === 0, 'the drain');
    expect(fake.ids).toEqual(['m1']);
    // what the sink gets from the spool is the same message, to the same rendered address
    expect(fake.confirmed[0]!.to).toEqual({ topic: 't/m1' });
    expect(fake.confirmed[0]!.message.headers.get('n')).toBe(1n);
    expect(fake.confirmed[0]!.message.source.connector).toBe('devices');
  });

  it('spools without trying while the sink is not up', async () => {
    fake.up = false;
    const s = await setup();
    await s.write(fromDevice('m1'), to('m1'));
    expect(fake.attempts).toEqual([]);
    expect(s.depth).toBe(1);
    expect(metrics.gauge('spool_messages', { connector: 'rabbit-out' })).toBe(1);
  });

  it('queues new listener messages behind spooled ones, so the sink sees arrival order', async () => {
    fake.up = false;
    const s = await setup({ window: 3 });
    for (let i = 0; i < 5; i++) await s.write(fromDevice(`m${i}`), to(`m${i}`));
    fake.up = true;
    // written while the queue drains: behind it, never around it
    await Promise.all([5, 6, 7, 8, 9].map((i) => s.write(fromDevice(`m${i}`), to(`m${i}`))));
    await waitUntil(() => s.depth === 0, 'the drain');
    expect(fake.ids).toEqual([...Array(10).keys()].map((i) => `m${i}`));
    expect(fake.attempts).toEqual(fake.ids); // nothing went around the queue
    expect(spooled()).toBe(10);
    expect(metrics.gauge('spool_messages', { connector: 'rabbit-out' })).toBe(0);
  });

  it('drains in order across an outage in the middle of the drain, keeping unconfirmed entries', async () => {
    fake.up = false;
    const s = await setup({ window: 4 });
    for (let i = 0; i < 20; i++) await s.write(fromDevice(`m${i}`), to(`m${i}`));
    // the connection drops after 6 confirmations: every write in flight then fails, as on a cut
    let failing = false;
    fake.decide = (id) => {
      if (failing) return 'transient';
      if (fake.confirmed.length >= 6 && id !== 'm0' && !failed) {
        failing = true;
        failed = true;
        setTimeout(() => (failing = false), 60);
        return 'transient';
      }
      return 'ok';
    };
    let failed = false;
    fake.up = true;
    await waitUntil(() => s.depth === 0, 'the drain');
    expect(failed).toBe(true);
    expect(fake.ids).toEqual([...Array(20).keys()].map((i) => `m${i}`));
    expect(fake.attempts.length).toBeGreaterThan(20); // some were written again after the failure
  });

  it('passes a permanent failure through unchanged and spools nothing', async () => {
    fake.mode = 'permanent';
    const s = await setup();
    expect(await failsWith(s.write(fromDevice('m1'), to('m1')), 'SINK_REJECTED')).toBe(true);
    expect(s.depth).toBe(0);
    expect(spooled()).toBe(0);
  });

  it('never spools messages from broker sources or at-most-once messages', async () => {
    fake.mode = 'transient';
    const s = await setup();
    expect(await failsWith(s.write(fromBroker('b1'), to('b1')), 'NOT_CONNECTED')).toBe(true);
    expect(await failsWith(s.write(fromDevice('q0', { guarantee: 'at-most-once' }), to('q0')), 'NOT_CONNECTED')).toBe(true);
    fake.up = false;
    expect(await failsWith(s.write(fromBroker('b2'), to('b2')), 'NOT_CONNECTED')).toBe(true);
    expect(s.depth).toBe(0);
    expect(spooled()).toBe(0);
  });

  it('spools a message whose direct write is not confirmed within directTimeoutMs', async () => {
    fake.mode = 'hang';
    const s = await setup({ directTimeoutMs: 50 });
    await s.write(fromDevice('m1'), to('m1'));
    expect(s.depth).toBe(1);
    expect(spooled()).toBe(1);
  });

  it('drops (and counts) a spooled message the sink refuses permanently, and goes on with the rest', async () => {
    fake.up = false;
    const s = await setup();
    for (const id of ['m0', 'bad', 'm2']) await s.write(fromDevice(id), to(id));
    fake.decide = (id) => (id === 'bad' ? 'permanent' : 'ok');
    fake.up = true;
    await waitUntil(() => s.depth === 0, 'the drain');
    expect(fake.ids).toEqual(['m0', 'm2']);
    expect(metrics.count('messages_dropped_total', { connector: 'rabbit-out', reason: 'spool-rejected' })).toBe(1);
  });

  it('fails the write when the spool is full and refuses (transient: the source does not acknowledge)', async () => {
    fake.up = false;
    const s = await setup({ maxBytes: 400 });
    const results = await Promise.all([...Array(10).keys()].map((i) => s.write(fromDevice(`m${i}`), to(`m${i}`)).then(() => 'ok', (e: unknown) => e)));
    const refused = results.filter((r): r is FerryError => FerryError.is(r, 'LIMIT_EXCEEDED'));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((e) => !e.permanent)).toBe(true);
    expect(results.filter((r) => r === 'ok').length).toBe(s.depth);
  });

  it('stop leaves undelivered messages in the spool; a new sink over the reopened spool drains them', async () => {
    fake.up = false;
    const s = await setup();
    for (let i = 0; i < 5; i++) await s.write(fromDevice(`m${i}`), to(`m${i}`));
    await Promise.all([s.stop(), s.stop()]);
    await spool.close();
    fake.up = true;
    const again = await setup(); // opens the directory again
    expect(again.depth).toBe(5);
    await waitUntil(() => again.depth === 0, 'the drain after reopening');
    expect(fake.ids).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('passes through before start and after stop (nothing would drain the spool)', async () => {
    fake.mode = 'transient';
    const s = await setup();
    await s.stop();
    expect(await failsWith(s.write(fromDevice('m1'), to('m1')), 'NOT_CONNECTED')).toBe(true);
    expect(s.depth).toBe(0);
  });
});
