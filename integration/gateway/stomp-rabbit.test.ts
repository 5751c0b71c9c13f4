/**
 * STOMP to AMQP 0-9-1 end to end, with clients that are not Ferry's code: @stomp/stompjs (STOMP 1.2
 * over TCP) against Ferry's `stomp-listener`, plain amqplib against RabbitMQ, and Ferry's
 * `amqp091` connector between them.
 *
 * - STOMP SEND (binary body with NULs, content-length, a header value holding `:` and a newline,
 *   escaped `\c` `\n` per STOMP 1.2 §Value Encoding, and a receipt) → route → RabbitMQ queue
 *   declared by the connector's topology → amqplib consumer: bytes and header values intact.
 *   The RECEIPT comes only after RabbitMQ's publisher confirm reached Ferry (the test holds the
 *   confirm in a TcpProxy and checks the RECEIPT waits for it).
 * - amqplib publish with headers → queue consumed by an `amqp091` source → route → a STOMP 1.2
 *   subscriber of `/topic/...` on the listener: bytes and header values intact.
 * - 200 messages each way, counted with Tally: 0 lost, 0 duplicated.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, type Socket } from 'node:net';
import { Client, Versions, type IFrame, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import type { ConsumeMessage } from 'amqplib';
import type { Gateway } from '@ferry/gateway';
import { Tally, TcpProxy, brokerPorts, createVhost, deleteVhost, freePort, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, plainClient, publishConfirmed, runId, type Plain } from '../scenarios/helpers.js';

/** tcp-wrapper with TCP_NODELAY (house rule: no Nagle on any socket). */
class NoDelayTCPWrapper extends TCPWrapper {
  protected override getSocket(port: number, host: string): Socket {
    const s = createConnection(port, host);
    s.setNoDelay(true);
    return s;
  }
}

/** A stompjs 1.2 client over TCP, resolved on CONNECTED. */
async function stomp(port: number): Promise<{ client: Client; errors: IFrame[] }> {
  const errors: IFrame[] = [];
  const client = new Client({
    webSocketFactory: () => new NoDelayTCPWrapper('127.0.0.1', port),
    stompVersions: new Versions([Versions.V1_2]),
    connectHeaders: { host: 'ferry' },
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => undefined,
  });
  client.onStompError = (f) => errors.push(f);
  const connected = new Promise<void>((resolve) => {
    client.onConnect = () => resolve();
  });
  client.activate();
  await Promise.race([connected, waitFor(() => errors.length > 0, 'CONNECTED', 5000).then(() => Promise.reject(new Error(errors[0]?.headers['message'])))]);
  return { client, errors };
}

const COLON_NEWLINE = 'line one: with colon\nline two:x';

