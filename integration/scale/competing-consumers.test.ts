/**
 * Ferry replicas as competing consumers, each replica a connector of its own (as in its own
 * process), against the real brokers:
 * - amqp091: replicas on one shared queue each take a share and settle what they took; with
 *   `singleActiveConsumer` one replica takes everything while the others wait, and the next one
 *   takes over when it stops, nothing lost;
 * - mqtt: replicas in one shared subscription (`share`) on Mosquitto, MQTT 5 and 3.1.1, get each
 *   message once between them;
 * - stomp: replicas subscribed to one RabbitMQ queue through its STOMP plugin get each message
 *   once between them, and a replica that stops gives back what it took but did not settle.
 */
import { jest } from '@jest/globals';
import type { Connector, InboundDelivery } from '@ferry/core';
import { mqttDefinition, type MqttFrom, type MqttOptions } from '@ferry/mqtt';
import { Tally, brokerPorts, createVhost, deleteVhost, testContext, waitFor, ifAssigned } from '@ferry/testkit';
import { buildConnector, parseFrom, plainClient, type Built, type Plain } from '../amqp091/helpers.js';
import { device, end, prefix } from '../mqtt/helpers.js';
import { buildConnector as buildStomp, parseFrom as parseStompFrom, rabbitOptions as stompRabbitOptions, uniq, type Built as StompBuilt } from '../stomp-client/helpers.js';

jest.setTimeout(60_000);

/** One replica's consumer: counts what it took, settles it (accept) unless told to hold it. */
class Replica {
  readonly took: string[] = [];
  hold = false;
  readonly held: InboundDelivery[] = [];
  constructor(readonly tally: Tally) {}
  readonly deliver = (d: InboundDelivery): void => {
    const id = d.message.body.toString('utf8');
    this.took.push(id);
    if (id === 'probe') {
      // the probes that show a subscription is in place are not part of the counted stream
      d.settlement.accept();
      return;
    }
    if (this.hold) {
      this.held.push(d);
      return;
    }
    this.tally.received(id);
    d.settlement.accept();
  };
}

