/**
 * A delivery rejected at the far side is not accepted upstream, end to end through a
 * real Gateway, with clients that are not Ferry's code:
 *
 * - an AMQP 1.0 producer (rhea) → Ferry's amqp10-listener → route → Ferry's amqp10 client →
 *   a far AMQP 1.0 peer (rhea, playing a JMS consumer that refuses some orders): every
 *   message the peer rejects comes back to the producer as `rejected` with the peer's error
 *   condition, every other one as `accepted`; counted, none lost, none settled twice, none
 *   written twice (a permanent failure is never retried);
 * - the same with the route's `onFailure.deadLetter`: the rejected ones go to the dead letter
 *   (with the x-ferry-dead-letter-* headers) and the producer gets `accepted` once the dead
 *   letter confirmed (docs/route-files.md, onFailure);
 * - an MQTT 5 device → Ferry's mqtt-listener → amqp10 client → the rejecting peer: the device's
 *   PUBACK carries a failure reason code (≥ 0x80), never 0x00, for exactly the rejected ones.
 */
import { jest } from '@jest/globals';
import mqtt from 'mqtt';
import rhea from 'rhea';
import { dataSection } from '../../packages/amqp10/test/rhea-message.js';
import type { Gateway } from '@ferry/gateway';
import { freePort, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { FarPeer, type PeerTransfer } from '../../packages/amqp10/test/far-peer.js';
import { startGateway } from '../support/gateway.js';
import { device, runId } from '../scenarios/helpers.js';
import { client, openSender, outcomes, type TestClient } from '../amqp10/helpers.js';

jest.setTimeout(60_000);

/** How the far application refuses an order (an Artemis-like condition and text). */
const REFUSAL = { condition: 'amqp:precondition-failed', description: 'order refused by the consumer: unknown customer' };

/** Dead letters the peer holds unsettled while `holdDead.on` (to show the upstream accept waits for them). */
const holdDead = { on: false, held: [] as PeerTransfer[] };

/** The far peer: rejects what is marked bad (message-id or body starting with "bad"), accepts the rest, and the dead letters. */
function rejectingPeer(): FarPeer {
  return new FarPeer({
    onTransfer: (t: PeerTransfer) => {
      if (t.address.endsWith('.dead')) {
        if (holdDead.on) holdDead.held.push(t);
        else t.delivery.accept();
        return;
      }
      const id = String(t.message.message_id ?? '');
      const body = t.message.body as { content?: Buffer } | Buffer | undefined;
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body?.content ?? []);
      if (id.startsWith('bad') || bytes.subarray(0, 3).toString() === 'bad') t.delivery.reject(REFUSAL);
      else t.delivery.accept();
    },
  });
}

interface Producer extends TestClient {
  readonly sender: rhea.Sender;
  /** outcome by delivery id: 'accepted', or 'rejected <condition>' … (a second one kept as "A AND B") */
  readonly outcomes: Map<number, string>;
}

async function producer(port: number, address: string): Promise<Producer> {
  const c = await client(port);
  const sender = await openSender(c, address);
  return { ...c, sender, outcomes: outcomes(sender) };
}

/** Send `n` messages, every `badEvery`-th marked bad; returns the delivery id → message id map. */
function sendAll(p: Producer, n: number, badEvery: number, tally: Tally, tag: string): Map<number, string> {
  const ids = new Map<number, string>();
  let i = 0;
  const pump = (): void => {
    while (i < n && p.sender.sendable()) {
      const id = `${i % badEvery === 0 ? 'bad' : 'ok'}-${tag}-${i}`;
      i++;
      tally.sent(id);
      const d = p.sender.send({ message_id: id, application_properties: { n: rhea.types.wrap_int(i) }, body: dataSection(Buffer.from([0, 0xff, i & 0xff])) });
      ids.set(d.id, id);
    }
  };
  p.sender.on('sendable', pump);
  pump();
  return ids;
}

/**
 * Sends one more good message behind the counted ones and waits for its outcome; returns its
 * delivery id. It takes the same link to the listener, route and link to the far peer, so a
 * retried or repeated write of an earlier message would reach the peer before it, and an
 * outcome the listener settled before its own would reach the producer first.
 */
async function last(p: Producer, tag: string): Promise<number> {
  const d = p.sender.send({ message_id: `ok-${tag}-last`, body: dataSection(Buffer.from('last')) });
  await waitFor(() => p.outcomes.has(d.id), 'the outcome of the last message, behind the counted ones');
  return d.id;
}

