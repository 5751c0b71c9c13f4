/**
 * Fault 5: a poison message lands in the dead-letter destination with its reason, and
 * the stream goes on.
 *
 * devices → Ferry mqtt-listener (child process) → amqp091 → topic exchange `telemetry`. Every
 * POISON_EVERY-th message is published under a topic whose routing key no queue is bound to, so
 * RabbitMQ returns it (mandatory): SINK_UNROUTABLE, a permanent failure. The route's
 * `onFailure.deadLetter` sends it to the `dead` exchange with the x-ferry-dead-letter-reason, x-ferry-route, x-ferry-original-address, ... headers;
 * the device gets its PUBACK (dead-lettered counts as delivered) and the rest of the stream is
 * not held up.
 */
import { jest } from '@jest/globals';
import { Tally } from '@ferry/testkit';
import { Fleet } from './support/fleet.js';
import { eventually, printCounts, runId, seconds, within } from './support/scenario.js';
import { Workspace } from './support/workspace.js';

jest.setTimeout(180_000);

const DEVICES = 2;
const PER_DEVICE = 5_000;
const WINDOW = 200;
const POISON_EVERY = 500;

const run = runId('f5');
const ws = new Workspace({ dir: 'poison', vhost: 'faults-poison' });
let fleet: Fleet | undefined;

afterAll(() => ws.close());

const poison = (i: number): boolean => i % POISON_EVERY === POISON_EVERY - 1;

it('a poison message lands in the dead-letter destination with its reason, and the stream goes on', async () => {
  const t0 = Date.now();
  await ws.open();
  const listenerPort = await ws.port();
  const good = new Tally();
  const dead = new Tally();
  const all = new Tally();

  await ws.counter({ exchange: 'telemetry', queue: 'telemetry-count', bindingKey: 'device.ok.#', tally: good });
  const dlq = await ws.counter({ exchange: 'dead', queue: 'dead-count', bindingKey: '#', tally: dead });

  const ferry = ws.ferry(`
gateway: { id: ${run}, http: { port: ${ws.adminPort}, host: 127.0.0.1 } }
connectors:
  devices: { type: mqtt-listener, port: ${listenerPort}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${ws.rabbitUrl()}"
    topology:
      exchanges: [ { name: telemetry, type: topic }, { name: dead, type: topic } ]
routes:
  - name: telemetry
    from: { connector: devices, topic: "${run}/+/+/telemetry" }
    to: { connector: rabbit, exchange: telemetry, routingKey: "device.{1}.{2}" }
    onFailure:
      deadLetter: { connector: rabbit, exchange: dead, routingKey: "dead.telemetry" }
`);
  await ferry.start();
  const diag = (): string => `${good.summary('main')}\n${dead.summary('dead')}\n${ferry.diagnostics()}`;

  fleet = ws.own(new Fleet({
    port: listenerPort,
    prefix: run,
    devices: DEVICES,
    perDevice: PER_DEVICE,
    window: WINDOW,
    tally: all,
    topic: (d, i) => `${run}/${poison(i) ? 'bad' : 'ok'}/dev${d}/telemetry`,
  }));
  const ids = (d: number, i: number): string => `${run}:d${d}:${i}`;
  for (let d = 0; d < DEVICES; d++) for (let i = 0; i < PER_DEVICE; i++) (poison(i) ? dead : good).sent(ids(d, i));
  const tStream = Date.now();
  await fleet.start();
  await within(fleet.done(), 'every device PUBACK', 120_000, diag);
  await eventually(() => good.complete && dead.complete, 30_000);
  await new Promise((r) => setTimeout(r, 500));

  const poisons = dead.counts.sent;
  printCounts('poison messages → dead letter, the stream goes on (main queue)', good);
  printCounts('poison messages → dead letter (dead-letter queue)', dead, {
    rejectedAtDevices: fleet.rejected.size,
    deadLetteredLogLines: ferry.grep(/message dead-lettered/).length,
    stream: seconds(Date.now() - tStream),
    total: seconds(Date.now() - t0),
  });

  // every good message went on; every poison one is in the dead-letter queue and only there
  expect({ ...good.counts, duplicated: 0 }).toEqual({ sent: DEVICES * PER_DEVICE - poisons, received: good.counts.received, unique: DEVICES * PER_DEVICE - poisons, duplicated: 0, lost: 0, unexpected: 0 });
  expect({ ...dead.counts, duplicated: 0 }).toEqual({ sent: poisons, received: dead.counts.received, unique: poisons, duplicated: 0, lost: 0, unexpected: 0 });
  expect(poisons).toBe(DEVICES * (PER_DEVICE / POISON_EVERY));
  // dead-lettered counts as delivered: the device got PUBACK 0x00, not a refusal
  expect(fleet.rejected.size).toBe(0);
  // each copy says why, where it came from and where it failed
  for (const [id, m] of dlq.last) {
    const h = m.properties.headers ?? {};
    expect({ id, reason: String(h['x-ferry-dead-letter-reason']) }).toEqual({ id, reason: expect.stringContaining('SINK_UNROUTABLE') as unknown });
    // header names: DEAD_LETTER_HEADERS in packages/router/src/engine.ts
    expect(h['x-ferry-route']).toBe('telemetry');
    expect(String(h['x-ferry-original-address'])).toMatch(new RegExp(`^${run}/bad/dev\\d/telemetry$`));
    expect(h['x-ferry-gateway']).toBe(run);
    expect(m.content.toString()).toBe(id); // the body, byte for byte
  }
  ws.passed = true;
});
