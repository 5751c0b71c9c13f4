// The mqtt-listener sink's own work per write on path E, without RabbitMQ and without the
// subscriber: a started MqttListenerConnector (packages/mqtt/src/listener/connector.ts) takes
// ITER writes of a 256-byte message with no headers (as the amqp091 source gives on E) to
// devices/d1/cmd at QoS 1, one after the other, each as the engine calls it: through the sink's
// callback form (Sink.send) where the build has it, else through its promise (Sink.write) and a
// `.then`, as packages/router/src/delivery.ts does. No subscriber: the write's mapping, routing
// lookup, ticket and confirmation are measured, not a delivery. Prints CPU ns per write. Run
// after `npx tsc -b`, one build at a time (BUILD=<a built checkout>, default this one):
//   BUILD=/path/to/main-before ITER=200000 node bench/experiments/mqtt-listener-sink.mjs
// Instructions (repeatable under load): the difference between ITER=200000 and ITER=0 under
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out node bench/experiments/mqtt-listener-sink.mjs
// divided by ITER (start-up and compilation cancel out).
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { loadavg } from 'node:os';

const ITER = Number(process.env.ITER ?? 200_000);
const dir = resolve(process.env.BUILD ?? resolve(import.meta.dirname, '../..'));
const load = (p) => import(pathToFileURL(`${dir}/${p}`).href);
const { MqttListenerConnector } = await load('packages/mqtt/dist/listener/connector.js');
const { mqttListenerOptions } = await load('packages/mqtt/dist/options.js');
const core = await load('node_modules/@ferry/core/dist/index.js');
const { RecordingMetrics } = await load('node_modules/@ferry/testkit/dist/index.js');

const options = mqttListenerOptions.parse({ port: 0, host: '127.0.0.1', anonymous: true });
const listener = new MqttListenerConnector({ gatewayId: 'bench', logger: core.silentLogger, metrics: new RecordingMetrics(), baseDir: '.' }, 'devices', options);
await listener.start();
const sink = listener.sink;
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
}
const cpu = process.cpuUsage(started);
await listener.stop();
if (confirmed !== ITER) throw new Error(`${confirmed} of ${ITER} writes confirmed`);
const form = sink.send !== undefined ? 'send' : 'write';
console.log(`mqtt-listener sink, ${dir}, ${form}: ${ITER} writes, ${ITER === 0 ? '-' : (((cpu.user + cpu.system) * 1000) / ITER).toFixed(0)} CPU ns per write, load ${loadavg()[0].toFixed(2)}`);
