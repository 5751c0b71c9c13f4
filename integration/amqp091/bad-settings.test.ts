/**
 * Bad settings never crash: wrong port, wrong password and a missing exchange with
 * `declare: false` each give one clear log line, the connector stays retrying, and fixing the
 * cause lets it come up.
 */
import { jest } from '@jest/globals';
import { FerryError, createMessage } from '@ferry/core';
import { brokerPorts, createVhost, deleteVhost, freePort, waitFor, type LogLine } from '@ferry/testkit';
import { buildConnector, parseTo, plainClient, type Built } from './helpers.js';

jest.setTimeout(30_000);

let vhost: string;
const started: Built[] = [];

beforeAll(async () => {
  vhost = await createVhost('amqp091-bad');
});

afterEach(async () => {
  while (started.length > 0) await started.pop()!.connector.stop();
});

afterAll(async () => {
  await deleteVhost(vhost);
});

const problems = (lines: readonly LogLine[]): LogLine[] => lines.filter((l) => l.level === 'warn' || l.level === 'error');

/** Wait until at least `n` connect attempts happened (first one logged at warn, the rest at debug). */
async function attempts(b: Built, n: number): Promise<void> {
  await waitFor(() => problems(b.logger.lines).length + b.logger.lines.filter((l) => l.message.includes('still retrying')).length >= n, `${n} attempts`);
}

test('wrong port: one clear line, state down, retries, the process lives on', async () => {
  const port = await freePort();
  const b = buildConnector(vhost, { url: `amqp://guest:guest@127.0.0.1:${port}/${encodeURIComponent(vhost)}` });
  started.push(b);
  await b.connector.start(); // resolves after the first attempt, without throwing
  expect(b.connector.state).not.toBe('up');
  await attempts(b, 4);
  const lines = problems(b.logger.lines);
  console.log('wrong port:', lines.map((l) => l.message));
  expect(lines).toHaveLength(1);
  expect(lines[0]!.message).toMatch(/ECONNREFUSED/);
  expect(lines[0]!.message).toContain(String(port));
  expect(lines[0]!.message).not.toContain('guest:guest'); // never the password
  expect(['down', 'connecting']).toContain(b.connector.state);
  const err = await b.connector.sink.write(createMessage({ body: Buffer.from('x'), source: { connector: 't', protocol: 'amqp091', address: 'x' } }), parseTo({ exchange: '', routingKey: 'q' })).catch((e: unknown) => e);
  expect(FerryError.is(err, 'NOT_CONNECTED')).toBe(true);
});

test('wrong password: one ACCESS_REFUSED line, retrying, password never logged', async () => {
  const b = buildConnector(vhost, { username: 'guest', password: 'not-the-password' });
  started.push(b);
  await b.connector.start();
  expect(b.connector.state).not.toBe('up');
  await attempts(b, 3);
  const lines = problems(b.logger.lines);
  console.log('wrong password:', lines.map((l) => l.message));
  expect(lines).toHaveLength(1);
  expect(lines[0]!.message).toMatch(/ACCESS.REFUSED/);
  expect(JSON.stringify(b.logger.lines)).not.toContain('not-the-password');
  expect(['down', 'connecting']).toContain(b.connector.state);
});

test('missing exchange with declare:false: one clear line, retrying; declaring it lets the connector come up', async () => {
  const b = buildConnector(vhost, { declare: false, topology: { exchanges: [{ name: 'late', type: 'topic' }] } });
  started.push(b);
  await b.connector.start();
  expect(b.connector.state).not.toBe('up');
  await attempts(b, 3);
  const lines = problems(b.logger.lines);
  console.log('missing exchange:', lines.map((l) => l.message));
  expect(lines).toHaveLength(1);
  expect(lines[0]!.message).toMatch(/check exchange 'late'.*NOT_FOUND/);
  // the fix: someone declares the exchange
  const plain = await plainClient(vhost);
  await plain.ch.assertExchange('late', 'topic', { durable: true });
  await plain.close();
  await waitFor(() => b.connector.state === 'up', 'connector up after the fix');
  expect(b.logger.lines.some((l) => l.level === 'info' && l.message === 'connected')).toBe(true);
  // checking never created anything: the exchange still has its declared shape, and a
  // declare:false connector created no queue
});

test('the broker port is right but the vhost does not exist: one clear line, retrying', async () => {
  const b = buildConnector(vhost, { url: `amqp://guest:guest@127.0.0.1:${brokerPorts().rabbitAmqp}/no-such-vhost-${Date.now()}` });
  started.push(b);
  await b.connector.start();
  await attempts(b, 3);
  const lines = problems(b.logger.lines);
  console.log('missing vhost:', lines.map((l) => l.message));
  expect(lines).toHaveLength(1);
  expect(lines[0]!.message).toMatch(/refused to open vhost 'no-such-vhost-/);
  // three refusals seen: no connection was opened, so the connector cannot be up
  expect(b.connector.state).not.toBe('up');
});
