// The mqtt-listener sink's own work per write on path E, without RabbitMQ and without the
// subscriber: a started MqttListenerConnector (packages/mqtt/src/listener/connector.ts) takes
// ITER writes of a 256-byte message with no headers (as the amqp091 source gives on E) to
// devices/d1/cmd at QoS 1, one after the other, each as the engine calls it: through the sink's
// callback form (Sink.send) where the build has it, else through its promise (Sink.write) and a
// `.then`, as packages/router/src/delivery.ts does. No subscriber: the write's mapping, routing
// lookup, ticket and confirmation are measured, not a delivery. Prints CPU ns per write. Run
// after `npx tsc -b`, one build at a time (BUILD=<a built checkout>, default this one):
//   BUILD=/path/to/main-before ITER=200000 node bench/experiments/mqtt-listener-sink.mjs
// SUBSCRIBER=1: with a device (3.1.1, on an in-memory stream) subscribed to devices/d1/cmd at
// QoS 1, which acknowledges what it was sent after every BATCH writes (default 50, one turn of
// the event loop each, as a read of RabbitMQ deliveries is): E's delivery side as well.
// Instructions (repeatable under load): the difference between ITER=200000 and ITER=0 under
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/mqtt-listener-sink.mjs
// divided by ITER (start-up and compilation cancel out).
import { loadavg } from 'node:os';
import { Wire, publishIds } from './wire.mjs';
import { startListener } from './listener-build.mjs';

const ITER = Number(process.env.ITER ?? 200_000);
const BATCH = Number(process.env.BATCH ?? 50);
const { dir, load, core, listener } = await startListener();
const sink = listener.sink;
const turn = () => new Promise((r) => setImmediate(r));
let device;
let delivered = 0;
if (process.env.SUBSCRIBER === '1') {
  const mqttPacket = (await load('node_modules/mqtt-packet/mqtt.js')).default;
  const gen = (p) => mqttPacket.generate(p, { protocolVersion: 4 });
  device = new Wire();
  listener.broker.accept({ stream: device, info: { transport: 'tcp', remoteAddress: '127.0.0.1', remotePort: 1, remote: '127.0.0.1:1', authorized: false }, handshakeDone: () => undefined });
  device.emit('data', gen({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'd1', keepalive: 0 }));
  await turn();
  await turn();
  device.emit('data', gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'devices/d1/cmd', qos: 1 }] }));
  await turn();
  device.take();
}
/** the device takes what it was sent this turn and acknowledges it */
async function acknowledge() {
  await turn();
  const ids = publishIds(device.take());
  delivered += ids.length;
  device.emit('data', Buffer.concat(ids.map((id) => Buffer.from([0x40, 2, id >> 8, id & 0xff]))));
}
const to = { topic: 'devices/d1/cmd', qos: 1 };
const body = Buffer.alloc(256);
const source = { connector: 'rabbit', protocol: 'amqp091', address: 'bench.commands' };
const fail = (err) => {
  throw err;
};
let confirmed = 0;
const started = process.cpuUsage();
for (let i = 0; i < ITER; i++) {
  const m = core.createMessage({ body, headers: new Map(), source });
  if (sink.send !== undefined)
    await new Promise((res) =>
      sink.send(m, to, (error) => {
        if (error !== undefined) fail(error);
        confirmed++;
        res();
      }),
    );
  else
    await new Promise((res) =>
      sink.write(m, to).then(() => {
        confirmed++;
        res();
      }, fail),
    );
  if (device !== undefined && (i + 1) % BATCH === 0) await acknowledge();
}
if (device !== undefined) await acknowledge();
const cpu = process.cpuUsage(started);
await listener.stop();
if (confirmed !== ITER) throw new Error(`${confirmed} of ${ITER} writes confirmed`);
if (device !== undefined && delivered !== ITER) throw new Error(`${delivered} of ${ITER} writes delivered`);
const form = sink.send !== undefined ? 'send' : 'write';
console.log(`mqtt-listener sink, ${dir}, ${form}: ${ITER} writes, ${ITER === 0 ? '-' : (((cpu.user + cpu.system) * 1000) / ITER).toFixed(0)} CPU ns per write, load ${loadavg()[0].toFixed(2)}`);
