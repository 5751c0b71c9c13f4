/**
 * Under attack from each kind of hostile input at once, a well-behaved
 * device's QoS 1 publish into RabbitMQ is still acknowledged within 1 s, and the gateway's RSS
 * stays under 300 MB. Ferry runs as its own process (its RSS is what is measured); the attackers
 * and the good device are this test's clients:
 *   1. SASL bombs: sasl-init with an array of 4,294,967,295 nulls on the amqp10-listener, again and again
 *   2. poison publishes: QoS 0 to a topic of 202 levels, routed to the `mqtt` connector (Mosquitto)
 *   3. a slow QoS 1 subscriber that never reads, fed 16 KiB messages
 *   4. three persistent 3.1.1 sessions with 60,000 filters each
 *   5. silent sockets on the STOMP and AMQP 1.0 listeners, and STOMP heart-beat 0,0 connections
 *   6. an AMQP 1.0 receiver that never settles, on a route a flooding device publishes to
 *   7. byte floods: garbage and huge announced lengths on every listener
 * The good device (paho-mqtt, in its own process) publishes one QoS 1 message every 50 ms for the
 * whole attack; each PUBACK is timed and every message is counted in RabbitMQ.
 */
import { jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import rhea from 'rhea';
import { brokerPorts, createVhost, delay, deleteVhost, freePort, rabbitUrl, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { FerryProcess } from '../faults/support/ferry-process.js';
import { collectQueue, device, plainClient, runId, type Plain } from '../scenarios/helpers.js';

jest.setTimeout(120_000);

const run = runId('atk');
const ATTACK_MS = 20_000;
const GOOD_EVERY_MS = 50;
const RSS_LIMIT_KIB = 300 * 1024;
const SILENT_SOCKETS = 500;
const FILTERS = 60_000;

let vhost: string;
let dir: string;
let ferry: FerryProcess;
let plain: Plain;
const ports = { mqtt: 0, stomp: 0, amqp: 0, admin: 0 };
const sockets = new Set<Socket>();
const closers: (() => Promise<void> | void)[] = [];
const steps: string[] = [];
const step = (what: string): void => void steps.push(`${new Date().toISOString().slice(11, 23)} ${what}`);

function raw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port, noDelay: true });
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

beforeAll(async () => {
  vhost = await createVhost('attack');
  dir = mkdtempSync(join(tmpdir(), 'ferry-attack-'));
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
  ferry = new FerryProcess({
    dir,
    adminPort: ports.admin,
    logLevel: 'warn',
    yaml: `
gateway: { id: ${run}, http: { port: ${ports.admin}, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${ports.mqtt}, host: 127.0.0.1, anonymous: true }
  stomps: { type: stomp-listener, port: ${ports.stomp}, host: 127.0.0.1, anonymous: true }
  apps: { type: amqp10-listener, port: ${ports.amqp}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      queues: [ { name: good } ]
  mosq:
    type: mqtt
    url: mqtt://127.0.0.1:${brokerPorts().mosquitto}
    protocolVersion: 5
    clientId: ${run}-ferry
routes:
  - name: good
    from: { connector: devices, topic: "${run}/good/#" }
    to: { connector: rabbit, exchange: "", routingKey: good }
  - name: poison
    from: { connector: devices, topic: "sensors/#" }
    to: { connector: mosq, topic: "{address}" }
  - name: slow
    from: { connector: devices, topic: "${run}/slow/#" }
    to: { connector: apps, address: slow }
    maxInFlight: 20
`,
  });
  await ferry.start(60_000);
  plain = await plainClient(vhost);
});

let passed = false;

