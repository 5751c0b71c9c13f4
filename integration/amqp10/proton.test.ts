/**
 * amqp10-listener against Qpid Proton (python3-qpid-proton from Debian), a client Ferry does not
 * use itself: same-named links of both roles on one session (§2.6.1), receivers attaching to
 * an address with queued messages and attaching again after a detach (the attach before any
 * transfer, §2.6.2), and accepts read in the same chunk as the detach (§2.6.12). Raw bytes for
 * what no client sends: a begin before open (§2.4.1). Every message counted with Tally.
 */
import { jest } from '@jest/globals';
import { connect as tcpConnect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createMessage, FerryError, type GatewayMessage } from '@ferry/core';
import { amqp10ListenerDefinition, installCapture, type Amqp10Listener } from '@ferry/amqp10';
import { RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { runPythonFile } from '../support/third-party.js';

jest.setTimeout(60_000);

const SCRIPT = fileURLToPath(new URL('./proton_client.py', import.meta.url));

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});
beforeAll(() => installCapture());

async function listener(lines: LogLine[] = [], metrics = new RecordingMetrics()): Promise<Amqp10Listener> {
  const opts = amqp10ListenerDefinition.options.parse({ port: 0, host: '127.0.0.1', anonymous: true });
  const l = amqp10ListenerDefinition.create(testContext(lines, metrics), 'devices', opts) as Amqp10Listener;
  started.push(l);
  await l.start();
  return l;
}

/** Messages a client sends to `from` come back out of the listener's `to` queue. */
async function relay(l: Amqp10Listener, from: string, to: string): Promise<void> {
  await l.openSources([{ route: 'relay', from: { address: from } }], (d) => {
    l.sink.write(d.message, { address: to }).then(
      () => d.settlement.accept(),
      (e: unknown) => d.settlement.fail(e instanceof FerryError ? e : new FerryError('INTERNAL', String(e))),
    );
  });
}

function message(id: string): GatewayMessage {
  return createMessage({ body: Buffer.from(id), messageId: id, source: { connector: 'test', protocol: 'amqp10', address: 'x' } });
}

interface ProtonResult {
  readonly received: string[];
  readonly accepted: number;
  readonly names: string[];
  readonly error: string | null;
}

async function proton(mode: string, port: number, address: string, ...args: (string | number)[]): Promise<ProtonResult> {
  const r = await runPythonFile(SCRIPT, [mode, `127.0.0.1:${port}`, address, ...args.map(String)], 30_000);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`proton_client.py ${mode} printed no result (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(last) as ProtonResult;
}

function tally(ids: readonly string[], received: readonly string[]): Tally {
  const t = new Tally();
  for (const id of ids) t.sent(id);
  for (const id of received) t.received(id);
  return t;
}

describe('amqp10-listener with Qpid Proton', () => {
  it('A: a sender and a receiver with the same link name on one session (§2.6.1: a link is its name and role)', async () => {
    const l = await listener();
    await relay(l, 'loop', 'loop');
    const N = 50;
    const r = await proton('same-name', l.port as number, 'loop', N);
    expect(r.error).toBeNull();
    // Proton's default names: both "<container>-loop"
    expect(r.names[0]).toBe(r.names[1]);
    const t = tally(Array.from({ length: N }, (_, i) => `m${i}`), r.received);
    console.log(t.summary('Proton same-named links through the listener'));
    expect(t.counts).toMatchObject({ sent: N, received: N, lost: 0, duplicated: 0 });
    expect(r.accepted).toBe(N);
  });

  it('B: a receiver attaching to an address with queued messages gets its attach before any transfer', async () => {
    const l = await listener();
    const ids = Array.from({ length: 30 }, (_, i) => `q${i}`);
    for (const id of ids) await l.sink.write(message(id), { address: 'late' });
    expect(l.queued('late')).toBe(30);
    const r = await proton('receive', l.port as number, 'late', ids.length);
    expect(r.error).toBeNull();
    const t = tally(ids, r.received);
    expect(t.counts).toMatchObject({ sent: 30, received: 30, lost: 0, duplicated: 0 });
    expect(r.received).toEqual(ids);
  });

  it('B: a receiver that detaches and attaches again with the same name gets the rest, in order', async () => {
    const l = await listener();
    const ids = Array.from({ length: 20 }, (_, i) => `r${i}`);
    for (const id of ids) await l.sink.write(message(id), { address: 'again' });
    const r = await proton('reattach', l.port as number, 'again', ids.length, 7);
    expect(r.error).toBeNull();
    const t = tally(ids, r.received);
    expect(t.counts).toMatchObject({ sent: 20, received: 20, lost: 0, duplicated: 0 });
    expect(r.received).toEqual(ids);
  });

  it('C: messages accepted in the same read as the detach are not delivered again; the unaccepted ones are', async () => {
    const lines: LogLine[] = [];
    const l = await listener(lines);
    await relay(l, 'fence-in', 'ad');
    const N = 10;
    const ids = Array.from({ length: N }, (_, i) => `a${i}`);
    for (const id of ids) await l.sink.write(message(id), { address: 'ad' });
    const r = await proton('accept-detach', l.port as number, 'ad', N, 'fence-in');
    expect(r.error).toBeNull();
    // first receiver: all N; second receiver: the unaccepted half, then the fence
    const first = r.received.slice(0, N);
    const second = r.received.slice(N);
    expect(first).toEqual(ids);
    expect(second).toEqual([...ids.slice(N / 2), 'fence']);
    const t = tally([...ids, 'fence'], r.received);
    console.log(t.summary('Proton accept-then-detach'));
    expect(t.counts.duplicated).toBe(N / 2);
    expect(lines.some((x) => x.message.includes('requeued 5 unsettled'))).toBe(true);
  });

  it('D: a begin before open closes the connection with amqp:not-allowed (§2.4.1)', async () => {
    const metrics = new RecordingMetrics();
    const l = await listener([], metrics);
    // header, then a begin (remote-channel null, next-outgoing-id 0, windows 100)
    const begin = Buffer.from('0000001b02000000005311c00e0540437000000064700000006440', 'hex');
    begin.writeUInt32BE(begin.length, 0);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error(`the listener did not close the connection: ${Buffer.concat(chunks).toString('latin1')}`)), 10_000);
      const sock = tcpConnect({ port: l.port as number, host: '127.0.0.1' }, () => sock.write(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'binary'), begin])));
      sock.on('data', (c: Buffer) => chunks.push(c));
      sock.on('error', () => undefined);
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(Buffer.concat(chunks));
      });
    });
    // our open (a close must follow an open), then a close with the error; never a begin
    expect(reply.includes(Buffer.from([0x00, 0x53, 0x10]))).toBe(true);
    expect(reply.includes(Buffer.from([0x00, 0x53, 0x18]))).toBe(true);
    expect(reply.includes(Buffer.from([0x00, 0x53, 0x11]))).toBe(false);
    expect(reply.toString('latin1')).toContain('amqp:not-allowed');
    await waitFor(() => metrics.count('protocol_errors_total', { connector: 'devices', code: 'amqp:not-allowed' }) === 1, 'the violation counted');
  });
});