describe('amqp091: replicas on one queue', () => {
  let vhost: string;
  let plain: Plain;
  const started: Built[] = [];

  beforeAll(async () => {
    vhost = await createVhost('scale-amqp');
    plain = await plainClient(vhost);
    await plain.ch.assertExchange('jobs', 'topic', { durable: true });
  });
  afterAll(async () => {
    for (const b of started) await b.connector.stop();
    await ifAssigned(plain)?.close();
    await deleteVhost(vhost);
  });

  async function replica(gatewayId: string, from: Record<string, unknown>, r: Replica): Promise<Built> {
    const b = buildConnector(vhost, { prefetch: 20 }, gatewayId);
    started.push(b);
    await b.connector.start();
    await b.connector.openSources!([{ route: 'jobs', from: parseFrom(from) }], r.deliver);
    return b;
  }

  async function publishJobs(ids: readonly string[], tally: Tally): Promise<void> {
    ids.forEach((id) => tally.sent(id));
    for (const id of ids) plain.confirm.publish('jobs', 'job.a', Buffer.from(id), { persistent: true });
    await plain.confirm.waitForConfirms();
  }

  it('an explicit shared queue: three replicas split the stream, each message settled once', async () => {
    const tally = new Tally();
    const from = { exchange: 'jobs', bindingKey: 'job.#', queue: 'jobs-shared' };
    const replicas = [new Replica(tally), new Replica(tally), new Replica(tally)];
    for (const [i, r] of replicas.entries()) await replica(`ferry-${i}`, from, r);
    const ids = Array.from({ length: 600 }, (_, i) => `s${i}`);
    await publishJobs(ids, tally);
    await waitFor(() => tally.complete, 'every job at a replica', 20_000);
    console.log(tally.summary('shared queue, 3 replicas'), replicas.map((r) => r.took.length));
    expect(tally.counts).toMatchObject({ sent: 600, unique: 600, lost: 0, duplicated: 0, unexpected: 0 });
    for (const r of replicas) expect(r.took.length).toBeGreaterThan(0);
    expect((await plain.ch.checkQueue('jobs-shared')).consumerCount).toBe(3);
  });

  it('without a queue name each replica binds a queue of its own: every replica gets every message', async () => {
    const tally = new Tally();
    const from = { exchange: 'jobs', bindingKey: 'job.#' };
    const a = new Replica(new Tally());
    const b = new Replica(new Tally());
    await replica('ferry-x', from, a);
    await replica('ferry-y', from, b);
    await publishJobs(['f1', 'f2', 'f3'], tally);
    await waitFor(() => a.took.length === 3 && b.took.length === 3, 'both replicas have all three', 10_000);
    expect([a.took.sort(), b.took.sort()]).toEqual([
      ['f1', 'f2', 'f3'],
      ['f1', 'f2', 'f3'],
    ]);
  });

  it('singleActiveConsumer: one replica takes every message, the next takes over when it stops, 0 lost', async () => {
    const tally = new Tally();
    const from = { exchange: 'jobs', bindingKey: 'job.#', queue: 'jobs-sac', singleActiveConsumer: true };
    const first = new Replica(tally);
    const second = new Replica(tally);
    const firstBuilt = await replica('ferry-0', from, first);
    await replica('ferry-1', from, second);

    await publishJobs(Array.from({ length: 200 }, (_, i) => `a${i}`), tally);
    await waitFor(() => tally.counts.unique === 200, 'the first 200 at the active replica', 20_000);
    expect({ first: first.took.length, second: second.took.length }).toEqual({ first: 200, second: 0 });

    // the active replica goes with deliveries it took but never settled: they come back to the next
    first.hold = true;
    await publishJobs(Array.from({ length: 200 }, (_, i) => `b${i}`), tally);
    await waitFor(() => first.held.length > 0, 'the active replica holds unsettled deliveries', 10_000);
    await firstBuilt.connector.stop();
    await waitFor(() => tally.complete, 'every message at a replica', 20_000);
    console.log(tally.summary('single active consumer'), { first: first.took.length, second: second.took.length, heldAtStop: first.held.length });
    expect(tally.counts).toMatchObject({ sent: 400, unique: 400, lost: 0, unexpected: 0 });
    // order kept: the second replica got the b-messages in the order they were published
    const bs = second.took.filter((id) => id.startsWith('b')).map((id) => Number(id.slice(1)));
    expect(bs).toEqual([...bs].sort((x, y) => x - y));
    // each message settled by one replica: none was accepted twice
    expect(tally.counts.duplicated).toBe(0);
  });

  it('singleActiveConsumer needs the exchange form (a queue of your own is declared in topology)', () => {
    expect(() => parseFrom({ queue: 'q', singleActiveConsumer: true })).toThrow(/topology/);
  });
});

