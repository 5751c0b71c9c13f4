#!/usr/bin/env node
/**
 * aedes, the Node MQTT broker, alone in its own process: the edge-broker baseline of cases C2
 * and J (as Ferry runs in its own). `node bench/lib/aedes-broker.mjs <port>`; prints
 * `listening <port>` when it accepts connections, and closes on SIGTERM.
 * In-memory persistence and emitter (aedes' defaults), TCP_NODELAY on every accepted socket.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/lib/aedes-broker.mjs <port>');
  process.exit(2);
}
const broker = await Aedes.createBroker();
const server = createServer({ noDelay: true }, broker.handle);
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
process.once('SIGTERM', () => {
  server.close();
  broker.close(() => process.exit(0));
});
