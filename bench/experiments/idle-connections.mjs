/**
 * EXPERIMENT: what one idle MQTT device costs the mqtt-listener, in the listener's own process.
 *
 *   node --expose-gc bench/experiments/idle-connections.mjs [devices]      (default 3,000)
 *   FERRY_ROOT=/other/checkout ...                                         (another build)
 *   SNAP=1 ...                                                             (+ heap snapshot, by constructor)
 *
 * Starts an mqtt-listener from the built packages, opens the devices from a child process
 * (bench/lib/swarm.mjs: CONNECT, one SUBSCRIBE, held), and prints RSS and heap before and after,
 * per device, after two full garbage collections; with SNAP=1 the heap's largest kinds of object.
 */
import { fork } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const here = fileURLToPath(import.meta.url);
const N = Number(process.argv[2] ?? 3000);

if (process.argv[3] === '--devices') {
  const { swarm } = await import('../lib/swarm.mjs');
  const r = await swarm({ port: Number(process.argv[4]), count: N, filter: 'x/all', qos: 1, idPrefix: 'd' });
  process.send?.(r.outcome ?? r);
  setInterval(() => undefined, 1 << 30);
} else {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const root = resolve(process.env.FERRY_ROOT ?? join(here, '../../..'));
  const { MqttListenerConnector, mqttListenerOptions } = await import(join(root, 'packages/mqtt/dist/index.js'));
  const core = await import(join(root, 'packages/core/dist/index.js'));
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const listener = new MqttListenerConnector({ gatewayId: 'x', logger: core.silentLogger, metrics: core.noopMetrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port, host: '127.0.0.1', anonymous: true }));
  await listener.start();
  await listener.openSources([{ route: 'r', from: { topic: 'x/#' } }], (d) => d.settlement.accept());
  const mem = () => {
    globalThis.gc();
    globalThis.gc();
    const m = process.memoryUsage();
    return { rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20 };
  };
  const before = mem();
  const child = fork(here, [String(N), '--devices', String(port)]);
  const [outcome] = await new Promise((r) => child.once('message', (...a) => r(a)));
  const after = mem();
  const per = (k) => (((after[k] - before[k]) * 1024) / N).toFixed(2);
  console.log(JSON.stringify({ devices: N, root, outcome, before, after, perDeviceKiB: { rss: per('rssMiB'), heap: per('heapMiB') } }));
  if (process.env.SNAP) {
    const file = v8.writeHeapSnapshot(join(tmpdir(), `idle-connections-${process.pid}.heapsnapshot`));
    const s = JSON.parse(readFileSync(file, 'utf8'));
    rmSync(file);
    const f = s.snapshot.meta.node_fields;
    const types = s.snapshot.meta.node_types[0];
    const [ti, ni, si] = ['type', 'name', 'self_size'].map((x) => f.indexOf(x));
    const agg = new Map();
    for (let i = 0; i < s.nodes.length; i += f.length) {
      const t = types[s.nodes[i + ti]];
      const name = t === 'object' || t === 'closure' ? `${t}:${s.strings[s.nodes[i + ni]]}` : t;
      const a = agg.get(name) ?? { n: 0, size: 0 };
      a.n++;
      a.size += s.nodes[i + si];
      agg.set(name, a);
    }
    for (const [k, v] of [...agg].sort((a, b) => b[1].size - a[1].size).slice(0, 40)) console.log(`${(v.size / 1024).toFixed(0).padStart(8)} KiB ${String(v.n).padStart(8)}  ${k}`);
  }
  child.kill();
  await listener.stop();
}
