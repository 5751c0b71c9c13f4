/**
 * SASL ANONYMOUS (RFC 4505; AMQP 1.0 §5.3) for the amqp10 client, which uses it when it has no
 * user: against Ferry's own amqp10-listener (allowed, or refused when the listener requires
 * users), and against the real RabbitMQ 3.10 amqp1_0 plugin, whose `default_user` (default
 * "guest") is who an unauthenticated connection acts as.
 */
import { jest } from '@jest/globals';
import amqplib from 'amqplib';
import { createMessage, type GatewayMessage, type InboundDelivery } from '@ferry/core';
import { amqp10Definition, amqp10ListenerDefinition, type Amqp10Client, type Amqp10Listener } from '@ferry/amqp10';
import { brokerPorts, createVhost, deleteVhost, rabbitUrl, RecordingMetrics, Tally, testContext, waitFor, type LogLine, ifAssigned } from '@ferry/testkit';


jest.setTimeout(60_000);

/** what a test started, stopped after it even when it failed (a connector left running keeps jest alive) */
const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});

function message(id: string): GatewayMessage {
  return createMessage({ body: Buffer.from([0, 1, 2, 0xff]), messageId: id, source: { connector: 'test', protocol: 'mqtt', address: 'a/b' } });
}

/** An amqp10 client with no user anywhere: SASL ANONYMOUS. */
function anonymousClient(url: string, lines: LogLine[] = [], extra: Record<string, unknown> = {}): Amqp10Client {
  const options = amqp10Definition.options.parse({ url, reconnect: { initialMs: 100, maxMs: 300 }, ...extra });
  expect(options.username).toBeUndefined();
  const c = amqp10Definition.create(testContext(lines), `anon${Math.floor(Math.random() * 1e6)}`, options) as Amqp10Client;
  started.push(c);
  return c;
}

async function listener(options: Record<string, unknown>, lines: LogLine[] = []): Promise<Amqp10Listener> {
  const opts = amqp10ListenerDefinition.options.parse({ port: 0, host: '127.0.0.1', anonymous: true, ...options });
  const l = amqp10ListenerDefinition.create(testContext(lines, new RecordingMetrics()), 'devices', opts) as Amqp10Listener;
  started.push(l);
  await l.start();
  return l;
}

describe('SASL ANONYMOUS: amqp10 client → Ferry amqp10-listener', () => {
  it.each([
    { what: 'no users, anonymous: true', options: {} },
    { what: 'users and allowAnonymous: true', options: { users: [{ username: 'dev', password: 's3cret' }], allowAnonymous: true } },
  ])('$what: the client connects anonymously and its messages are taken, counted', async ({ options }) => {
    const l = await listener(options);
    const got: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
      got.push(d);
      d.settlement.accept();
    });
    const lines: LogLine[] = [];
    const c = anonymousClient(`amqp://127.0.0.1:${l.port as number}`, lines);
    await c.start();
    expect(c.state).toBe('up');
    const tally = new Tally();
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        tally.sent(`a${i}`);
        await c.sink.write(message(`a${i}`), { address: 'in' });
      }),
    );
    for (const d of got) tally.received(String(d.message.messageId));
    expect(tally.counts).toMatchObject({ sent: 50, received: 50, lost: 0, duplicated: 0 });
    expect(got[0]?.message.body).toEqual(Buffer.from([0, 1, 2, 0xff]));
    await c.stop();
    await l.stop();
  });

  it('a listener that requires users refuses the anonymous client: it stays down, retrying, and writes fail NOT_CONNECTED', async () => {
    const listenerLines: LogLine[] = [];
    const l = await listener({ users: [{ username: 'dev', password: 's3cret' }], anonymous: false }, listenerLines);
    const got: InboundDelivery[] = [];
    await l.openSources([{ route: 'r', from: { address: 'in' } }], (d) => {
      got.push(d);
      d.settlement.accept();
    });
    const lines: LogLine[] = [];
    const c = anonymousClient(`amqp://127.0.0.1:${l.port as number}`, lines);
    await c.start(); // resolves after the first attempt, which failed
    expect(c.state).toBe('down');
    await expect(c.sink.write(message('x'), { address: 'in' })).rejects.toMatchObject({ code: 'NOT_CONNECTED', permanent: false });
    // it keeps trying with its backoff, and keeps being refused
    await waitFor(() => lines.filter((x) => x.message.includes('amqp10 connection down, reconnecting')).length >= 3, 'three refused attempts');
    expect(lines.some((x) => x.message.includes('amqp10 connected'))).toBe(false);
    const down = lines.find((x) => x.message.includes('amqp10 connection down'));
    // the listener offers PLAIN only: rhea's client finds no mechanism it may use
    expect(down?.fields).toMatchObject({ condition: 'amqp:unauthorized-access' });
    expect(String(down?.fields.description)).toMatch(/No suitable mechanism; server supports PLAIN/);
    expect(got).toHaveLength(0);
    await c.stop();
    // the same listener takes a client with the right user
    const withUser = amqp10Definition.create(
      testContext(),
      'plain',
      amqp10Definition.options.parse({ url: `amqp://dev:s3cret@127.0.0.1:${l.port as number}`, reconnect: { initialMs: 100, maxMs: 300 } }),
    ) as Amqp10Client;
    started.push(withUser);
    await withUser.start();
    expect(withUser.state).toBe('up');
    await withUser.sink.write(message('p1'), { address: 'in' });
    expect(got.map((d) => d.message.messageId)).toEqual(['p1']);
    await withUser.stop();
    await l.stop();
  });
});

