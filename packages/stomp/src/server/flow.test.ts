/**
 * The stomp-listener obeys the engine's flow control: while paused a connected session reads
 * nothing (a SEND waits in TCP, nothing is delivered), RECEIPTs of SENDs already taken still go
 * out, and on resume the waiting SENDs are delivered. Real TCP on localhost, no broker.
 */
import { createConnection, type Socket } from 'node:net';
import { type InboundDelivery } from '@ferry/core';
import { ManualFlow, delay, waitFor, listenerUnderFlow } from '@ferry/testkit';
import { stompListenerDefinition } from '../index.js';
import type { StompListenerConnector } from './listener-connector.js';

let listener: StompListenerConnector;
let port: number;
const sockets: Socket[] = [];
let got: InboundDelivery[];
let flow: ManualFlow;

beforeEach(async () => {
  ({ listener, port, got, flow } = await listenerUnderFlow(
    (ctx, p) => stompListenerDefinition.create(ctx, 'web', stompListenerDefinition.options.parse({ port: p, host: '127.0.0.1', anonymous: true })) as StompListenerConnector,
    { destination: '/topic/#' },
  ));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await listener.stop();
});

/** a raw STOMP 1.2 client: frames out, every byte in */
async function client(): Promise<{ socket: Socket; text: () => string }> {
  const socket = createConnection({ port, host: '127.0.0.1', noDelay: true });
  sockets.push(socket);
  let received = '';
  socket.on('data', (b: Buffer) => (received += b.toString('utf8')));
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  socket.write('CONNECT\naccept-version:1.2\nhost:ferry\n\n\0');
  await waitFor(() => received.includes('CONNECTED'), 'CONNECTED');
  return { socket, text: () => received };
}

const send = (s: Socket, body: string): boolean => s.write(`SEND\ndestination:/topic/a\nreceipt:${body}\ncontent-length:${body.length}\n\n${body}\0`);

it('paused: SENDs are not read; RECEIPTs of taken SENDs still go out; resumed: the rest is delivered', async () => {
  const { socket, text } = await client();
  send(socket, 'one');
  await waitFor(() => got.length === 1, 'first delivery');

  // the listener pauses its sockets as the flow says so, before set returns
  flow.set(true);
  send(socket, 'two');
  send(socket, 'three');
  got[0]!.settlement.accept();
  await waitFor(() => text().includes('receipt-id:one'), 'RECEIPT of the first while paused');
  // a bounded wait, as nothing happens to wait for: a paused listener reads nothing, so no event
  // says that it would not have taken 'two' and 'three'
  await delay(300);
  expect(got.map((d) => d.message.body.toString())).toEqual(['one']);

  flow.set(false);
  await waitFor(() => got.length === 3, 'the held SENDs delivered after resume');
  expect(got.map((d) => d.message.body.toString())).toEqual(['one', 'two', 'three']);
  for (const d of got.slice(1)) d.settlement.accept();
  await waitFor(() => text().includes('receipt-id:three'), 'all receipts');
});

it('a client that connects while paused gets CONNECTED, then waits', async () => {
  flow.set(true);
  const { socket } = await client();
  send(socket, 'x');
  // a bounded wait, as nothing happens to wait for: a paused listener reads nothing
  await delay(300);
  expect(got).toHaveLength(0);
  flow.set(false);
  await waitFor(() => got.length === 1, 'delivered after resume');
});