describe('STOMP client → Ferry stomp-listener → amqp091 → RabbitMQ, and back', () => {
  const run = runId('sr');
  const inQueue = `${run}.from-stomp`;
  const outQueue = `${run}.to-stomp`;
  let vhost: string;
  let gateway: Gateway;
  let proxy: TcpProxy;
  let port: number;
  let plain: Plain;
  /** every delivery of inQueue, one consumer for the whole file */
  let got: ConsumeMessage[];
  const clients: Client[] = [];

  beforeAll(async () => {
    vhost = await createVhost('stomp-rabbit');
    port = await freePort();
    // Ferry reaches RabbitMQ through a proxy so the test can hold the publisher confirms
    proxy = new TcpProxy(brokerPorts().rabbitAmqp);
    const proxyPort = await proxy.start();
    gateway = await startGateway(`
gateway: { id: ${run} }
connectors:
  web: { type: stomp-listener, port: ${port}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "amqp://guest:guest@127.0.0.1:${proxyPort}/${encodeURIComponent(vhost)}"
    topology:
      queues: [ { name: "${inQueue}" }, { name: "${outQueue}" } ]
routes:
  - name: stomp-to-rabbit
    from: { connector: web, destination: "/topic/${run}.in" }
    to: { connector: rabbit, exchange: "", routingKey: "${inQueue}" }
  - name: rabbit-to-stomp
    from: { connector: rabbit, queue: "${outQueue}" }
    to: { connector: web, destination: "/topic/${run}.out" }
`);
    plain = await plainClient(vhost);
    got = await collectQueue(plain.ch, inQueue);
  });

  afterAll(async () => {
    for (const c of clients) await c.deactivate().catch(() => undefined);
    await ifAssigned(plain)?.close();
    await ifAssigned(gateway)?.stop(2000);
    await ifAssigned(proxy)?.stop();
    if (vhost) await deleteVhost(vhost).catch(() => undefined);
  });

  it('SEND with NULs, an escaped header and a receipt reaches an amqplib consumer intact; the RECEIPT waits for the confirm', async () => {
    const { client, errors } = await stomp(port);
    clients.push(client);
    const body = Buffer.concat([Buffer.from([0, 1, 0, 255, 10, 0]), randomBytes(100), Buffer.from([0])]);
    let receipt: IFrame | undefined;
    client.watchForReceipt('r-1', (f) => (receipt = f));

    proxy.holdDownstream(); // RabbitMQ's basic.ack to Ferry waits in the proxy
    client.publish({
      destination: `/topic/${run}.in`,
      binaryBody: new Uint8Array(body),
      headers: { receipt: 'r-1', 'content-type': 'application/octet-stream', 'x-plain': 'hello', 'x-tricky': COLON_NEWLINE, 'x-backslash': 'a\\b' },
    });
    // the message crossed Ferry and RabbitMQ: the consumer has it ...
    await waitFor(() => got.length === 1, 'the amqplib consumer');
    // ... but the confirm has not reached Ferry, so there is no RECEIPT yet. The listener writes
    // to a connection in order: a RECEIPT sent before the confirm would come before the receipt
    // of a SUBSCRIBE sent now (answered at once, nothing to confirm).
    await new Promise<void>((resolve) => {
      client.watchForReceipt('barrier-1', () => resolve());
      client.subscribe(`/topic/${run}.barrier`, () => undefined, { id: 'barrier', receipt: 'barrier-1' });
    });
    expect(receipt).toBeUndefined();
    proxy.release();
    await waitFor(() => receipt !== undefined, 'the RECEIPT after the confirm');
    expect(receipt!.headers['receipt-id']).toBe('r-1');
    expect(errors).toEqual([]);

    const m = got[0]!;
    expect(m.content.equals(body)).toBe(true);
    expect(m.properties.contentType).toBe('application/octet-stream');
    const h = m.properties.headers ?? {};
    expect(h['x-plain']).toBe('hello');
    expect(h['x-tricky']).toBe(COLON_NEWLINE);
    expect(h['x-backslash']).toBe('a\\b');
    // protocol headers are not application headers (docs/mapping/stomp.md)
    for (const name of ['receipt', 'destination', 'content-length', 'content-type']) expect(h).not.toHaveProperty(name);
  });

  it('an amqplib publish with headers reaches a STOMP 1.2 subscriber intact', async () => {
    const { client } = await stomp(port);
    clients.push(client);
    const messages: IMessage[] = [];
    client.subscribe(`/topic/${run}.out`, (m) => messages.push(m), { id: 'one' });
    // SUBSCRIBE has no reply; a RECEIPT on a later frame proves it was processed
    await new Promise<void>((resolve) => {
      client.watchForReceipt('sub-1', () => resolve());
      client.publish({ destination: `/topic/${run}.nothing`, body: 'x', headers: { receipt: 'sub-1' } });
    });

    const body = Buffer.concat([Buffer.from([0, 0, 7, 0]), randomBytes(64)]);
    await publishConfirmed(plain.confirm, '', outQueue, body, {
      contentType: 'application/x-test',
      headers: { 'x-plain': 'hello', 'x-tricky': COLON_NEWLINE, 'x-count': 42, 'x-flag': true },
    });
    await waitFor(() => messages.length === 1, 'the STOMP subscriber');
    const m = messages[0]!;
    expect(Buffer.from(m.binaryBody).equals(body)).toBe(true);
    expect(m.headers['content-type']).toBe('application/x-test');
    expect(m.headers['x-plain']).toBe('hello');
    expect(m.headers['x-tricky']).toBe(COLON_NEWLINE);
    // typed AMQP headers as strings (docs/mapping/stomp.md: headerToString)
    expect(m.headers['x-count']).toBe('42');
    expect(m.headers['x-flag']).toBe('true');
    expect(m.headers['destination']).toBe(`/topic/${run}.out`);
  });

  it('200 messages each way: none lost, none duplicated', async () => {
    const N = 200;
    // STOMP → RabbitMQ
    const atRabbit = new Tally();
    const before = got.length;
    const { client: sender, errors } = await stomp(port);
    clients.push(sender);
    const receipts = new Set<string>();
    for (let i = 0; i < N; i++) {
      const id = `s${i}`;
      atRabbit.sent(id);
      sender.watchForReceipt(`r-${id}`, () => receipts.add(id));
      sender.publish({ destination: `/topic/${run}.in`, binaryBody: new Uint8Array(Buffer.from(`\0${id}`)), headers: { receipt: `r-${id}`, 'x-id': id } });
    }
    await waitFor(() => receipts.size === N, 'every RECEIPT', 20_000);
    // a last message after every RECEIPT: Ferry publishes into the queue in order, so a copy of
    // any earlier message is in it before this one
    atRabbit.sent('last');
    sender.publish({ destination: `/topic/${run}.in`, binaryBody: new Uint8Array(Buffer.from('\0last')), headers: { 'x-id': 'last' } });
    await waitFor(() => got.slice(before).some((m) => m.properties.headers?.['x-id'] === 'last'), 'every message at RabbitMQ', 20_000);
    for (const m of got.slice(before)) {
      expect(m.properties.headers?.['x-id']).toBe(m.content.subarray(1).toString());
      atRabbit.received(m.content.subarray(1).toString());
    }
    console.log(atRabbit.summary('STOMP → Ferry → RabbitMQ (amqplib consumer)'));
    expect(errors).toEqual([]);
    expect(atRabbit.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });

    // RabbitMQ → STOMP
    const atStomp = new Tally();
    const { client: sub } = await stomp(port);
    clients.push(sub);
    sub.subscribe(`/topic/${run}.out`, (m) => atStomp.received(`${m.headers['x-id'] ?? '?'}|${Buffer.from(m.binaryBody).toString()}`), { id: 'count' });
    await new Promise<void>((resolve) => {
      sub.watchForReceipt('sub-2', () => resolve());
      sub.publish({ destination: `/topic/${run}.nothing`, body: 'x', headers: { receipt: 'sub-2' } });
    });
    await Promise.all(
      Array.from({ length: N }, (_, i) => {
        const id = `a${i}`;
        atStomp.sent(`${id}|\0${id}`);
        return publishConfirmed(plain.confirm, '', outQueue, Buffer.from(`\0${id}`), { headers: { 'x-id': id } });
      }),
    );
    // a last message once every other is in the queue: the queue hands them to Ferry, and Ferry
    // writes them to the subscriber, in order, so a copy of any earlier message comes before it
    atStomp.sent('last|\0last');
    await publishConfirmed(plain.confirm, '', outQueue, Buffer.from('\0last'), { headers: { 'x-id': 'last' } });
    await waitFor(() => atStomp.complete, 'every message at the STOMP subscriber', 20_000);
    console.log(atStomp.summary('RabbitMQ → Ferry → STOMP subscriber'));
    expect(atStomp.counts).toMatchObject({ sent: N + 1, unique: N + 1, duplicated: 0, lost: 0, unexpected: 0 });
  });
});
