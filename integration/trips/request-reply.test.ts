/**
 * Request/reply through Ferry and real RabbitMQ: a requester on each of Ferry's listeners (an
 * MQTT 5 device on paho-mqtt, a STOMP client on stomp.py, an AMQP 1.0 client on qpid-proton)
 * sends requests with a correlation id and a reply-to; Ferry carries them to RabbitMQ, where a
 * plain amqplib service answers each one the way services answer (publish to `reply-to`, echo
 * `correlation-id`, and echo `x-correlation-id` when the id did not fit the property, as for
 * RabbitMQ's MQTT plugin); Ferry brings the replies back. Each requester must get every reply
 * with its exact correlation id: the device its bytes `de ad be ef 00 80`. Counted with Tally.
 * With `gateway.tracing.start`, W3C trace context follows each exchange: the device's own
 * `traceparent` reaches the service untouched, a STOMP request without one gets one from Ferry,
 * an AMQP 1.0 request's `traceparent` and `tracestate` reach it untouched, and the trace the
 * service propagates on its reply reaches the requester.
 */
import { jest } from '@jest/globals';
import type { ConsumeMessage } from 'amqplib';
import type { Gateway } from '@ferry/gateway';
import { Tally, captureLogger, createVhost, deleteVhost, freePort, rabbitUrl, waitFor, ifAssigned } from '@ferry/testkit';
import { startGateway } from '../support/gateway.js';
import { plainClient, runId, type Plain } from '../scenarios/helpers.js';
import { parseTraceParent } from '@ferry/core';
import { paho, pythonRequester, type Reply, type Request } from './clients.js';

jest.setTimeout(90_000);

const run = runId('rr');
const N = 20;
const DEADBEEF = 'deadbeef0080';
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACESTATE = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
let vhost: string;
let gateway: Gateway;
let ports: { mqtt: number; stomp: number; amqp10: number };
let plain: Plain;
/** what the service saw, for the checks on the AMQP 0-9-1 side */
const seen: ConsumeMessage[] = [];

beforeAll(async () => {
  vhost = await createVhost('trips-rr');
  ports = { mqtt: await freePort(), stomp: await freePort(), amqp10: await freePort() };
  gateway = await startGateway(
    `
gateway: { id: ${run}, tracing: { start: true } }
connectors:
  devices: { type: mqtt-listener, port: ${ports.mqtt}, host: 127.0.0.1, anonymous: true }
  web: { type: stomp-listener, port: ${ports.stomp}, host: 127.0.0.1, anonymous: true }
  amqp1: { type: amqp10-listener, port: ${ports.amqp10}, host: 127.0.0.1, anonymous: true }
  rabbit:
    type: amqp091
    url: "${rabbitUrl(vhost)}"
    topology:
      exchanges: [ { name: requests, type: topic }, { name: replies, type: topic } ]
      queues: [ { name: service } ]
      bindings: [ { queue: service, source: requests, bindingKey: "#" } ]
routes:
  - name: mqtt-requests
    from: { connector: devices, topic: "${run}/req/#" }
    to: { connector: rabbit, exchange: requests, routingKey: "{address}" }
  - name: stomp-requests
    from: { connector: web, destination: "/topic/${run}.sreq.#" }
    to: { connector: rabbit, exchange: requests, routingKey: "{address}" }
  - name: amqp10-requests
    from: { connector: amqp1, address: "${run}.areq" }
    to: { connector: rabbit, exchange: requests, routingKey: "{address}" }
  - name: mqtt-replies
    from: { connector: rabbit, exchange: replies, bindingKey: "${run}.dev.#" }
    to: { connector: devices, topic: "{address}" }
  - name: stomp-replies
    from: { connector: rabbit, exchange: replies, bindingKey: "${run}.web.*" }
    to: { connector: web, destination: "/topic/${run}.web.{1}" }
  - name: amqp10-replies
    from: { connector: rabbit, exchange: replies, bindingKey: "${run}.a10.*" }
    to: { connector: amqp1, address: "${run}.a10.{1}" }
`,
    captureLogger(),
  );
  await waitFor(() => gateway.ready(), 'gateway ready');
  plain = await plainClient(vhost);
  // the service: answers every request to its reply-to, echoing the correlation id
  await plain.ch.consume('service', (m) => {
    if (m === null) return;
    seen.push(m);
    const { correlationId, replyTo, headers } = m.properties as { correlationId?: string; replyTo?: string; headers?: Record<string, unknown> };
    const echo: Record<string, unknown> = {};
    if (headers?.['x-correlation-id'] !== undefined) echo['x-correlation-id'] = headers['x-correlation-id'];
    // a traced service propagates the trace context onto what it sends
    if (typeof headers?.['traceparent'] === 'string') echo['traceparent'] = headers['traceparent'];
    if (typeof headers?.['tracestate'] === 'string') echo['tracestate'] = headers['tracestate'];
    plain.confirm.publish('replies', replyTo ?? 'nowhere', Buffer.concat([Buffer.from('re:'), m.content]), {
      ...(correlationId === undefined ? {} : { correlationId }),
      headers: echo,
    });
    plain.ch.ack(m);
  });
});

afterAll(async () => {
  await ifAssigned(gateway)?.stop(2000);
  await ifAssigned(plain)?.close();
  if (vhost) await deleteVhost(vhost);
});

function requests(prefix: string, correlation: (i: number) => Request['correlation']): Request[] {
  return Array.from({ length: N }, (_, i) => ({ body: `${prefix}-${i}`, correlation: correlation(i) }));
}