describe('SASL ANONYMOUS: amqp10 client → RabbitMQ 3.10 amqp1_0 plugin', () => {
  let vhost: string;
  let amqp: amqplib.ChannelModel;
  let ch: amqplib.Channel;

  beforeAll(async () => {
    vhost = await createVhost('amqp10-anon');
    amqp = await amqplib.connect(rabbitUrl(vhost), { noDelay: true });
    amqp.on('error', () => undefined);
    ch = await amqp.createChannel();
  });

  afterAll(async () => {
    await ifAssigned(amqp)?.close().catch(() => undefined);
    await deleteVhost(vhost);
  });

  it('with the default default_user ("guest") an anonymous connection is accepted and acts as guest; 100 messages counted', async () => {
    const q = 'anon-in';
    await ch.assertQueue(q, { durable: false });
    const lines: LogLine[] = [];
    const c = anonymousClient(`amqp://127.0.0.1:${brokerPorts().rabbitAmqp}`, lines, { hostname: `vhost:${vhost}`, containerId: `ferry-anon-${vhost}` });
    await c.start();
    expect(c.state).toBe('up');
    const tally = new Tally();
    const seen: amqplib.ConsumeMessage[] = [];
    await ch.consume(q, (m) => {
      if (m === null) return;
      seen.push(m);
      tally.received(String(m.properties.messageId));
      ch.ack(m);
    });
    await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        tally.sent(`n${i}`);
        await c.sink.write(message(`n${i}`), { address: `/amq/queue/${q}` });
      }),
    );
    await waitFor(() => tally.complete, 'all 100 at the 0-9-1 consumer');
    console.log(tally.summary('anonymous amqp10 client → RabbitMQ'));
    expect(tally.counts).toMatchObject({ sent: 100, received: 100, lost: 0, duplicated: 0, unexpected: 0 });
    expect(seen[0]?.content).toEqual(Buffer.from([0, 1, 2, 0xff]));
    // who RabbitMQ says the connection is: the management API lists it (its figures are a few seconds stale)
    const auth = 'Basic ' + Buffer.from('guest:guest').toString('base64');
    let user: string | undefined;
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${brokerPorts().rabbitManagement}/api/vhosts/${encodeURIComponent(vhost)}/connections`, { headers: { authorization: auth } });
        const list = (await res.json()) as { user?: string; protocol?: string; auth_mechanism?: string }[];
        const mine = list.find((x) => String(x.protocol).startsWith('AMQP 1'));
        user = mine?.user;
        if (mine !== undefined) console.log('RabbitMQ 3.10 sees the anonymous AMQP 1.0 connection as', JSON.stringify({ user: mine.user, protocol: mine.protocol, auth_mechanism: mine.auth_mechanism }));
        return user !== undefined;
      },
      'the connection in the management API',
      20_000,
      500,
    );
    expect(user).toBe('guest');
    await c.stop();
  });
});
