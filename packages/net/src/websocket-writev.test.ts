import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, createWebSocketStream } from 'ws';
import { TurnWriter } from './turn-writer.js';
import { batchWebSocketWrites } from './websocket-writev.js';

interface Side {
  stream: Duplex;
  /** chunks per call that reached the socket under the WebSocket: one entry per system call */
  socketCalls: number[];
}

/** A WebSocket server side as the listener makes it, with or without the batching `_writev`. */
async function pair(batched: boolean): Promise<{ server: Server; side: Side; client: WebSocket; received: string[] }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = createServer();
  const sides: Side[] = [];
  server.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => {
    const socketCalls: number[] = [];
    const writev = sock._writev?.bind(sock);
    const write = sock._write.bind(sock);
    sock._writev = (chunks, cb) => {
      socketCalls.push(chunks.length);
      writev?.(chunks, cb);
    };
    sock._write = (chunk, enc, cb) => {
      socketCalls.push(1);
      write(chunk, enc, cb);
    };
    wss.handleUpgrade(req, sock, head, (ws) => {
      // the 101 response is written already: count the writes of the connection
      socketCalls.length = 0;
      const stream = createWebSocketStream(ws);
      if (batched) batchWebSocketWrites(stream, ws, sock);
      sides.push({ stream, socketCalls });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  const client = new WebSocket(`ws://127.0.0.1:${address.port}/`, { perMessageDeflate: false });
  const received: string[] = [];
  client.on('message', (data: Buffer, isBinary: boolean) => received.push(`${isBinary ? 'binary' : 'text'}:${data.toString()}`));
  await once(client, 'open');
  while (sides.length === 0) await new Promise((r) => setImmediate(r));
  return { server, side: sides[0] as Side, client, received };
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setImmediate(r));
}

describe('batchWebSocketWrites', () => {
  const frames = ['RECEIPT\nreceipt-id:r1\n\n\0', 'RECEIPT\nreceipt-id:r2\n\n\0', 'MESSAGE\ndestination:/topic/a\n\nbody\0'];

  for (const batched of [true, false]) {
    it(`the writes of one turn: each its own binary message, in order, ${batched ? 'in one socket write' : 'one socket write each without it'}`, async () => {
      const { server, side, client, received } = await pair(batched);
      try {
        const w = new TurnWriter(side.stream);
        for (const f of frames) w.write(Buffer.from(f));
        await until(() => received.length === frames.length);
        expect(received).toEqual(frames.map((f) => `binary:${f}`));
        expect(side.socketCalls.length).toBe(batched ? 1 : frames.length);
      } finally {
        client.terminate();
        server.close();
      }
    });
  }
});