/** Every reply matched to its request by body; a wrong correlation id is a failure of that reply. */
function check(label: string, sent: readonly Request[], replies: readonly Reply[]): void {
  const tally = new Tally();
  for (const r of sent) tally.sent(r.body);
  const byBody = new Map(sent.map((r) => [`re:${r.body}`, r]));
  for (const reply of replies) {
    const req = byBody.get(reply.body);
    expect(req).toBeDefined();
    expect(reply.correlation).toEqual(req?.correlation);
    tally.received(req?.body ?? `unexpected ${reply.body}`);
  }
  console.log(tally.summary(label));
  expect(tally.counts).toMatchObject({ sent: N, received: N, duplicated: 0, lost: 0, unexpected: 0 });
}

describe('request/reply across protocols through RabbitMQ, amqplib service', () => {
  it('an MQTT 5 device (paho) gets its exact correlation bytes on its response topic', async () => {
    // request 0 carries exactly de ad be ef 00 80; the others add their number, so each reply is told apart
    const sent = requests('mqtt', (i) => ({ binary: i === 0 ? DEADBEEF : DEADBEEF + i.toString(16).padStart(4, '0') }));
    const responseTopic = `${run}/dev/d1/v1.2/resp`;
    const device = paho({
      port: ports.mqtt,
      clientId: `${run}-d1`,
      filter: responseTopic,
      count: N,
      publish: sent.map((r) => ({
        topic: `${run}/req/d1`,
        payload: Buffer.from(r.body).toString('hex'),
        correlation: 'binary' in r.correlation ? r.correlation.binary : '',
        responseTopic,
        userProperties: [['traceparent', TRACEPARENT]] as const,
      })),
    });
    const got = await device.done;
    check('mqtt requester', sent, got.map((m) => ({ body: Buffer.from(m.payload, 'hex').toString(), correlation: m.correlation === undefined ? null : { binary: m.correlation } })));
    expect(got.every((m) => m.topic === responseTopic)).toBe(true);
    // on the AMQP side: a routing-key reply-to, and the binary id in x-correlation-id (not UTF-8)
    const first = seen.find((m) => m.content.toString() === 'mqtt-0');
    expect(first?.properties.replyTo).toBe(`${run}.dev.d1.v1/2.resp`);
    expect(first?.properties.correlationId).toBeUndefined();
    expect((first?.properties.headers as Record<string, unknown>)['x-correlation-id']).toEqual(Buffer.from(DEADBEEF, 'hex'));
    // the device's trace reached the service as it was sent, and came back with the reply
    expect(seen.filter((m) => m.content.toString().startsWith('mqtt-')).every((m) => m.properties.headers?.['traceparent'] === TRACEPARENT)).toBe(true);
    expect(got.every((m) => m.userProperties.some(([k, v]) => k === 'traceparent' && v === TRACEPARENT))).toBe(true);
    // Ferry's own headers never reach the device
    expect(got.every((m) => m.userProperties.every(([k]) => k !== 'ferry-correlation-encoding'))).toBe(true);
  });

  it('a STOMP client (stomp.py) gets its correlation ids back on its reply destination', async () => {
    const sent = requests('stomp', (i) => ({ text: `stomp-corr-${i}:é` }));
    const client = pythonRequester('stomp', {
      port: ports.stomp,
      subscribe: `/topic/${run}.web.r1`,
      destination: `/topic/${run}.sreq.x`,
      replyTo: `${run}.web.r1`,
      requests: sent,
      count: N,
      timeoutS: 40,
    });
    const got = await client.done;
    check('stomp requester', sent, got);
    const first = seen.find((m) => m.content.toString() === 'stomp-0');
    expect(first?.properties.correlationId).toBe('stomp-corr-0:é');
    // no traceparent was sent: Ferry started a trace (gateway.tracing.start), and the reply carries it back
    const started = seen.filter((m) => m.content.toString().startsWith('stomp-')).map((m) => String(m.properties.headers?.['traceparent']));
    expect(started.every((t) => parseTraceParent(t)?.flags === '01')).toBe(true);
    expect(new Set(started).size).toBe(N); // one trace per message
    expect(got.map((r) => r.headers?.['traceparent']).sort()).toEqual([...started].sort());
    expect(first?.properties.replyTo).toBe(`${run}.web.r1`);
  });

  it('an AMQP 1.0 client (qpid-proton) gets its binary and string correlation ids back, each of its own type, and its trace context', async () => {
    const sent = requests('amqp10', (i) => (i % 2 === 0 ? { binary: DEADBEEF + i.toString(16).padStart(2, '0') } : { text: `a10-${i}` }));
    const client = pythonRequester('amqp10', {
      port: ports.amqp10,
      address: `${run}.areq`,
      replyAddress: `${run}.a10.r1`,
      replyTo: `${run}.a10.r1`,
      requests: sent,
      // W3C Trace Context in AMQP 1.0 application-properties
      properties: { traceparent: TRACEPARENT, tracestate: TRACESTATE },
      count: N,
      timeoutS: 40,
    });
    const got = await client.done;
    check('amqp10 requester', sent, got);
    // traceparent and tracestate reached the service in its AMQP 0-9-1 headers as they were sent,
    // and came back in the replies' application-properties
    const asSeen = seen
      .filter((m) => m.content.toString().startsWith('amqp10-'))
      .map((m): unknown[] => {
        const h = m.properties.headers;
        return [h?.['traceparent'], h?.['tracestate']];
      });
    expect(asSeen).toEqual(Array.from({ length: N }, () => [TRACEPARENT, TRACESTATE]));
    expect(got.map((r) => [r.headers?.['traceparent'], r.headers?.['tracestate']])).toEqual(Array.from({ length: N }, () => [TRACEPARENT, TRACESTATE]));
  });
});