describe('mqtt: replicas in one shared subscription on Mosquitto', () => {
  const url = `mqtt://127.0.0.1:${brokerPorts().mosquitto}`;

  for (const protocolVersion of [5, 4] as const) {
    it(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: each message goes to one replica, 0 lost, 0 duplicated`, async () => {
      const topics = prefix(`share-v${protocolVersion}`);
      const tally = new Tally();
      const replicas: { connector: Connector<MqttFrom>; r: Replica }[] = [];
      for (let i = 0; i < 3; i++) {
        const options: MqttOptions = mqttDefinition.options.parse({ url, protocolVersion, clientId: `${topics.replaceAll('/', '-')}-r${i}`, clean: true });
        const connector = mqttDefinition.create(testContext(), `plant${i}`, options) as Connector<MqttFrom>;
        const r = new Replica(tally);
        replicas.push({ connector, r });
        await connector.start();
        await connector.openSources!([{ route: 'plant', from: mqttDefinition.from!.parse({ topic: `${topics}/+/temp`, qos: 1, share: 'ferry' }) }], r.deliver);
      }
      const publisher = await device(url, { protocolVersion: 5 });
      try {
        // a subscription is in place once a probe reaches a replica
        await waitFor(async () => {
          await publisher.publishAsync(`${topics}/probe/temp`, 'probe', { qos: 1 });
          return replicas.some(({ r }) => r.took.includes('probe'));
        }, 'the shared subscription in place', 10_000, 200);
        const ids = Array.from({ length: 300 }, (_, i) => `m${i}`);
        for (const id of ids) {
          tally.sent(id);
          await publisher.publishAsync(`${topics}/line${Number(id.slice(1)) % 3}/temp`, id, { qos: 1 });
        }
        await waitFor(() => tally.complete, 'every message at a replica', 20_000);
        const split = replicas.map(({ r }) => r.took.filter((id) => id !== 'probe').length);
        console.log(tally.summary(`shared subscription MQTT ${protocolVersion}`), split);
        expect(tally.counts).toMatchObject({ sent: 300, unique: 300, lost: 0, duplicated: 0, unexpected: 0 });
        expect(split.reduce((a, b) => a + b, 0)).toBe(300);
        expect(split.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      } finally {
        await end(publisher);
        for (const { connector } of replicas) await connector.stop();
      }
    });
  }

  it('a share name with a wildcard or separator is refused at load', () => {
    for (const share of ['a/b', 'a+', '#']) expect(() => mqttDefinition.from!.parse({ topic: 'x', share })).toThrow(/share name/);
  });
});

describe('stomp: replicas on one RabbitMQ queue', () => {
  let vhost: string;
  let plain: Plain;
  const started: StompBuilt[] = [];

  beforeAll(async () => {
    vhost = await createVhost('scale-stomp');
    plain = await plainClient(vhost);
  });
  afterAll(async () => {
    for (const b of started) await b.connector.stop();
    await ifAssigned(plain)?.close();
    await deleteVhost(vhost);
  });

  it('three replicas split the queue, each message settled once; a replica that stops gives back what it held: 0 lost', async () => {
    const q = uniq('jobs');
    await plain.ch.assertQueue(q, { durable: false });
    const tally = new Tally();
    const replicas = [new Replica(tally), new Replica(tally), new Replica(tally)];
    for (const r of replicas) {
      const b = buildStomp({ ...stompRabbitOptions(vhost), prefetch: 10 });
      started.push(b);
      await b.connector.start();
      await b.connector.openSources!([{ route: 'jobs', from: parseStompFrom({ destination: `/amq/queue/${q}` }) }], r.deliver);
    }
    const send = (ids: readonly string[]): void => {
      for (const id of ids) {
        tally.sent(id);
        plain.ch.sendToQueue(q, Buffer.from(id));
      }
    };
    send(Array.from({ length: 300 }, (_, i) => `s${i}`));
    await waitFor(() => tally.counts.unique === 300, 'the first 300 at the replicas', 20_000);
    expect(replicas.filter((r) => r.took.length > 0).length).toBeGreaterThanOrEqual(2);

    // replica 0 takes messages and holds them unsettled, then stops: RabbitMQ gives them to the others
    replicas[0]!.hold = true;
    send(Array.from({ length: 300 }, (_, i) => `t${i}`));
    await waitFor(() => replicas[0]!.held.length > 0, 'replica 0 holds unsettled messages', 10_000);
    await started[0]!.connector.stop();
    await waitFor(() => tally.complete, 'every message at a replica', 20_000);
    console.log(tally.summary('stomp queue, 3 replicas'), replicas.map((r) => r.took.length), { heldAtStop: replicas[0]!.held.length });
    expect(tally.counts).toMatchObject({ sent: 600, unique: 600, lost: 0, duplicated: 0, unexpected: 0 });
  });
});
