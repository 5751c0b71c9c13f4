// Path G's ingress over TCP in one process: a rhea sender (unsettled, at most WINDOW unsettled,
// as the bench's AMQP 1.0 client) sends N messages of a 256-byte data section to an
// Amqp10Listener; the engine's part accepts each delivery a turn after it arrived. Both builds
// in one process, round by round (the first round is warm-up), so the machine's load is the same
// for both; the rates and the CPU per message are of the client and the listener together (the
// client's rhea is this checkout's, in every round). Run after `npx tsc -b`:
//   FERRY_BEFORE=/path/to/main-before ROUNDS=5 node bench/experiments/amqp10-listener-tcp.mjs
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { comparedBuilds, median } from './builds.mjs';

const N = Number(process.env.N ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WINDOW = Number(process.env.WINDOW ?? 1000);

const builds = comparedBuilds();
for (const b of builds) {
  b.listener = await import(pathToFileURL(`${b.dir}/packages/amqp10/dist/listener.js`).href);
  b.options = await import(pathToFileURL(`${b.dir}/packages/amqp10/dist/options.js`).href);
  b.core = await import(pathToFileURL(`${b.dir}/node_modules/@ferry/core/dist/index.js`).href);
}
const rhea = createRequire(import.meta.url)('rhea');
const body = Buffer.alloc(256, 0x61);

async function round(b, r) {
  const ctx = { gatewayId: 'bench', logger: b.core.silentLogger, metrics: b.core.noopMetrics, baseDir: '.' };
  const l = new b.listener.Amqp10Listener(ctx, 'apps', b.options.amqp10ListenerOptions.parse({ port: 0, host: '127.0.0.1', allowAnonymous: true }));
  await l.start();
  await l.openSources([{ route: 'r', from: { address: 'telemetry' } }], (d) => setImmediate(() => d.settlement.accept()));
  const conn = rhea.create_container({ id: `bench-${b.name}-${r}` }).connect({ port: l.port, host: '127.0.0.1', reconnect: false });
  const s = conn.open_sender({ target: { address: 'telemetry' }, snd_settle_mode: 0 });
  await new Promise((resolve) => s.once('sendable', resolve));
  let sent = 0;
  let accepted = 0;
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  await new Promise((resolve, reject) => {
    const pump = () => {
      while (sent < N && sent - accepted < WINDOW && s.sendable()) {
        s.send({ body: rhea.message.data_section(body) });
        sent++;
      }
    };
    s.on('sendable', pump);
    s.on('accepted', () => {
      accepted++;
      if (accepted === N) resolve();
      else pump();
    });
    for (const o of ['rejected', 'released', 'modified']) s.on(o, () => reject(new Error(`${b.name}: a delivery was ${o}`)));
    pump();
  });
  const t = process.cpuUsage(t0);
  const ms = performance.now() - w0;
  conn.close();
  await l.stop();
  return { us: (t.user + t.system) / N, rate: (N / ms) * 1000 };
}

const per = new Map(builds.map((b) => [b.name, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const b of builds) {
    const x = await round(b, r);
    if (r > 0 || ROUNDS === 1) per.get(b.name).push(x);
  }
}
console.log(`amqp10-listener over TCP: ${N} messages a round, ${WINDOW} unsettled at most, ${Math.max(1, ROUNDS - 1)} measured rounds, load ${loadavg()[0].toFixed(2)}`);
for (const b of builds) {
  const a = per.get(b.name);
  console.log(`${b.name}: ${median(a.map((x) => x.rate)).toFixed(0)} msg/s, ${median(a.map((x) => x.us)).toFixed(1)} µs CPU per message, client and listener (medians)`);
}
