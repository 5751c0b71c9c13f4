/**
 * EXPERIMENT: how fast the mqtt-listener's heap grows while its devices sit idle.
 *
 *   node --expose-gc bench/experiments/idle-allocation.mjs [devices]      (default 5,000)
 *   FERRY_ROOT=/other/checkout ...                                        (another build)
 *
 * Starts an mqtt-listener from the built packages, opens the devices from a child process (as
 * idle-connections.mjs does: CONNECT, one SUBSCRIBE, held), waits 1 s, runs a full GC and prints
 * how much the heap grew in the next 5 s (KiB/s): what the listener allocates with nothing to do.
 * A scavenge inside the 5 s would hide garbage; `gcs` says how many GCs there were.
 */
import { fork } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PerformanceObserver } from 'node:perf_hooks';
const here = fileURLToPath(import.meta.url);
const root = resolve(process.env.FERRY_ROOT ?? join(here, '../../..'));
const N = Number(process.argv[2] ?? 5000);
const { MqttListenerConnector, mqttListenerOptions } = await import(join(root, 'packages/mqtt/dist/index.js'));
const core = await import(join(root, 'packages/core/dist/index.js'));
const listener = new MqttListenerConnector({ gatewayId: 'x', logger: core.silentLogger, metrics: core.noopMetrics, baseDir: '.' }, 'devices', mqttListenerOptions.parse({ port: 0, host: '127.0.0.1', anonymous: true }));
await listener.start();
const { port } = listener.ports;
await listener.openSources([{ route: 'r', from: { topic: 'x/#' } }], (d) => d.settlement.accept());
const child = fork(join(here, '../idle-connections.mjs'), [String(N), '--devices', String(port)]);
await new Promise((r) => child.once('message', r));
await new Promise((r) => setTimeout(r, 1000));
let gcs = 0; new PerformanceObserver((l) => { gcs += l.getEntries().length; }).observe({ entryTypes: ['gc'] });
globalThis.gc();
const h0 = process.memoryUsage().heapUsed; gcs = 0;
await new Promise((r) => setTimeout(r, 5000));
const h1 = process.memoryUsage().heapUsed;
console.log(JSON.stringify({ root, devices: N, allocKiBperS: ((h1 - h0) / 1024 / 5).toFixed(1), gcs }));
child.kill(); await listener.stop(); process.exit(0);
