/**
 * Fault: kill -9 of the edge broker holding what its listeners owe their clients.
 *
 * The embedded default's shape (devices → mqtt-listener → the same listener, a stomp-listener
 * and an amqp10-listener) with a data directory (`gateway.spool`). Two MQTT subscribers hold
 * persistent sessions (3.1.1 clean session 0, MQTT 5 session expiry) and are away; nobody reads
 * the STOMP /queue or the AMQP 1.0 address. A publisher's QoS 1 messages and retained messages
 * are PUBACKed only once every listener stored its copy. Then Ferry gets SIGKILL (no drain, no
 * close of the store) and is started again: every acknowledged message must reach every
 * subscriber, the queues' readers and the retained topic. Every client is a third-party one
 * (paho-mqtt, stomp.py, qpid-proton: integration/faults/support/listener-clients.py). No broker.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { Tally } from '@ferry/testkit';
import { printCounts, runId, seconds, until } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(60_000);

const MESSAGES = 200;
const RETAINED = 5;
const CLIENTS = join(import.meta.dirname, 'support', 'listener-clients.py');
const PYTHON = '/usr/bin/python3';

const run = runId('ls');
const ws = new Workspace({ dir: 'listener-state-kill' });

afterAll(() => ws.close());

/** run a client command; its `<kind> <payload>` lines, and whether it ended with `done` */
function client(args: (string | number)[]): Promise<{ lines: string[]; done: boolean; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [CLIENTS, ...args.map(String)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr.on('data', (b: Buffer) => (text += b.toString()));
    child.on('error', (err) => reject(new Error(`${PYTHON} ${CLIENTS}: ${err.message} (integration/brokers/install.sh installs python3-paho-mqtt, python3-stomp, python3-qpid-proton)`)));
    child.on('exit', () => {
      const lines = text.split('\n').filter((l) => l !== '');
      resolve({ lines, done: lines.at(-1) === 'done', text });
    });
  });
}

const payloads = (lines: string[], kind: string): string[] => lines.filter((l) => l.startsWith(`${kind} `)).map((l) => l.slice(kind.length + 1));

it('kill -9 with persistent MQTT sessions, retained messages and STOMP / AMQP 1.0 queues holding acknowledged messages: after the restart every one is delivered', async () => {
  const t0 = Date.now();
  await ws.open();
  const [mqttPort, stompPort, amqpPort] = [await ws.port(), await ws.port(), await ws.port()];
  const ferry = ws.ferry(`gateway:
  id: edge-kill
  http: { port: ${ws.adminPort}, host: 127.0.0.1 }
  spool: { dir: data }
connectors:
  devices: { type: mqtt-listener, port: ${mqttPort}, host: 127.0.0.1, anonymous: true }
  web: { type: stomp-listener, port: ${stompPort}, host: 127.0.0.1, anonymous: true }
  apps: { type: amqp10-listener, port: ${amqpPort}, host: 127.0.0.1, anonymous: true }
routes:
  - name: temperatures
    from: { connector: devices, topic: "sensors/+/temperature" }
    to:
      - { connector: devices, topic: "ferry/{1}/temperature" }
      - { connector: web, destination: "/queue/temperature.{1}" }
      - { connector: apps, address: "temperature.{1}" }
`);
  await ferry.start();
  const tStarted = Date.now();
  const diag = ws.diag();

  // two persistent sessions subscribe and go away
  const subscribed = await Promise.all([client(['mqtt-subscribe', mqttPort, `${run}-keeper-311`, 4]), client(['mqtt-subscribe', mqttPort, `${run}-keeper-5`, 5])]);
  expect(subscribed.map((r) => (r.done ? 'done' : r.text))).toEqual(['done', 'done']);
  const published = await client(['mqtt-publish', mqttPort, run, MESSAGES, RETAINED]);
  expect(published.done ? 'done' : published.text).toBe('done');
  const acked = payloads(published.lines, 'acked');
  const retainedIds = acked.filter((id) => id.startsWith(`${run}-r`));
  const messageIds = acked.filter((id) => !id.startsWith(`${run}-r`));

  // what each reader is owed: every message acknowledged to the publisher
  const readers = ['mqtt 3.1.1 session', 'mqtt 5 session', 'stomp /queue', 'amqp 1.0 address', 'retained'];
  const tally = new Tally();
  for (const reader of readers) for (const id of reader === 'retained' ? retainedIds : messageIds) tally.sent(`${reader}|${id}`);

  const tPublished = Date.now();
  await ferry.kill9();
  await ferry.start();
  const tRestarted = Date.now();
  // the restarted listeners read their state back before they listen: one line each
  await until(() => readFileSync(ferry.logFile, 'utf8').split('\n').filter((l) => l.includes('listener state restored')).length >= 6, 'the restarted listeners restore their state', 15_000, diag);

  const drained = await Promise.all([
    client(['mqtt-drain', mqttPort, `${run}-keeper-311`, 4, messageIds.length]),
    client(['mqtt-drain', mqttPort, `${run}-keeper-5`, 5, messageIds.length]),
    client(['stomp-drain', stompPort, '/queue/temperature.hall', messageIds.length]),
    client(['amqp-drain', amqpPort, 'temperature.hall', messageIds.length]),
    client(['mqtt-retained', mqttPort, retainedIds.length]),
  ]);
  const tDrained = Date.now();
  drained.forEach((r, i) => {
    for (const id of payloads(r.lines, i === 4 ? 'retained' : 'got')) tally.received(`${readers[i] as string}|${id}`);
  });
  printCounts('kill -9 of the edge broker holding listener state (paho-mqtt, stomp.py, qpid-proton)', tally, {
    acknowledged: acked.length,
    perReader: readers.map((r, i) => `${r}=${payloads((drained[i] as { lines: string[] }).lines, i === 4 ? 'retained' : 'got').length}`).join(','),
    start: seconds(tStarted - t0),
    subscribeAndPublish: seconds(tPublished - tStarted),
    killAndRestart: seconds(tRestarted - tPublished),
    drain: seconds(tDrained - tRestarted),
    total: seconds(Date.now() - t0),
  });
  expect(ferry.exits[0]).toBe('SIGKILL');
  expect(acked).toHaveLength(MESSAGES + RETAINED);
  const c = tally.counts;
  expect({ lost: c.lost, unexpected: c.unexpected, done: drained.map((r) => r.done) }).toEqual({ lost: 0, unexpected: 0, done: [true, true, true, true, true] });
  ws.passed = true;
});
