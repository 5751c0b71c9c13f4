/**
 * A far AMQP 1.0 peer (rhea, ../test/far-peer.ts) that sends garbage on the wire after the open
 * handshake, as a broken endpoint or a corrupted network path would. The amqp10 connector closes
 * THAT connection the AMQP way (a close carrying amqp:connection:framing-error or
 * amqp:decode-error, §2.7.9 / §2.8.15), reconnects with its backoff, and the process and the
 * connector's other work carry on.
 */
import { jest } from '@jest/globals';
import { createMessage, FerryError, type GatewayMessage } from '@ferry/core';
import { createServer, type Server } from 'node:net';
import { RecordingMetrics, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { FarPeer } from '../test/far-peer.js';
import { Amqp10Client, CLIENT_MAX_FRAME_SIZE } from './client.js';
import { amqp10Options } from './options.js';

/** what a test started, stopped after it even when it failed (a connector left running keeps jest alive) */
const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});

jest.setTimeout(30_000);

function message(id: string): GatewayMessage {
  return createMessage({ body: Buffer.from([1, 2, 3]), messageId: id, source: { connector: 'test', protocol: 'mqtt', address: 'a/b' } });
}

function client(port: number, lines: LogLine[], metrics = new RecordingMetrics()): Amqp10Client {
  const options = amqp10Options.parse({ url: `amqp://127.0.0.1:${port}`, reconnect: { initialMs: 50, maxMs: 200 }, idleTimeoutMs: 0 });
  const c = new Amqp10Client(testContext(lines, metrics), `far${Math.floor(Math.random() * 1e6)}`, options);
  started.push(c);
  return c;
}

const GARBAGE: readonly { readonly what: string; readonly bytes: Buffer; readonly condition: RegExp }[] = [
  // a frame header announcing 3.7 GB: rhea alone would buffer it for ever
  { what: 'a 3.7 GB frame size', bytes: Buffer.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8]), condition: /^amqp:connection:framing-error$/ },
  // one byte over the max-frame-size the client announced (CLIENT_MAX_FRAME_SIZE, §2.7.1)
  { what: 'a frame over the announced max-frame-size', bytes: Buffer.from([0, 0x10, 0, 1, 2, 0, 0, 0]), condition: /^amqp:connection:framing-error$/ },
  // a frame shorter than its own header (§2.3.1: size ≥ 8)
  { what: 'a frame size below 8', bytes: Buffer.from([0, 0, 0, 4, 2, 0, 0, 0]), condition: /^amqp:connection:framing-error$/ },
  // data offset 1: inside the 8-byte frame header (§2.3.1: doff ≥ 2)
  { what: 'a data offset of 1', bytes: Buffer.from([0, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0, 0]), condition: /^amqp:connection:framing-error$/ },
  // a transfer performative whose fields are junk: rhea's decoder throws
  { what: 'an undecodable performative', bytes: Buffer.from([0, 0, 0, 16, 2, 0, 0, 0, 0x00, 0x53, 0x14, 0xff, 0xff, 0xff, 0xff, 0xff]), condition: /^amqp:decode-error$/ },
  // a well-formed transfer on a channel no session uses (§2.5.1): a protocol error for rhea
  { what: 'a transfer on an unknown channel', bytes: Buffer.from([0, 0, 0, 0x10, 2, 0, 0, 7, 0x00, 0x53, 0x14, 0xc0, 0x03, 0x02, 0x43, 0x43]), condition: /^amqp:connection:framing-error$/ },
];

describe('amqp10 client: garbage from the far peer after open', () => {
  it.each(GARBAGE)('$what: that connection is closed with an AMQP error, the connector reconnects and works', async ({ bytes, condition }) => {
    const peer = new FarPeer();
    await peer.start();
    started.push(peer);
    const other = new FarPeer();
    await other.start();
    started.push(other);
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const c = client(peer.port, lines, metrics);
    const bystander = client(other.port, []);
    await c.start();
    await bystander.start();
    await c.sink.write(message('before'), { address: 'q' });
    await waitFor(() => peer.connections.length === 1, 'the peer saw the connection');
    const first = peer.connections[0]!;
    // rhea keeps the peer's open performative in `remote.open` (lib/connection.js), untyped
    const remote = (first.conn as unknown as { remote: { open?: { max_frame_size?: number } } }).remote;
    expect(remote.open?.max_frame_size).toBe(CLIENT_MAX_FRAME_SIZE);
    const closedWith: { condition?: string; description?: string }[] = [];
    first.conn.on('connection_close', () => closedWith.push((first.conn.error ?? {}) as { condition?: string; description?: string }));

    first.socket.write(bytes);

    await waitFor(() => closedWith.length === 1, 'the close frame from Ferry at the peer');
    expect(closedWith[0]?.condition).toMatch(condition);
    expect(typeof closedWith[0]?.description).toBe('string');
    // logged and counted by its condition
    expect(metrics.count('protocol_errors_total', { code: closedWith[0]?.condition ?? '?' })).toBe(1);
    expect(lines.some((l) => l.message === 'amqp10 closed the connection for a protocol violation by the peer' && l.fields['condition'] === closedWith[0]?.condition)).toBe(true);
    await waitFor(() => lines.some((l) => l.message.includes('amqp10 connection down, reconnecting')), 'the down line');
    await waitFor(() => c.state === 'up' && peer.connections.length === 2, 'reconnected to the peer');
    await expect(c.sink.write(message('after'), { address: 'q' })).resolves.toBeUndefined();
    // the other connector's connection was never touched
    expect(other.connections).toHaveLength(1);
    await expect(bystander.sink.write(message('bystander'), { address: 'q' })).resolves.toBeUndefined();
    expect(peer.transfers.map((t) => t.message.message_id)).toEqual(['before', 'after']);
    await c.stop();
    await bystander.stop();
    await peer.stop();
    await other.stop();
  });

  it('writes unsettled when the garbage arrives fail transiently (the source keeps them)', async () => {
    const peer = new FarPeer({ onTransfer: () => undefined }); // holds every transfer
    await peer.start();
    started.push(peer);
    const c = client(peer.port, []);
    await c.start();
    const held = c.sink.write(message('held'), { address: 'q' });
    await waitFor(() => peer.transfers.length === 1, 'the transfer at the peer');
    peer.connections[0]!.socket.write(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0]));
    const err = await held.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FerryError);
    expect(err).toMatchObject({ code: 'SINK_CLOSED', permanent: false });
    await c.stop();
    await peer.stop();
  });

  it('a peer that is not AMQP at all (an HTTP server on the port): the socket is closed, the connector stays down and retries, nothing crashes', async () => {
    let accepted = 0;
    const http: Server = createServer((sock) => {
      accepted++;
      sock.on('error', () => undefined);
      sock.on('data', () => sock.write('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n'));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    started.push({ stop: () => new Promise<void>((r) => http.close(() => r())) });
    const a = http.address();
    const port = a !== null && typeof a === 'object' ? a.port : 0;
    const lines: LogLine[] = [];
    const metrics = new RecordingMetrics();
    const c = client(port, lines, metrics);
    await c.start();
    await waitFor(() => accepted >= 3, 'three attempts');
    expect(c.state).not.toBe('up');
    expect(metrics.count('protocol_errors_total', { code: 'amqp:connection:framing-error' })).toBeGreaterThanOrEqual(1);
    expect(lines.some((l) => l.fields['description'] === 'not an AMQP protocol header')).toBe(true);
    await expect(c.sink.write(message('x'), { address: 'q' })).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
  });
});
