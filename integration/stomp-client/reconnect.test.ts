/**
 * Reconnect in the middle of a stream, through a TCP proxy the test cuts: writes waiting for a
 * RECEIPT fail transiently at once, the connector reconnects and subscribes again, and with the
 * test retrying failed writes (as a route's retry policy does) nothing is lost end to end.
 */
import { jest } from '@jest/globals';
import { FerryError, createMessage, type GatewayMessage, type InboundDelivery } from '@ferry/core';
import { brokerPorts, createVhost, deleteVhost, queueInfo, Tally, waitFor, type TcpProxy, ifAssigned } from '@ferry/testkit';
import { buildConnector, parseFrom, parseTo, plainAmqp, rabbitOptions, startProxy, uniq, type Built, type Plain, type TestConnector } from './helpers.js';
import type { StompTo } from '../../packages/stomp/src/client/options.js';

jest.setTimeout(60_000);

let vhost: string;
let plain: Plain;
const started: Built[] = [];
const proxies: TcpProxy[] = [];

beforeAll(async () => {
  vhost = await createVhost('stomp-reconnect');
  plain = await plainAmqp(vhost);
});

afterAll(async () => {
  while (started.length > 0) await started.pop()!.connector.stop();
  while (proxies.length > 0) await proxies.pop()!.stop();
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

async function throughProxy(): Promise<{ b: Built; proxy: TcpProxy }> {
  const proxy = await startProxy(brokerPorts().rabbitStomp);
  proxies.push(proxy);
  const b = buildConnector(rabbitOptions(vhost, proxy.port));
  started.push(b);
  await b.connector.start();
  expect(b.connector.state).toBe('up');
  return { b, proxy };
}

/** What a route's retry policy does: retry transient failures, give up on permanent ones. */
async function writeWithRetry(c: TestConnector, m: GatewayMessage, to: StompTo, failures: Map<string, number>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.sink.write(m, to);
      return;
    } catch (err) {
      if (!(err instanceof FerryError) || err.permanent || attempt > 500) throw err;
      failures.set(err.code, (failures.get(err.code) ?? 0) + 1);
      // a retry policy's pause between attempts, not a wait for an event: no assertion rests on it
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

test('sink: 1,000 SENDs with the connection cut twice mid-stream; retried writes lose nothing', async () => {
  const q = uniq('rc-sink');
  await plain.ch.assertQueue(q, { durable: false });
  const tally = new Tally();
  await plain.ch.consume(q, (m) => m && tally.received(m.content.toString()), { noAck: true });
  const { b, proxy } = await throughProxy();
  const to = parseTo({ destination: `/amq/queue/${q}` });
  const failures = new Map<string, number>();
  const N = 1000;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < N) {
      const id = `s-${next++}`;
      tally.sent(id);
      await writeWithRetry(b.connector, createMessage({ body: Buffer.from(id), source: { connector: 't', protocol: 'mqtt', address: 'x' } }), to, failures);
      done++;
      if (done === 300 || done === 700) proxy.cut();
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
  await waitFor(() => tally.complete, 'every message in the queue', 20_000);
  console.log(tally.summary('stomp sink across 2 cuts'), Object.fromEntries(failures));
  expect(tally.counts).toMatchObject({ sent: N, lost: 0, unexpected: 0 });
  expect(proxy.accepted).toBeGreaterThanOrEqual(3);
  // the cuts really hit writes in flight, which failed (SINK_CLOSED / NOT_CONNECTED) and were retried
  expect((failures.get('SINK_CLOSED') ?? 0) + (failures.get('NOT_CONNECTED') ?? 0)).toBeGreaterThan(0);
  expect(b.metrics.count('connector_reconnects_total')).toBeGreaterThanOrEqual(2);
});

test('end to end: RabbitMQ queue → stomp source → stomp sink → RabbitMQ queue, both connections cut mid-stream, 1,000 messages, 0 lost', async () => {
  const qa = uniq('rc-in');
  const qb = uniq('rc-out');
  await plain.ch.assertQueue(qa, { durable: false });
  await plain.ch.assertQueue(qb, { durable: false });
  const tally = new Tally();
  await plain.ch.consume(qb, (m) => m && tally.received(m.content.toString()), { noAck: true });

  const src = await throughProxy();
  const dst = await throughProxy();
  const to = parseTo({ destination: `/amq/queue/${qb}` });
  const failures = new Map<string, number>();
  let delivered = 0;
  let cuts = 0;
  // Cut each connection twice: once early, and again only after it reconnected and delivered or
  // wrote some more (a cut while it is still down would hit nothing). The source's second cut
  // also waits until its new SUBSCRIBE was confirmed: RabbitMQ may send a hundred MESSAGEs
  // before that RECEIPT, and a cut before it leaves the resubscription unconfirmed (and unlogged).
  const subscribedLines = (): number => src.b.logger.lines.filter((l) => l.message.includes('subscribed to /amq/queue')).length;
  const plan = (p: TcpProxy, firstAt: number, resubscribed: () => boolean = () => true) => {
    let done = 0;
    let connAtCut = 0;
    let since = 0;
    return (): void => {
      if (done === 0 && delivered >= firstAt) {
        connAtCut = p.accepted;
        p.cut();
        done++;
        cuts++;
      } else if (done === 1 && p.accepted > connAtCut && p.connections > 0 && ++since >= 100 && resubscribed()) {
        p.cut();
        done++;
        cuts++;
      }
    };
  };
  const cutSource = plan(src.proxy, 250, () => subscribedLines() >= 2);
  const cutSink = plan(dst.proxy, 400);
  const deliver = (d: InboundDelivery): void => {
    delivered++;
    cutSource();
    cutSink();
    writeWithRetry(dst.b.connector, d.message, to, failures).then(
      () => d.settlement.accept(),
      (err: unknown) => d.settlement.fail(err instanceof FerryError ? err : new FerryError('INTERNAL', String(err))),
    );
  };
  await src.b.connector.openSources!([{ route: 'e2e', from: parseFrom({ destination: `/amq/queue/${qa}` }) }], deliver);

  const N = 1000;
  for (let i = 0; i < N; i++) {
    const id = `e-${i}`;
    tally.sent(id);
    plain.ch.sendToQueue(qa, Buffer.from(id), { messageId: id });
  }
  await waitFor(() => tally.complete, 'every message at the far queue', 40_000);
  // every input message was finally ACKed on the source side: the input queue drains
  await waitFor(async () => (await plain.ch.checkQueue(qa)).messageCount === 0, 'input queue has nothing ready', 20_000);
  await waitFor(async () => (await queueInfo(vhost, qa))?.messages === 0, 'input queue empty (nothing unacked)', 20_000, 200);
  console.log(tally.summary('stomp e2e across 4 cuts'), { delivered, cuts, failures: Object.fromEntries(failures) });
  expect(cuts).toBe(4);
  expect(tally.counts).toMatchObject({ sent: N, lost: 0, unexpected: 0 });
  expect(src.b.metrics.count('connector_reconnects_total')).toBeGreaterThanOrEqual(2);
  expect(dst.b.metrics.count('connector_reconnects_total')).toBeGreaterThanOrEqual(2);
  // resubscribed after each cut (the last SUBSCRIBE's RECEIPT may trail its MESSAGEs)
  await waitFor(() => subscribedLines() >= 3, 'a confirmed SUBSCRIBE on each of the 3 connections', 5000);
  expect(subscribedLines()).toBeGreaterThanOrEqual(3);
});
