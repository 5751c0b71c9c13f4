/**
 * The `stomp` connector against ActiveMQ 5.17 (STOMP 1.2): /queue round trips both ways with
 * bytes and headers intact, ACK on accept, NACK (poison ack → ActiveMQ.DLQ) on reject, release
 * left unacknowledged until the subscription ends. The far side is a raw STOMP client on a
 * bare socket with the package's frame codec, so nothing of stompjs is on both ends.
 */
import { jest } from '@jest/globals';
import { FerryError, createMessage, type InboundDelivery } from '@ferry/core';
import { brokerPorts, Tally, waitFor } from '@ferry/testkit';
import { headerValue } from '../../packages/stomp/src/frame/frame.js';
import { RawStomp, activemqOptions, buildConnector, parseFrom, parseTo, uniq, type Built } from './helpers.js';

jest.setTimeout(30_000);

const started: Built[] = [];
const raws: RawStomp[] = [];

afterEach(async () => {
  while (started.length > 0) await started.pop()!.connector.stop();
  while (raws.length > 0) await raws.pop()!.close();
});

async function raw(): Promise<RawStomp> {
  const r = await RawStomp.connect(brokerPorts().activemqStomp, { login: 'admin', passcode: 'admin', host: 'localhost' });
  raws.push(r);
  return r;
}

async function connector(options: Record<string, unknown> = {}): Promise<Built> {
  const b = buildConnector({ ...activemqOptions(), ...options });
  started.push(b);
  await b.connector.start();
  expect(b.connector.state).toBe('up');
  return b;
}

const headerCases: [string, string][] = [
  ['colon', 'a:b:c'],
  ['newline', 'l1\nl2'],
  ['cr', 'a\rb'],
  ['backslash', 'C:\\new\\reports'],
  ['spaces', '  padded  '],
  ['unicode', 'héllo ✓'],
];

test('sink → ActiveMQ /queue/<q>: RECEIPT-confirmed, bytes and headers intact at a raw consumer', async () => {
  const q = `/queue/${uniq('amq-sink')}`;
  const r = await raw();
  await r.request('SUBSCRIBE', [['id', 's1'], ['destination', q], ['ack', 'auto']]);
  const b = await connector();
  expect((b.connector as unknown as { flavor: string }).flavor).toBe('activemq');
  const body = Buffer.from([0, 1, 0, 0xff, 0x0a, 0]);
  await b.connector.sink.write(
    createMessage({
      body,
      headers: new Map(headerCases),
      contentType: 'application/octet-stream',
      correlationId: 'corr-a',
      priority: 7,
      expiresAt: Date.now() + 60_000,
      source: { connector: 't', protocol: 'mqtt', address: 'a/b' },
    }),
    parseTo({ destination: q }),
  );
  await waitFor(() => r.messages().length === 1, 'the MESSAGE');
  const m = r.messages()[0]!;
  expect(Buffer.compare(m.body, body)).toBe(0);
  for (const [n, v] of headerCases) expect(headerValue(m, n)).toBe(v);
  expect(headerValue(m, 'content-type')).toBe('application/octet-stream');
  expect(headerValue(m, 'correlation-id')).toBe('corr-a');
  expect(headerValue(m, 'priority')).toBe('7');
  expect(headerValue(m, 'persistent')).toBe('true');
  expect(Number(headerValue(m, 'expires'))).toBeGreaterThan(Date.now() + 50_000);
});

