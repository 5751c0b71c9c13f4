/**
 * The amqp10 connector's sink against a real AMQP 1.0 peer (rhea, ../test/far-peer.ts) that
 * plays an application: a JMS consumer or an Artemis-like endpoint that settles each transfer
 * with its own outcome (§3.4). RabbitMQ 3.10 never sends `rejected`, `released` or `modified`
 * to a publisher, so these outcomes can only be shown against such a peer.
 *
 * What a write does for each (docs/mapping/amqp10.md, "Outcomes", peer → Ferry):
 * accepted → resolves; rejected → SINK_REJECTED permanent with the peer's condition and
 * description; released → transient; modified → transient, permanent with undeliverable-here;
 * the link or the connection closed with an error while the delivery is unsettled → transient
 * (SINK_CLOSED), or SINK_UNROUTABLE for a link refused with amqp:not-found.
 */
import { jest } from '@jest/globals';
import type rhea from 'rhea';
import { createMessage, FerryError, type GatewayMessage } from '@ferry/core';
import { waitFor } from '@ferry/testkit';
import { testContext, type LogLine } from '@ferry/testkit';
import { FarPeer, type PeerTransfer } from '../test/far-peer.js';
import { Amqp10Client } from './client.js';
import { amqp10Options } from './options.js';

/** what a test started, stopped after it even when it failed (a connector left running keeps jest alive) */
const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});

jest.setTimeout(20_000);

function message(id: string, body = Buffer.from([0, 1, 0xff])): GatewayMessage {
  return createMessage({ body, messageId: id, source: { connector: 'test', protocol: 'mqtt', address: 'a/b' } });
}

function client(port: number, lines: LogLine[] = [], stopAfterTest = true): Amqp10Client {
  // no user: SASL ANONYMOUS, which the rhea peer offers by default
  const options = amqp10Options.parse({ url: `amqp://127.0.0.1:${port}`, reconnect: { initialMs: 50, maxMs: 200 }, idleTimeoutMs: 0 });
  const c = new Amqp10Client(testContext(lines), 'far', options);
  if (stopAfterTest) started.push(c);
  return c;
}

/** What a write settled as: 'ok' or the FerryError's fields. */
async function outcome(p: Promise<void>): Promise<'ok' | { code: string; permanent: boolean; details: Readonly<Record<string, unknown>>; message: string }> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!(e instanceof FerryError)) throw e;
    return { code: e.code, permanent: e.permanent, details: e.details, message: e.message };
  }
}

describe('amqp10 sink: the far peer settles each transfer with its own outcome', () => {
  let peer: FarPeer;
  let c: Amqp10Client;
  /** settle by the message-id's first word */
  const settle = (t: PeerTransfer): void => {
    const kind = String(t.message.message_id).split('-')[0];
    const d = t.delivery;
    if (kind === 'accept') d.accept();
    // an Artemis-like endpoint refusing a message for a full address (AMQ229102)
    else if (kind === 'reject') d.reject({ condition: 'amqp:resource-limit-exceeded', description: 'AMQ229102: Address "orders" is full' });
    else if (kind === 'rejectbare') d.reject(undefined);
    else if (kind === 'release') d.release();
    else if (kind === 'failed') d.modified({ delivery_failed: true });
    else if (kind === 'undeliverable') d.modified({ delivery_failed: true, undeliverable_here: true });
    else if (kind === 'hold') return;
    else throw new Error(`unknown test message ${String(t.message.message_id)}`);
  };

  beforeAll(async () => {
    peer = new FarPeer({ onTransfer: settle });
    await peer.start();
    c = client(peer.port, [], false); // shared by the tests of this describe: stopped in afterAll
    await c.start();
    expect(c.state).toBe('up');
  });

  afterAll(async () => {
    await c.stop();
    await peer.stop();
  });

  it('accepted: the write resolves, and only once the peer accepted', async () => {
    const w = c.sink.write(message('hold-1'), { address: 'jms.queue.orders' });
    let done = false;
    void w.then(() => (done = true), () => (done = true));
    await waitFor(() => peer.transfers.some((t) => t.message.message_id === 'hold-1'), 'the transfer at the peer');
    // a later write on the same link, which the peer accepts at once: its outcome comes after
    // anything the client could have made of the first transfer
    await expect(outcome(c.sink.write(message('accept-1'), { address: 'jms.queue.orders' }))).resolves.toBe('ok');
    expect(done).toBe(false); // unsettled at the peer: no confirm yet
    const t = peer.transfers.find((x) => x.message.message_id === 'hold-1') as PeerTransfer;
    t.delivery.accept();
    await expect(outcome(w)).resolves.toBe('ok');
  });

  it('rejected: fails permanently with the peer\'s error condition and description', async () => {
    const r = await outcome(c.sink.write(message('reject-1'), { address: 'jms.queue.orders' }));
    expect(r).toMatchObject({
      code: 'SINK_REJECTED',
      permanent: true,
      details: { outcome: 'rejected', condition: 'amqp:resource-limit-exceeded', description: 'AMQ229102: Address "orders" is full' },
    });
    expect(r !== 'ok' && r.message).toContain('amqp:resource-limit-exceeded: AMQ229102: Address "orders" is full');
  });

  it('rejected without an error: still permanent', async () => {
    const r = await outcome(c.sink.write(message('rejectbare-1'), { address: 'jms.queue.orders' }));
    expect(r).toMatchObject({ code: 'SINK_REJECTED', permanent: true, details: { outcome: 'rejected' } });
  });

  it('released: fails transiently (the source keeps the message)', async () => {
    const r = await outcome(c.sink.write(message('release-1'), { address: 'jms.queue.orders' }));
    expect(r).toMatchObject({ code: 'SINK_REJECTED', permanent: false, details: { outcome: 'released' } });
  });

  it('modified with delivery-failed: transient', async () => {
    const r = await outcome(c.sink.write(message('failed-1'), { address: 'jms.queue.orders' }));
    expect(r).toMatchObject({ code: 'SINK_REJECTED', permanent: false, details: { outcome: 'modified', deliveryFailed: true, undeliverableHere: false } });
  });

  it('modified with undeliverable-here: permanent (§3.4.5: not to the same endpoint again)', async () => {
    const r = await outcome(c.sink.write(message('undeliverable-1'), { address: 'jms.queue.orders' }));
    expect(r).toMatchObject({ code: 'SINK_REJECTED', permanent: true, details: { outcome: 'modified', deliveryFailed: true, undeliverableHere: true } });
  });

  it('different outcomes for writes in flight at once each reach their own write', async () => {
    const kinds = ['accept', 'reject', 'release', 'failed', 'undeliverable', 'accept', 'release', 'reject'];
    const results = await Promise.all(kinds.map((k, i) => outcome(c.sink.write(message(`${k}-m${i}`), { address: 'jms.queue.mixed' }))));
    expect(results.map((r) => (r === 'ok' ? 'ok' : `${String(r.details.outcome)}${r.permanent ? '!' : ''}`))).toEqual([
      'ok',
      'rejected!',
      'released',
      'modified',
      'modified!',
      'ok',
      'released',
      'rejected!',
    ]);
    // the link stays usable after every kind of outcome
    await expect(outcome(c.sink.write(message('accept-after'), { address: 'jms.queue.mixed' }))).resolves.toBe('ok');
  });
});

