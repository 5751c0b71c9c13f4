/**
 * A queue source whose sink cannot be reached must not turn every queued message into a hot
 * loop. Without a bound, the sink fails at once with NOT_CONNECTED (transient), the engine
 * releases, the amqp091 consumer nacks with requeue=true, RabbitMQ redelivers at once, and again:
 * thousands of write attempts and as many `sink write failed` warn lines a second for 10
 * messages. Nothing is lost, but the broker and Ferry burn CPU and the log drowns for as long
 * as the destination is down.
 *
 * So a transient failure on a route without `onFailure.retry` is retried with backoff
 * (200 ms .. 5 s, at least 50 ms apart) for up to 30 s before the message is given back: the
 * message stays in flight (maxInFlight and the source's prefetch stop the intake) and no
 * redelivery happens during a short outage; and `sink write failed` is logged once per
 * (connector, error code), then summarized every 10 s. Attempts are counted from
 * `sink_failures_total`, not from log lines (those are rate-limited).
 */
import { jest } from '@jest/globals';
import { parseConfig } from '@ferry/config';
import { Gateway, PromMetrics, defaultRegistry } from '@ferry/gateway';
import { RecordingMetrics, captureLogger, createVhost, delay, deleteVhost, freePort, queueInfo, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { plainClient, publishConfirmed, runId, type Plain } from './helpers.js';

jest.setTimeout(40_000);

const run = runId('s5b');
const log = captureLogger();
let vhost: string;
let gateway: Gateway;
let plain: Plain;
/** the gateway's Prometheus metrics, recorded on the way for the counters this test reads */
let metrics: RecordingMetrics;

beforeAll(async () => {
  vhost = await createVhost('scen-storm');
  const nobody = await freePort(); // nothing listens here: the MQTT broker is unreachable
  const parsed = parseConfig(
    `
gateway: { id: ${run} }
connectors:
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology: { queues: [ { name: outbox } ] }
  plant:
    type: mqtt
    url: mqtt://127.0.0.1:${nobody}
    protocolVersion: 5
    reconnect: { initialMs: 200, maxMs: 1000 }
routes:
  - name: outbox
    from: { connector: rabbit, queue: outbox }
    to: { connector: plant, topic: "${run}/outbox" }
`,
    'release-storm.yaml',
    defaultRegistry(),
  );
  if (!parsed.ok) throw new Error(parsed.errors.map((e) => e.format()).join('\n'));
  metrics = new RecordingMetrics(new PromMetrics(parsed.config.gateway.id));
  gateway = await Gateway.load(parsed.config, { registry: defaultRegistry(), logger: log, metrics });
  await gateway.start();
  await waitFor(() => gateway.connectorStates()['rabbit'] === 'up', 'RabbitMQ connected');
  plain = await plainClient(vhost);
});

afterAll(async () => {
  await ifAssigned(gateway)?.stop(1000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

it('an unreachable sink does not turn queued messages into a hot requeue loop and a flood of warn lines', async () => {
  const N = 10;
  await Promise.all(Array.from({ length: N }, (_, i) => publishConfirmed(plain.confirm, '', 'outbox', Buffer.from(`o${i}`))));
  // every message taken by Ferry and failing (the broker of the sink is down)
  await waitFor(() => metrics.count('sink_failures_total', { connector: 'plant' }) >= N, 'a first write attempt of every message');
  const before = log.lines.length;
  const attemptsBefore = metrics.count('sink_failures_total', { connector: 'plant' });
  const releasedBefore = metrics.count('messages_released_total', { connector: 'rabbit' });
  // what is measured is a rate: attempts, releases and log lines within a 2 s window
  await delay(2000);
  const window = log.lines.slice(before);
  const attempts = metrics.count('sink_failures_total', { connector: 'plant' }) - attemptsBefore;
  const released = metrics.count('messages_released_total', { connector: 'rabbit' }) - releasedBefore;
  const failLines = window.filter((l) => l.message === 'sink write failed' || l.message === 'sink writes still failing').length;
  const warnLines = window.filter((l) => l.level === 'warn' || l.level === 'error').length;
  const q = await queueInfo(vhost, 'outbox');
  console.log(
    `${N} queued messages, sink unreachable, 2 s: ${attempts} write attempts, ${released} released (requeued), ${failLines} sink-failure lines, ${warnLines} warn/error lines; queue: ${JSON.stringify(q)}`,
  );
  // Retrying at once would make ~12,000 attempts, ~12,000 releases and ~12,000 warn lines in 2 s.
  // Each message waits at least 50 ms between attempts, backing off to 5 s (a handful each in
  // 2 s, 40 at the very most), and is not given back for 30 s.
  expect({ attemptsAtMost20PerMessage: attempts <= N * 20, released, failLinesAtMost1: failLines <= 1, warnLinesAtMost10: warnLines <= 10 }).toEqual({
    attemptsAtMost20PerMessage: true,
    released: 0,
    failLinesAtMost1: true,
    warnLinesAtMost10: true,
  });
  // nothing lost meanwhile: every message is still RabbitMQ's, held unacknowledged by Ferry (the
  // management API's counts lag by its stats interval, 5 s)
  await waitFor(async () => (await queueInfo(vhost, 'outbox'))?.unacked === N, `${N} messages unacknowledged in the queue`, 15_000, 250);
});
