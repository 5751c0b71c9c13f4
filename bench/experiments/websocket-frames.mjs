// The WebSocket framing of path H on Ferry's side, without STOMP: a `ws` server arranged as the
// listener arranges it (packages/net/src/listener.ts: perMessageDeflate off, createWebSocketStream,
// batchWebSocketWrites, a TurnWriter on the stream) reads binary messages of a SEND's size
// (@stomp/stompjs sends a frame with a binary body as one binary message, masked as RFC 6455
// §5.3 requires of a client) and answers each with a message of a RECEIPT's size. The client is a
// raw TCP socket writing frames masked once, before the clock starts, so what is counted beyond
// the socket calls is the server's unmasking, frame parsing and framing of the answers.
// BATCH messages a turn, ITER a round, ROUNDS rounds (the first is warm-up). `ws` loads
// bufferutil when it is installed, unless WS_NO_BUFFER_UTIL is set (ws lib/buffer-util.js), so
// the two are compared by that variable on one install:
//   ROUNDS=3 valgrind --tool=callgrind node --single-threaded bench/experiments/websocket-frames.mjs
//   WS_NO_BUFFER_UTIL=1 ROUNDS=3 valgrind --tool=callgrind node --single-threaded bench/experiments/websocket-frames.mjs
import { createServer, connect } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { median } from './builds.mjs';

const ITER = Number(process.env.ITER ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 11);
const BATCH = Number(process.env.BATCH ?? 20);
const MESSAGE_BYTES = Number(process.env.MESSAGE_BYTES ?? 380);
const ANSWER_BYTES = 40;

const root = resolve(import.meta.dirname, '../..');
const require = createRequire(`${root}/packages/net/package.json`);
const { WebSocketServer, createWebSocketStream } = require('ws');
let bufferUtil = 'not installed';
try {
  require.resolve('bufferutil', { paths: [require.resolve('ws')] });
  bufferUtil = process.env.WS_NO_BUFFER_UTIL ? 'installed, WS_NO_BUFFER_UTIL set' : 'in use';
} catch {
  /* ws falls back to its JavaScript loops */
}
const net = {
  ...(await import(pathToFileURL(`${root}/packages/net/dist/turn-writer.js`).href)),
  ...(await import(pathToFileURL(`${root}/packages/net/dist/websocket-writev.js`).href)),
};

/** one masked binary frame (RFC 6455 §5.2: FIN, opcode 2, MASK, 16-bit length) */
function clientFrame(payload) {
  const key = randomBytes(4);
  const head = Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) masked[i] = payload[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

const answer = Buffer.alloc(ANSWER_BYTES, 0x52);
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: false });
const http = createHttpServer();
http.on('upgrade', (req, sock, head) => {
  wss.handleUpgrade(req, sock, head, (ws) => {
    const stream = createWebSocketStream(ws);
    net.batchWebSocketWrites(stream, ws, sock);
    const out = new net.TurnWriter(stream);
    stream.on('data', () => out.write(answer));
  });
});
const server = createServer((s) => http.emit('connection', s));
await new Promise((r) => server.listen(0, '127.0.0.1', r));

const client = connect(server.address().port, '127.0.0.1');
client.setNoDelay(true);
await new Promise((r) => client.once('connect', r));
client.write(`GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
await new Promise((r) => client.once('data', r));

/** the server's answer frames: 2 header bytes (unmasked, RFC 6455 §5.1) and the payload */
const answerFrameBytes = 2 + ANSWER_BYTES;
let expected = 0;
let got = 0;
let done;
client.on('data', (d) => {
  got += d.length;
  if (got >= expected && done !== undefined) done();
});

async function round() {
  const payload = Buffer.alloc(MESSAGE_BYTES, 0x61);
  const chunks = [];
  for (let i = 0; i < ITER; i += BATCH) {
    const frames = [];
    for (let j = 0; j < BATCH; j++) frames.push(clientFrame(payload));
    chunks.push(Buffer.concat(frames));
  }
  got = 0;
  const t0 = process.cpuUsage();
  for (const chunk of chunks) {
    expected = answerFrameBytes * BATCH;
    got = 0;
    const answered = new Promise((r) => (done = r));
    client.write(chunk);
    await answered;
  }
  const t = process.cpuUsage(t0);
  return (t.user + t.system) / ITER;
}

const per = [];
for (let r = 0; r < ROUNDS; r++) {
  const us = await round();
  if (r > 0) per.push(us);
}
console.log(`websocket frames: ${ITER} messages of ${MESSAGE_BYTES} bytes a round, ${BATCH} a write, ${ROUNDS - 1} measured rounds, bufferutil ${bufferUtil}, load ${loadavg()[0].toFixed(2)}`);
if (per.length > 0) console.log(`${median(per).toFixed(2)} µs CPU per message (median; ${Math.min(...per).toFixed(2)}–${Math.max(...per).toFixed(2)})`);
client.destroy();
server.close();