describe('amqp10 sink: the far peer closes the link or the connection with an error', () => {
  it('a link detached with an error fails its unsettled writes transiently, with the condition; the next write attaches again', async () => {
    const peer = new FarPeer({ onTransfer: (t) => (t.message.message_id === 'accept-next' ? t.delivery.accept() : undefined) });
    await peer.start();
    started.push(peer);
    const c = client(peer.port);
    await c.start();
    const a = c.sink.write(message('held-a'), { address: 'jms.queue.flaky' });
    const b = c.sink.write(message('held-b'), { address: 'jms.queue.flaky' });
    await waitFor(() => peer.transfers.length === 2, 'both transfers at the peer');
    const r = peer.receivers[0] as rhea.Receiver;
    r.close({ condition: 'amqp:internal-error', description: 'consumer crashed' });
    const results = await Promise.all([a, b].map(outcome));
    for (const r of results) expect(r).toMatchObject({ code: 'SINK_CLOSED', permanent: false, details: { condition: 'amqp:internal-error', description: 'consumer crashed' } });
    // a fresh link for the next write
    await expect(outcome(c.sink.write(message('accept-next'), { address: 'jms.queue.flaky' }))).resolves.toBe('ok');
    expect(peer.receivers).toHaveLength(2);
    await c.stop();
    await peer.stop();
  });

  it('a link refused with amqp:not-found fails the write permanently (SINK_UNROUTABLE)', async () => {
    const peer = new FarPeer();
    await peer.start();
    started.push(peer);
    const c = client(peer.port);
    await c.start();
    peer.onReceiverOpen = (r) => r.close({ condition: 'amqp:not-found', description: 'no such queue' });
    await expect(outcome(c.sink.write(message('x'), { address: 'jms.queue.missing' }))).resolves.toMatchObject({
      code: 'SINK_UNROUTABLE',
      permanent: true,
      details: { condition: 'amqp:not-found', description: 'no such queue' },
    });
    await c.stop();
    await peer.stop();
  });

  // rhea treats only amqp:connection:forced as non-fatal; after any other close (or a close
  // without an error) it raises no 'disconnected', so these three cases take different paths
  it.each([
    { what: 'with amqp:connection:forced', error: { condition: 'amqp:connection:forced', description: 'endpoint shutting down' } },
    { what: 'with amqp:internal-error', error: { condition: 'amqp:internal-error', description: 'endpoint crashed' } },
    { what: 'without an error', error: undefined },
  ])('the connection closed by the peer $what fails unsettled writes transiently; the connector reconnects and writes succeed again', async ({ error }) => {
    const peer = new FarPeer({ onTransfer: (t) => (String(t.message.message_id).startsWith('after') ? t.delivery.accept() : undefined) });
    await peer.start();
    started.push(peer);
    const lines: LogLine[] = [];
    const c = client(peer.port, lines);
    await c.start();
    const held = [0, 1, 2].map((i) => c.sink.write(message(`held-${i}`), { address: `jms.queue.q${i % 2}` }));
    await waitFor(() => peer.transfers.length === 3, 'three transfers at the peer');
    const first = peer.connections[0];
    first?.conn.close(error);
    const results = await Promise.all(held.map(outcome));
    for (const r of results) expect(r).toMatchObject({ code: 'SINK_CLOSED', permanent: false, details: error ?? {} });
    const down = lines.find((l) => l.message.startsWith('amqp10 connection down, reconnecting'));
    expect(down?.fields).toMatchObject(error ?? {});
    await waitFor(() => peer.connections.length === 2 && c.state === 'up', 'reconnected');
    await expect(outcome(c.sink.write(message('after-1'), { address: 'jms.queue.q0' }))).resolves.toBe('ok');
    await c.stop();
    await peer.stop();
  });
});