test('source ← ActiveMQ /queue/<q>: bytes, headers, JMS fields mapped; accept → ACK (gone from the queue)', async () => {
  const q = `/queue/${uniq('amq-src')}`;
  const r = await raw();
  const tally = new Tally();
  const got: InboundDelivery[] = [];
  const b = await connector();
  await b.connector.openSources!([{ route: 'amq', from: parseFrom({ destination: q }) }], (d) => {
    got.push(d);
    tally.received(d.message.headers.get('n') as string);
    d.settlement.accept();
  });
  const body = Buffer.from([0xde, 0xad, 0, 0xbe, 0xef]);
  // counted as sent before the SEND: the source may get the MESSAGE before this client gets its RECEIPT
  tally.sent('first');
  await r.request('SEND', [['destination', q], ['n', 'first'], ['correlation-id', 'c1'], ['reply-to', '/queue/back'], ...headerCases], body);
  for (let i = 0; i < 100; i++) {
    tally.sent(`m${i}`);
    r.send('SEND', [['destination', q], ['n', `m${i}`]], Buffer.from(`m${i}`));
  }
  await waitFor(() => tally.complete, 'every message');
  console.log(tally.summary('activemq source'));
  expect(tally.counts).toMatchObject({ lost: 0, duplicated: 0, unexpected: 0 });
  const m = got[0]!.message;
  expect(Buffer.compare(m.body, body)).toBe(0);
  for (const [n, v] of headerCases) expect(m.headers.get(n)).toBe(v);
  expect(m.correlationId).toBe('c1');
  expect(m.replyTo).toBe('/queue/back');
  expect(m.messageId).toMatch(/^ID:/); // the JMSMessageID
  expect(typeof m.timestamp).toBe('number');
  expect(m.source.address).toBe(q);
  for (const h of ['message-id', 'ack', 'subscription', 'destination', 'timestamp', 'priority', 'expires', 'persistent']) expect(m.headers.has(h)).toBe(false);

  // every message was ACKed: a new consumer of the queue gets nothing
  await b.connector.stop();
  started.pop();
  await r.request('SUBSCRIBE', [['id', 'after'], ['destination', q], ['ack', 'auto']]);
  // one more message sent now: the queue hands out what it holds in order, so a message left
  // unacknowledged would come before it
  await r.request('SEND', [['destination', q], ['n', 'after']], Buffer.from('after'));
  await waitFor(() => r.messages().length > 0, 'the message sent after');
  expect(r.messages().map((f) => headerValue(f, 'n'))).toEqual(['after']);
});

test('reject → NACK: ActiveMQ poison-acks it to ActiveMQ.DLQ (no redelivery)', async () => {
  const q = `/queue/${uniq('amq-rej')}`;
  const marker = uniq('rej');
  const r = await raw();
  await r.request('SUBSCRIBE', [['id', 'dlq'], ['destination', '/queue/ActiveMQ.DLQ'], ['ack', 'auto']]);
  const seen: string[] = [];
  const b = await connector();
  await b.connector.openSources!([{ route: 'amq', from: parseFrom({ destination: q }) }], (d) => {
    const marker = d.message.headers.get('marker');
    seen.push(typeof marker === 'string' ? marker : JSON.stringify(marker));
    d.settlement.reject(new FerryError('SINK_REJECTED', 'no', { permanent: true }));
  });
  await r.request('SEND', [['destination', q], ['marker', marker], ['persistent', 'true']], Buffer.from('poison'));
  await waitFor(() => r.messages().some((f) => headerValue(f, 'marker') === marker), 'the message in ActiveMQ.DLQ');
  // one more behind it: the queue hands out in order, so a redelivery would come before this one
  const after = uniq('rej-after');
  await r.request('SEND', [['destination', q], ['marker', after]], Buffer.from('after'));
  await waitFor(() => seen.includes(after), 'the message sent after');
  expect(seen.filter((m) => m !== after)).toEqual([marker]);
});

test('release: left unacknowledged (an ActiveMQ NACK would dead-letter it); redelivered once the subscription ends', async () => {
  const q = `/queue/${uniq('amq-rel')}`;
  const r = await raw();
  const seen: string[] = [];
  const b = await connector();
  await b.connector.openSources!([{ route: 'amq', from: parseFrom({ destination: q }) }], (d) => {
    seen.push(String((d.message.meta.stomp as { redelivered?: boolean }).redelivered ?? 'n/a'));
    d.settlement.release(new FerryError('SINK_TIMEOUT', 'later'));
  });
  await r.request('SEND', [['destination', q]], Buffer.from('again'));
  await waitFor(() => seen.length === 1, 'first delivery');
  await b.connector.stop();
  started.pop();
  const again: string[] = [];
  const b2 = await connector();
  await b2.connector.openSources!([{ route: 'amq', from: parseFrom({ destination: q }) }], (d) => {
    again.push(d.message.body.toString());
    d.settlement.accept();
  });
  await waitFor(() => again.length === 1, 'redelivered to the next subscription');
  expect(again).toEqual(['again']);
});