afterAll(async () => {
  const f = ifAssigned(ferry);
  if (!passed && f !== undefined) console.log(`steps:\n${steps.join('\n')}\n${f.diagnostics()}`);
  for (const c of closers.splice(0)) await c();
  for (const s of sockets) s.destroy();
  await ifAssigned(ferry)?.stop();
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Run `fn` again and again until `until` passes, at most one at a time. */
function loop(stopAt: number, fn: () => Promise<void>): Promise<void> {
  return (async () => {
    while (Date.now() < stopAt) {
      try {
        await fn();
      } catch {
        // an attacker refused or cut off is the point
      }
    }
  })();
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const SASL_BOMB = Buffer.concat([
  Buffer.from('AMQP\x03\x01\x00\x00', 'latin1'),
  Buffer.from('0000002902010000005341d00000001900000002a309', 'hex'),
  Buffer.from('ANONYMOUS', 'latin1'),
  Buffer.from([0xf0]),
  u32(5),
  u32(0xffffffff),
  Buffer.from([0x40]),
]);

/**
 * paho-mqtt 1.6.1 (Debian's /usr/bin/python3) publishing QoS 1 every 50 ms until `stopAt`, each
 * publish waited for (at most 5 s); resolves with each message's id and PUBACK latency (-1: none).
 */
function goodDevicePaho(port: number, clientId: string, topic: string, stopAt: number): Promise<{ id: string; ms: number }[]> {
  const script = `
import json, sys, time
import paho.mqtt.client as mqtt
c = mqtt.Client(client_id=sys.argv[2], protocol=mqtt.MQTTv5)
c.connect("127.0.0.1", int(sys.argv[1]), 30)
c.loop_start()
deadline = time.time() + 30
while not c.is_connected() and time.time() < deadline:
    time.sleep(0.01)
if not c.is_connected():
    sys.exit("no CONNACK in 30 s")
stop = float(sys.argv[4]) / 1000.0
n = 0
while time.time() < stop:
    mid = "g%d" % n
    n += 1
    t0 = time.monotonic()
    info = c.publish(sys.argv[3], mid.encode(), qos=1)
    info.wait_for_publish(timeout=5)
    ms = (time.monotonic() - t0) * 1000.0 if info.is_published() else -1
    print(json.dumps({"id": mid, "ms": ms}), flush=True)
    time.sleep(max(0.0, ${GOOD_EVERY_MS / 1000} - (time.monotonic() - t0)))
c.disconnect()
c.loop_stop()
`;
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', ['-c', script, String(port), clientId, topic, String(stopAt)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`paho-mqtt good device exited ${String(code)} (needs python3-paho-mqtt: integration/brokers/install.sh): ${err}`));
      resolve(out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { id: string; ms: number }));
    });
  });
}