/** The outcomes of the counted deliveries: all but those of `last`. */
function counted(p: Producer, lasts: number[]): Map<number, string> {
  return new Map([...p.outcomes].filter(([d]) => !lasts.includes(d)));
}

describe('a rejected delivery at the far side is not accepted upstream', () => {
  const run = runId('rej');
  let peer: FarPeer;
  let gateway: Gateway;
  let amqpPort: number;
  let mqttPort: number;
  const producers: Producer[] = [];
  const devices: mqtt.MqttClient[] = [];

  beforeAll(async () => {
    peer = rejectingPeer();
    await peer.start();
    amqpPort = await freePort();
    mqttPort = await freePort();
    gateway = await startGateway(`
gateway: { id: ${run} }
connectors:
  producers: { type: amqp10-listener, port: ${amqpPort}, host: 127.0.0.1, anonymous: true }
  devices:   { type: mqtt-listener, port: ${mqttPort}, host: 127.0.0.1, anonymous: true }
  far:       { type: amqp10, url: "amqp://127.0.0.1:${peer.port}", reconnect: { initialMs: 100, maxMs: 500 } }
routes:
  - name: orders
    from: { connector: producers, address: "${run}.orders" }
    to:   { connector: far, address: "jms.queue.orders" }
  - name: orders-dl
    from: { connector: producers, address: "${run}.orders-dl" }
    to:   { connector: far, address: "jms.queue.orders2" }
    onFailure:
      deadLetter: { connector: far, address: "jms.queue.orders.dead" }
  - name: readings
    from: { connector: devices, topic: "${run}/+/reading" }
    to:   { connector: far, address: "jms.queue.readings.{1}" }
`);
  });

  afterAll(async () => {
    for (const p of producers) await p.close();
    for (const d of devices) await d.endAsync(true).catch(() => undefined);
    await ifAssigned(gateway)?.stop(2000);
    await ifAssigned(peer)?.stop();
  });

  it('AMQP 1.0 producer → listener → amqp10 → far peer: the rejected ones are rejected upstream with the peer\'s condition, the rest accepted; 300 counted', async () => {
    const N = 300;
    const p = await producer(amqpPort, `${run}.orders`);
    producers.push(p);
    const tally = new Tally();
    const ids = sendAll(p, N, 3, tally, 'a');
    await waitFor(() => p.outcomes.size === N, 'an outcome for every delivery', 20_000);
    const lastId = await last(p, 'a');
    const byOutcome = new Map<string, string[]>();
    for (const [d, o] of counted(p, [lastId])) byOutcome.set(o, [...(byOutcome.get(o) ?? []), ids.get(d) as string]);
    const rejected = byOutcome.get(`rejected ${REFUSAL.condition}`) ?? [];
    const accepted = byOutcome.get('accepted') ?? [];
    console.log(`far peer rejecting every 3rd: ${accepted.length} accepted, ${rejected.length} rejected upstream, outcomes ${JSON.stringify([...byOutcome.keys()])}`);
    expect([...byOutcome.keys()].sort()).toEqual(['accepted', `rejected ${REFUSAL.condition}`]);
    expect(rejected.every((id) => id.startsWith('bad-'))).toBe(true);
    expect(accepted.every((id) => id.startsWith('ok-'))).toBe(true);
    expect(rejected).toHaveLength(N / 3);
    expect(accepted).toHaveLength(N - N / 3);
    // at the far peer: every message exactly once (a permanent failure is not retried)
    const atPeer = peer.transfers.filter((t) => t.address === 'jms.queue.orders' && t.message.message_id !== 'ok-a-last');
    for (const t of atPeer) tally.received(String(t.message.message_id));
    console.log(tally.summary('AMQP 1.0 producer → Ferry → rejecting far peer'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
    expect(p.errors).toEqual([]);
  });

  it('the refusal\'s description reaches the producer in the rejected outcome', async () => {
    const p = await producer(amqpPort, `${run}.orders`);
    producers.push(p);
    const states: unknown[] = [];
    p.sender.on('rejected', (ctx: rhea.EventContext) => states.push(ctx.delivery?.remote_state));
    p.sender.send({ message_id: 'bad-desc', body: dataSection(Buffer.from('x')) });
    await waitFor(() => states.length === 1, 'the rejected outcome');
    const err = (states[0] as { error?: { condition?: string; description?: string } }).error;
    expect(err?.condition).toBe(REFUSAL.condition);
    expect(err?.description).toContain(REFUSAL.description);
  });

  it('with onFailure.deadLetter the rejected ones go to the dead letter and are accepted upstream once it confirmed; 150 counted', async () => {
    const N = 150;
    const before = peer.transfers.length;
    const p = await producer(amqpPort, `${run}.orders-dl`);
    producers.push(p);
    const tally = new Tally();
    holdDead.on = true;
    const ids = sendAll(p, N, 3, tally, 'd');
    // the good ones are accepted; the rejected ones wait for their dead letter's confirm
    await waitFor(() => holdDead.held.length === N / 3 && p.outcomes.size === N - N / 3, 'the dead letters held at the peer', 20_000);
    const lasts = [await last(p, 'd1')];
    expect(counted(p, lasts).size).toBe(N - N / 3);
    expect([...counted(p, lasts).keys()].every((d) => String(ids.get(d)).startsWith('ok-'))).toBe(true);
    holdDead.on = false;
    for (const t of holdDead.held.splice(0)) t.delivery.accept();
    await waitFor(() => counted(p, lasts).size === N, 'an outcome for every delivery', 20_000);
    lasts.push(await last(p, 'd2'));
    expect([...new Set(p.outcomes.values())]).toEqual(['accepted']);
    const mine = peer.transfers.slice(before);
    const first = mine.filter((t) => t.address === 'jms.queue.orders2' && !['ok-d1-last', 'ok-d2-last'].includes(String(t.message.message_id)));
    const dead = mine.filter((t) => t.address === 'jms.queue.orders.dead');
    for (const t of first) tally.received(String(t.message.message_id));
    console.log(tally.summary('AMQP 1.0 producer → Ferry → rejecting far peer, with a dead letter'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
    // exactly the rejected ones, once each, in the dead letter
    const badIds = [...ids.values()].filter((id) => id.startsWith('bad-')).sort();
    expect(dead.map((t) => String(t.message.message_id)).sort()).toEqual(badIds);
    const ap = (dead[0]?.message.application_properties ?? {}) as Record<string, unknown>;
    expect(String(ap['x-ferry-dead-letter-reason'])).toMatch(/^SINK_REJECTED: .*amqp:precondition-failed: order refused by the consumer/);
    expect(ap['x-ferry-route']).toBe('orders-dl');
    expect(ap['x-ferry-attempts']).toBeDefined();
    expect(String(ap['x-ferry-failed-destination'])).toContain('jms.queue.orders2');
    // the message itself, as received: its body bytes and its typed property
    const deadBody = dead[0]?.message.body as { content?: Buffer } | undefined;
    expect(Buffer.from(deadBody?.content ?? []).subarray(0, 2)).toEqual(Buffer.from([0, 0xff]));
    expect(typeof ap['n']).toBe('number');
  });

  it('MQTT 5 device → mqtt-listener → amqp10 → far peer rejecting: the PUBACK carries a failure reason code for exactly those; 100 counted', async () => {
    const d = await device(mqttPort, `${run}-dev`);
    devices.push(d);
    const N = 100;
    const tally = new Tally();
    const codes = new Map<string, number>();
    const before = peer.transfers.length;
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const id = `${i % 4 === 0 ? 'bad' : 'ok'}-m${i}`;
        tally.sent(id);
        try {
          const pkt = await d.publishAsync(`${run}/dev${i % 5}/reading`, Buffer.from(id), { qos: 1 });
          codes.set(id, (pkt as { reasonCode?: number } | undefined)?.reasonCode ?? 0);
        } catch (e) {
          codes.set(id, (e as { code?: number }).code ?? -1);
        }
      }),
    );
    expect(codes.size).toBe(N);
    for (const [id, rc] of codes) {
      if (id.startsWith('bad')) expect({ id, failure: rc >= 0x80 }).toEqual({ id, failure: true });
      else expect({ id, rc }).toEqual({ id, rc: 0 });
    }
    console.log(`MQTT 5 PUBACK reason codes seen: ${JSON.stringify([...new Set(codes.values())].map((c) => `0x${c.toString(16)}`))}`);
    const atPeer = peer.transfers.slice(before).filter((t) => t.address.startsWith('jms.queue.readings.'));
    for (const t of atPeer) {
      const body = t.message.body as { content?: Buffer };
      tally.received(Buffer.from(body.content ?? []).toString());
    }
    console.log(tally.summary('MQTT 5 device → Ferry → rejecting far peer'));
    expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
  });
});
