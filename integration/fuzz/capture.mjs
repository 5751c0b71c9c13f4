// Records what real clients send to a real broker, for the fuzz corpora (packages/*/fuzz/corpus).
// A TCP relay on 127.0.0.1:<listen> in front of <target port>; each client connection's
// client-to-server bytes are written to <out>/<name>.bin when it closes.
//   node integration/fuzz/capture.mjs <listen> <target> <out> <name>
// then point one client at <listen> (mosquitto_pub -p <listen> …); the relay exits after it.
import { createConnection, createServer } from 'node:net';
import { writeFileSync } from 'node:fs';

const [listen, target, out, name] = process.argv.slice(2);
const server = createServer((client) => {
  client.setNoDelay(true);
  const chunks = [];
  const upstream = createConnection({ host: '127.0.0.1', port: Number(target), noDelay: true });
  client.on('data', (b) => {
    chunks.push(b);
    upstream.write(b);
  });
  upstream.on('data', (b) => client.write(b));
  const done = () => {
    client.destroy();
    upstream.destroy();
    writeFileSync(`${out}/${name}.bin`, Buffer.concat(chunks));
    server.close();
  };
  client.on('close', done);
  upstream.on('close', done);
  client.on('error', () => undefined);
  upstream.on('error', () => undefined);
});
server.listen(Number(listen), '127.0.0.1');