it(`under every attack at once for ${ATTACK_MS / 1000} s, a good device's QoS 1 publishes into RabbitMQ are each acknowledged within 1 s, and Ferry's RSS stays under 300 MB`, async () => {
  expect(SASL_BOMB.length).toBe(8 + 41);
  const received = await collectQueue(plain.ch, 'good');
  // the good device is connected and its route warm (RabbitMQ channel, queue) before the attack
  const good = await device(ports.mqtt, `${run}-good`);
  closers.push(() => good.endAsync(true).catch(() => undefined));
  const tally = new Tally();
  tally.sent('warm-up');
  await good.publishAsync(`${run}/good/d`, Buffer.from('warm-up'), { qos: 1 });
  const stopAt = Date.now() + ATTACK_MS;
  const rss: number[] = [];
  const sampler = setInterval(() => {
    const r = ferry.rssKiB();
    if (r !== undefined) rss.push(r);
  }, 250);
  closers.push(() => clearInterval(sampler));

  // 5. silent sockets (STOMP, AMQP 1.0) and STOMP heart-beat 0,0 connections
  for (let i = 0; i < SILENT_SOCKETS; i++) {
    await raw(ports.stomp).catch(() => undefined);
    await raw(ports.amqp).catch(() => undefined);
  }
  for (let i = 0; i < 50; i++) {
    const s = await raw(ports.stomp).catch(() => undefined);
    s?.write('CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0');
  }

  step('silent sockets open');
  // 6. an AMQP 1.0 receiver that never settles, and a device flooding its route
  const container = rhea.create_container();
  const receiverConn = container.connect({ host: '127.0.0.1', port: ports.amqp, reconnect: false });
  receiverConn.on('error', () => undefined);
  receiverConn.open_receiver({ source: { address: 'slow' }, autoaccept: false, credit_window: 1000 });
  closers.push(() => receiverConn.close());
  const flooder = await device(ports.mqtt, `${run}-flooder`);
  closers.push(() => flooder.endAsync(true).catch(() => undefined));
  for (let i = 0; i < 200; i++) flooder.publish(`${run}/slow/x`, Buffer.alloc(1024, 1), { qos: 1 });

  step('receiver and flooder');
  // 4. three persistent 3.1.1 sessions with 60,000 filters each (1,000 per SUBSCRIBE)
  const filterSessions = Promise.all(
    [0, 1, 2].map(async (k) => {
      const s = await raw(ports.mqtt);
      s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: `${run}-filters-${k}`, keepalive: 60 }));
      for (let p = 0; p < FILTERS / 1000; p++) {
        const subscriptions = Array.from({ length: 1000 }, (_, i) => ({ topic: `${run}/f${k}/${p}/${i}/+/#`, qos: 1 as const }));
        s.write(mqttPacket.generate({ cmd: 'subscribe', messageId: p + 1, subscriptions }));
      }
    }),
  );

  // 3. a slow QoS 1 subscriber that never reads, fed 16 KiB messages by a publisher
  const slowSub = await raw(ports.mqtt);
  slowSub.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${run}-slowsub`, keepalive: 60 }));
  slowSub.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${run}/fan/#`, qos: 1 }] }));
  slowSub.pause();
  const feeder = await device(ports.mqtt, `${run}-feeder`);
  closers.push(() => feeder.endAsync(true).catch(() => undefined));
  const feeding = loop(stopAt, async () => {
    await feeder.publishAsync(`${run}/fan/x`, Buffer.alloc(16 * 1024, 7), { qos: 1 });
  });

  step('slow subscriber fed');
  // 2. poison publishes: QoS 0 to sensors + 201 more levels, routed to Mosquitto
  const poisoner = await device(ports.mqtt, `${run}-poison`, { protocolVersion: 4 });
  closers.push(() => poisoner.endAsync(true).catch(() => undefined));
  const poisonTopic = ['sensors', ...Array.from({ length: 201 }, (_, i) => `l${i}`)].join('/');
  const poisoning = loop(stopAt, async () => {
    poisoner.publish(poisonTopic, 'poison', { qos: 0 });
    await delay(100);
  });

  // 1. SASL bombs, 7. byte floods
  const bombing = loop(stopAt, async () => {
    const s = await raw(ports.amqp);
    s.write(SASL_BOMB);
    await delay(50);
    s.destroy();
  });
  const garbage = Buffer.alloc(64 * 1024);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 2654435761) >>> 24;
  const floods = [
    // MQTT: CONNECT announcing 256 MB, then the bytes
    { port: ports.mqtt, head: Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]) },
    // STOMP: a SEND announcing a 2 GB body
    { port: ports.stomp, head: Buffer.from('SEND\ndestination:/queue/x\ncontent-length:2147483647\n\n') },
    // AMQP 1.0: the header, then a frame announcing 4 GB
    { port: ports.amqp, head: Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), u32(0xffffffff), Buffer.from([2, 0, 0, 0])]) },
    // garbage from the first byte
    { port: ports.mqtt, head: garbage.subarray(0, 16) },
    { port: ports.stomp, head: garbage.subarray(0, 16) },
  ];
  const flooding = floods.map((f) =>
    loop(stopAt, async () => {
      const s = await raw(f.port);
      s.write(f.head);
      for (let i = 0; i < 16 && !s.destroyed; i++) {
        if (!s.write(garbage)) await new Promise((r) => setTimeout(r, 20));
      }
      s.destroy();
    }),
  );

  step('poison, bombs, floods');
  // the good device, meanwhile: paho-mqtt in its own process, so the attackers' work in this
  // process does not delay its PUBACKs; it prints each one's latency
  const paho = await goodDevicePaho(ports.mqtt, `${run}-paho`, `${run}/good/d`, stopAt);
  const latencies: number[] = [];
  const late: string[] = [];
  for (const r of paho) {
    tally.sent(r.id);
    latencies.push(r.ms);
    if (r.ms < 0 || r.ms >= 1000) late.push(`${r.id} ${r.ms < 0 ? 'no PUBACK in 5 s' : `${r.ms.toFixed(0)} ms`}`);
  }
  const n = paho.length;
  await Promise.all([feeding, poisoning, bombing, ...flooding, filterSessions.catch(() => undefined)]);
  await waitFor(() => received.length >= n + 1, `${n + 1} good messages in RabbitMQ`, 30_000).catch(() => undefined);
  for (const m of received) tally.received(m.content.toString());
  clearInterval(sampler);

  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): string => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN).toFixed(1);
  const maxRss = Math.max(...rss);
  console.log(
    tally.summary(`good device under attack, ${ATTACK_MS / 1000} s`) +
      `; PUBACK ms p50 ${at(0.5)} p99 ${at(0.99)} max ${at(1)}; late ${late.length}${late.length > 0 ? ` (${late.slice(0, 5).join(', ')})` : ''}` +
      `; Ferry RSS ${(Math.min(...rss) / 1024).toFixed(0)}..${(maxRss / 1024).toFixed(0)} MiB over ${rss.length} samples; Ferry running ${ferry.running}`,
  );
  expect(ferry.running).toBe(true);
  expect(late).toEqual([]);
  expect(tally.counts).toMatchObject({ sent: n + 1, received: n + 1, duplicated: 0, lost: 0, unexpected: 0 });
  expect(maxRss).toBeLessThan(RSS_LIMIT_KIB);
  passed = true;
});
