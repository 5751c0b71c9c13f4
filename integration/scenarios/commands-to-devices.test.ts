/**
 * Scenario 3: commands back to devices. A RabbitMQ queue → Ferry → the devices
 * connected to Ferry's mqtt-listener, the topic filled from the message's `device` header.
 * Each device receives only its own commands, counted. A command without the header cannot
 * fill the template: it is rejected (basic.nack requeue=false) and dead-lettered through the
 * queue's x-dead-letter-exchange, and nothing is ever published to a half-filled topic.
 */
import { jest } from '@jest/globals';
import type { MqttClient } from 'mqtt';
import type { Gateway } from '@ferry/gateway';
import { captureLogger, createVhost, deleteVhost, freePort, queueInfo, rabbitUrl, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { collectQueue, device, plainClient, publishConfirmed, runId, type Plain } from './helpers.js';

jest.setTimeout(60_000);

const DEVICES = 3;
const PER_DEVICE = 300;
const HEADERLESS = 5;
const run = runId('s3');
const log = captureLogger();
let vhost: string;
let gateway: Gateway;
let listenerPort: number;
let plain: Plain;
const clients: MqttClient[] = [];

beforeAll(async () => {
  vhost = await createVhost('scen-commands');
  listenerPort = await freePort();
  gateway = await startGateway(
    `
gateway: { id: ${run} }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: commands-dlx, type: fanout } ]
      queues:
        - { name: device-commands, arguments: { x-dead-letter-exchange: commands-dlx } }
        - { name: dead-commands }
      bindings: [ { queue: dead-commands, source: commands-dlx } ]
routes:
  - name: commands
    from: { connector: rabbit, queue: device-commands }
    to: { connector: devices, topic: "${run}/devices/{header.device}/cmd" }
`,
    log,
  );
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it('delivers each command to its device only, counted; a command without the header is dead-lettered, never half-published', async () => {
  const tallies: Tally[] = [];
  const foreign: string[] = [];
  /** each device's last command, sent after the counted ones and not counted */
  const marked: boolean[] = [];
  for (let d = 0; d < DEVICES; d++) {
    const c = await device(listenerPort, `${run}-dev${d}`);
    clients.push(c);
    await c.subscribeAsync(`${run}/devices/dev${d}/cmd`, { qos: 1 });
    const t = new Tally();
    tallies.push(t);
    c.on('message', (topic, payload, packet) => {
      const up = (packet.properties?.userProperties ?? {}) as Record<string, unknown>;
      if (topic !== `${run}/devices/dev${d}/cmd` || up['device'] !== `dev${d}`) foreign.push(`dev${d} got ${topic} ${payload.toString()}`);
      if (payload.toString() === `dev${d}-last`) marked[d] = true;
      else t.received(payload.toString());
    });
  }
  // a monitor on everything under the run's prefix sees every topic the listener publishes to
  const monitor = await device(listenerPort, `${run}-monitor`);
  clients.push(monitor);
  await monitor.subscribeAsync(`${run}/#`, { qos: 1 });
  const topics: string[] = [];
  let monitorMarks = 0;
  monitor.on('message', (topic, payload) => (payload.toString().endsWith('-last') ? monitorMarks++ : topics.push(topic)));

  // interleaved commands for every device, plus a few without the `device` header
  const publishes: Promise<void>[] = [];
  for (let i = 0; i < PER_DEVICE; i++) {
    for (let d = 0; d < DEVICES; d++) {
      const id = `dev${d}-cmd${i}`;
      tallies[d]!.sent(id);
      publishes.push(publishConfirmed(plain.confirm, '', 'device-commands', Buffer.from(id), { headers: { device: `dev${d}`, seq: i }, contentType: 'text/plain' }));
    }
    if (i % (PER_DEVICE / HEADERLESS) === 0) {
      publishes.push(publishConfirmed(plain.confirm, '', 'device-commands', Buffer.from(`headerless-${i}`), { headers: { seq: i } }));
    }
  }
  await Promise.all(publishes);

  await waitFor(() => tallies.every((t) => t.complete), 'every command at its device', 20_000);
  const dead = await collectQueue(plain.ch, 'dead-commands');
  await waitFor(() => dead.length >= HEADERLESS, 'headerless commands in the dead-letter queue');
  // the monitor's copies travel beside the devices' and may trail them on a busy machine
  await waitFor(() => topics.length >= DEVICES * PER_DEVICE, "the monitor's copy of every command", 20_000);
  // one more command per device, not counted: the queue hands them to Ferry in order and the
  // listener writes each session in order, so a duplicate or a stray topic comes before them
  await Promise.all(
    Array.from({ length: DEVICES }, (_, d) =>
      publishConfirmed(plain.confirm, '', 'device-commands', Buffer.from(`dev${d}-last`), { headers: { device: `dev${d}`, seq: 'last' }, contentType: 'text/plain' }),
    ),
  );
  await waitFor(() => marked.filter(Boolean).length === DEVICES && monitorMarks === DEVICES, 'the last command at every device and the monitor', 20_000);
  tallies.forEach((t, d) => console.log(t.summary(`RabbitMQ device-commands → Ferry → device dev${d}`)));
  for (const t of tallies) expect(t.counts).toEqual({ sent: PER_DEVICE, received: PER_DEVICE, unique: PER_DEVICE, duplicated: 0, lost: 0, unexpected: 0 });
  expect(foreign).toEqual([]);

  // dead-lettered by the broker because Ferry rejected them (x-death reason "rejected")
  const deadBodies = dead.map((m) => m.content.toString()).sort();
  console.log(`dead-commands: ${dead.length} (${deadBodies.join(', ')})`);
  expect(deadBodies).toEqual(Array.from({ length: HEADERLESS }, (_, k) => `headerless-${k * (PER_DEVICE / HEADERLESS)}`).sort());
  for (const m of dead) {
    const death = (m.properties.headers?.['x-death'] as { reason?: string; queue?: string }[] | undefined)?.[0];
    expect({ reason: death?.reason, queue: death?.queue }).toEqual({ reason: 'rejected', queue: 'device-commands' });
  }
  // the only topics ever published were fully filled ones
  expect(topics).toHaveLength(DEVICES * PER_DEVICE);
  expect(topics.filter((t) => !/\/devices\/dev\d+\/cmd$/.test(t))).toEqual([]);
  // the management API's figures lag by seconds: wait for them, then assert the exact state
  await waitFor(async () => (await queueInfo(vhost, 'device-commands'))?.messages === 0, 'device-commands empty', 15_000, 250);
  expect(await queueInfo(vhost, 'device-commands')).toEqual({ messages: 0, ready: 0, unacked: 0 });
  // one clear line per refused command
  const templateLines = log.lines.filter((l) => l.message === 'cannot fill a template');
  expect(templateLines).toHaveLength(HEADERLESS);
  expect(String(templateLines[0]!.fields['error'])).toMatch(/device/);
  console.log('template failure logged as:', templateLines[0]!.message, JSON.stringify(templateLines[0]!.fields));
});
