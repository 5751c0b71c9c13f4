/**
 * 10,000 messages queue → source connector → handler → sink connector → queue, counted at the
 * far side by a plain consumer: 0 lost, 0 duplicated, bodies and headers intact, the source
 * queue empty after.
 */
import { jest } from '@jest/globals';
import { FerryError, type InboundDelivery } from '@ferry/core';
import { createVhost, deleteVhost, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { buildConnector, parseFrom, parseTo, plainClient, type Built, type Plain } from './helpers.js';

jest.setTimeout(60_000);

let vhost: string;
let plain: Plain;
let source: Built;
let sink: Built;

beforeAll(async () => {
  vhost = await createVhost('amqp091-rt');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(source)?.connector.stop();
  await ifAssigned(sink)?.connector.stop();
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

test('round trip of 10,000 messages through a connector pair: 0 lost, 0 duplicated', async () => {
  const N = 10_000;
  const topology = {
    exchanges: [{ name: 'relay', type: 'direct' }],
    queues: [
      { name: 'rt-in', durable: true },
      { name: 'rt-out', durable: true },
    ],
    bindings: [{ queue: 'rt-out', source: 'relay', bindingKey: 'rt' }],
  };
  source = buildConnector(vhost, { topology });
  sink = buildConnector(vhost, { topology });
  await sink.connector.start();
  await source.connector.start();
  const to = parseTo({ exchange: 'relay', routingKey: 'rt' });
  const failures: unknown[] = [];
  const handler = (d: InboundDelivery): void => {
    sink.connector.sink.write(d.message, to).then(
      () => d.settlement.accept(),
      (err: unknown) => {
        failures.push(err);
        d.settlement.fail(FerryError.is(err) ? err : new FerryError('INTERNAL', String(err)));
      },
    );
  };

  const tally = new Tally();
  let bodiesIntact = true;
  await plain.ch.consume('rt-out', (m) => {
    if (m === null) return;
    const id = m.properties.messageId as string;
    tally.received(id);
    if (m.content.toString() !== `body-${id}` || m.properties.headers?.seq !== Number(id.slice(2))) bodiesIntact = false;
  }, { noAck: true });
  await source.connector.openSources!([{ route: 'rt', from: parseFrom({ queue: 'rt-in' }) }], handler);

  const t0 = Date.now();
  for (let i = 0; i < N; i++) {
    const id = `rt${i}`;
    tally.sent(id);
    if (!plain.confirm.sendToQueue('rt-in', Buffer.from(`body-${id}`), { messageId: id, persistent: true, headers: { seq: i } })) {
      await new Promise<void>((r) => plain.confirm.once('drain', () => r()));
    }
  }
  await plain.confirm.waitForConfirms();
  await waitFor(() => tally.counts.unique === N, 'every message at the far side', 50_000, 20);
  const ms = Date.now() - t0;
  // one more once every message is at the far side: the queue hands them to the source in order
  // and the sink publishes on one channel in order, so a late copy of an earlier one comes first
  const last = `rt${N}`;
  tally.sent(last);
  plain.confirm.sendToQueue('rt-in', Buffer.from(`body-${last}`), { messageId: last, persistent: true, headers: { seq: N } });
  await plain.confirm.waitForConfirms();
  await waitFor(() => tally.complete, 'the last message at the far side', 50_000, 20);
  console.log(tally.summary('round trip'), `in ${ms} ms (${Math.round((N / ms) * 1000)} msg/s), failures=${failures.length}`);
  expect(failures).toEqual([]);
  expect(tally.counts).toMatchObject({ sent: N + 1, unique: N + 1, lost: 0, duplicated: 0, unexpected: 0 });
  expect(bodiesIntact).toBe(true);
  await waitFor(async () => (await plain.ch.checkQueue('rt-in')).messageCount === 0, 'source queue drained');
  // the source counts an acceptance once the sink's confirm came back, after the far side has it
  await waitFor(() => source.metrics.count('messages_accepted_total') >= N + 1, 'every message accepted at the source');
  expect(source.metrics.count('messages_accepted_total')).toBe(N + 1);
  expect(sink.metrics.count('messages_sent_total')).toBe(N + 1);
});
