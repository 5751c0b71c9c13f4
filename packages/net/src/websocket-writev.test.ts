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
async function pair(batched: boolean, deflate = false): Promise<{ server: Server; side: Side; client: WebSocket; received: string[] }> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: deflate });
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
  const client = new WebSocket(`ws://127.0.0.1:${address.port}/`, { perMessageDeflate: deflate });
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

  it('a turn of one write: one binary message in one socket write', async () => {
    const { server, side, client, received } = await pair(true);
    try {
      const w = new TurnWriter(side.stream);
      w.write(Buffer.from('RECEIPT\nreceipt-id:one\n\n\0'));
      await until(() => received.length === 1);
      w.write(Buffer.alloc(0));
      await until(() => received.length === 2);
      expect(received).toEqual(['binary:RECEIPT\nreceipt-id:one\n\n\0', 'binary:']);
      expect(side.socketCalls).toEqual([1, 1]);
    } finally {
      client.terminate();
      server.close();
    }
  });

  it('with an extension negotiated (permessage-deflate), every frame is ws\'s own, in order', async () => {
    const { server, side, client, received } = await pair(true, true);
    try {
      expect(client.extensions).toContain('permessage-deflate');
      const w = new TurnWriter(side.stream);
      for (const f of frames) w.write(Buffer.from(f));
      await until(() => received.length === frames.length);
      expect(received).toEqual(frames.map((f) => `binary:${f}`));
    } finally {
      client.terminate();
      server.close();
    }
  });

  it('a payload of 126 bytes or more has a 16-bit length; a turn over 64 KiB goes through ws in one socket write, its payloads whole', async () => {
    const { server, side, client, received } = await pair(true);
    try {
      const mid = `MESSAGE\n\n${'m'.repeat(300)}\0`;
      const edge = 'e'.repeat(125);
      const w = new TurnWriter(side.stream);
      for (const f of [edge, 'f'.repeat(126), mid]) w.write(Buffer.from(f));
      await until(() => received.length === 3);
      expect(received).toEqual([edge, 'f'.repeat(126), mid].map((f) => `binary:${f}`));
      side.socketCalls.length = 0;
      const big = ['a'.repeat(40_000), 'b'.repeat(40_000), 'c'.repeat(70_000)];
      for (const f of big) w.write(Buffer.from(f));
      await until(() => received.length === 6);
      expect(received.slice(3)).toEqual(big.map((f) => `binary:${f}`));
      expect(side.socketCalls.length).toBe(1);
    } finally {
      client.terminate();
      server.close();
    }
  });

  it('once the connection closes, what is written is refused by ws, not framed', async () => {
    const { server, side, client } = await pair(true);
    try {
      const errors: Error[] = [];
      side.stream.on('error', (e: Error) => errors.push(e));
      const closed = once(client, 'close');
      client.close();
      await closed;
      side.socketCalls.length = 0;
      side.stream.write(Buffer.from('late'));
      await until(() => errors.length > 0);
      expect(errors[0]?.message).toMatch(/not open/);
      expect(side.socketCalls.length).toBe(0);
    } finally {
      server.close();
    }
  });
});
