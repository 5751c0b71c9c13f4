/**
 * The connector's connection is closed from the server side (management API) in the middle of a
 * queue → connector → queue stream: pending writes fail at once and transiently, the connector
 * reconnects, re-declares its topology and resumes consuming, and nothing is lost.
 */
import { jest } from '@jest/globals';
import { FerryError, type InboundDelivery } from '@ferry/core';
import { createVhost, deleteVhost, Tally, waitFor, ifAssigned } from '@ferry/testkit';
import { buildConnector, checkQueueSafe, killConnection, parseFrom, parseTo, plainClient, publishMany, type Built, type Plain } from './helpers.js';

jest.setTimeout(60_000);

let vhost: string;
let plain: Plain;
let built: Built;

beforeAll(async () => {
  vhost = await createVhost('amqp091-reconnect');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(built)?.connector.stop();
  await ifAssigned(plain)?.close();
  await deleteVhost(vhost);
});

test('server-side connection kill mid-stream: transient write failures, reconnect, re-declare, 0 lost', async () => {
  const N = 10_000;
  built = buildConnector(vhost, {
    prefetch: 500,
    topology: {
      exchanges: [{ name: 'marker', type: 'fanout' }],
      queues: [
        { name: 'in', durable: true },
        { name: 'out', durable: true },
      ],
    },
  });
  const { connector, metrics, logger } = built;
  const to = parseTo({ exchange: '', routingKey: 'out' });
  const writeErrors: unknown[] = [];
  let pendingWrites = 0;
  // the broker drops the connection once 2,000 messages were handled
  let killed: Promise<number> | undefined;
  const killAt = (): void => {
    killed = killConnection(vhost, built.connectionName);
  };
  let handled = 0;
  const handler = (d: InboundDelivery): void => {
    if (++handled === 2_000) killAt();
    pendingWrites++;
    connector.sink.write(d.message, to).then(
      () => {
        pendingWrites--;
        d.settlement.accept();
      },
      (err: unknown) => {
        pendingWrites--;
        writeErrors.push(err);
        d.settlement.fail(FerryError.is(err) ? err : new FerryError('INTERNAL', String(err)));
      },
    );
  };

  await connector.start();
  expect(connector.state).toBe('up');
  // the management API must know the connection before the stream starts
  // (a list call only; the kill happens mid-stream)
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${(await import('@ferry/testkit')).brokerPorts().rabbitManagement}/api/vhosts/${encodeURIComponent(vhost)}/connections`, {
      headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') },
    });
    const list = (await res.json()) as { user_provided_name?: string }[];
    return list.some((c) => c.user_provided_name === built.connectionName);
  }, 'the connection in the management API', 15_000, 100);

  // proof of re-declaration: the marker exchange is gone before the kill and back after it
  await plain.ch.deleteExchange('marker');

  const tally = new Tally();
  const ids = Array.from({ length: N }, (_, i) => `k${i}`);
  ids.forEach((id) => tally.sent(id));
  await plain.ch.consume('out', (m) => {
    if (m !== null) tally.received(m.properties.messageId as string);
  }, { noAck: true });

  await connector.openSources!([{ route: 'relay', from: parseFrom({ queue: 'in' }) }], handler);
  await publishMany(plain.confirm, 'in', ids);

  await waitFor(() => killed !== undefined, 'the kill to be triggered');
  expect(await killed).toBe(1);
  await waitFor(() => tally.complete, 'every message at the far side', 45_000, 20);
  await waitFor(() => pendingWrites === 0, 'no write left pending');
  console.log(tally.summary('reconnect'), `writeErrors=${writeErrors.length}`);

  // nothing lost; duplicates are possible (a confirmed write whose source ack died with the connection)
  expect(tally.counts.lost).toBe(0);
  expect(tally.counts.unexpected).toBe(0);
  // writes pending at the kill failed, and only transiently
  expect(writeErrors.length).toBeGreaterThan(0);
  for (const e of writeErrors) {
    expect(FerryError.is(e)).toBe(true);
    expect((e as FerryError).permanent).toBe(false);
    expect(['SINK_CLOSED', 'NOT_CONNECTED']).toContain((e as FerryError).code);
  }
  // reconnected once, logged once, topology declared again
  expect(connector.state).toBe('up');
  expect(metrics.count('connector_reconnects_total')).toBe(1);
  expect(logger.lines.filter((l) => l.message.startsWith('connection lost'))).toHaveLength(1);
  expect(logger.lines.some((l) => l.message === 'reconnected')).toBe(true);
  await expect(plain.ch.checkExchange('marker')).resolves.toBeDefined();
  // the source queue is drained: every message was acknowledged in the end
  await waitFor(async () => {
    const q = await plain.ch.checkQueue('in');
    return q.messageCount === 0;
  }, 'in drained');
});

test('the broker cancels the consumer (queue deleted): the connector re-declares the queue and consumes again', async () => {
  const b = buildConnector(vhost, { topology: { queues: [{ name: 'fragile', durable: true }] } });
  try {
    const seen: string[] = [];
    await b.connector.start();
    await b.connector.openSources!([{ route: 'f', from: parseFrom({ queue: 'fragile' }) }], (d) => {
      seen.push(d.message.messageId ?? '?');
      d.settlement.accept();
    });
    await publishMany(plain.confirm, 'fragile', ['before']);
    await waitFor(() => seen.length === 1, 'first message');
    await plain.ch.deleteQueue('fragile'); // RabbitMQ sends basic.cancel to its consumers
    await waitFor(() => b.metrics.count('connector_reconnects_total') === 1 && b.connector.state === 'up', 'reconnected');
    expect(b.logger.lines.some((l) => l.level === 'warn' && l.message.includes('cancelled by the broker'))).toBe(true);
    await waitFor(async () => (await checkQueueSafe(plain.model, 'fragile'))?.consumerCount === 1, 'consumer back');
    await publishMany(plain.confirm, 'fragile', ['after']);
    await waitFor(() => seen.length === 2, 'second message');
    expect(seen).toEqual(['before', 'after']);
  } finally {
    await b.connector.stop();
  }
});
