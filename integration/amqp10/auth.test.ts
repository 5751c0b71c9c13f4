/**
 * amqp10-listener authentication and authorization with Qpid Proton (Debian's
 * python3-qpid-proton, a client Ferry does not use) and rhea. A refused login is a sasl-outcome
 * with code 1 (AMQP 1.0 §5.3.3.6); a link outside the grants is attached and detached with
 * amqp:unauthorized-access (§2.6.3, §2.8.15) while the connection goes on. A witness client
 * (dev1) sends a counted stream that must be routed whole throughout.
 */
import { hashPassword, type InboundDelivery } from '@ferry/core';
import { amqp10ListenerDefinition, type Amqp10Listener } from '@ferry/amqp10';
import { RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import { runPython } from '../support/third-party.js';
import { client, openSender, outcomes, type TestClient } from './helpers.js';

const PASS = { dev1: 'pw-dev1', dev2: 'pw-dev2', ops: 'pw-ops' } as const;
const cheap = (pw: string): Promise<string> => hashPassword(pw, { ln: 10, r: 8, p: 1 });

/** Qpid Proton: one action, one JSON line */
const PROTON = `
import json, sys
from proton import Message
from proton.utils import BlockingConnection
host, port, user, password, action, address = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
out = {"connected": False}
kw = {} if user == "-" else {"user": user, "password": password, "allowed_mechs": "PLAIN"}
try:
    c = BlockingConnection("amqp://%s:%s" % (host, port), timeout=10, **kw)
    out["connected"] = True
except Exception as e:
    out["error"] = "%s: %s" % (type(e).__name__, e)
    print(json.dumps(out)); sys.exit(0)
try:
    if action == "send":
        s = c.create_sender(address)
        s.send(Message(body="from-proton"))
        out["sent"] = True
    elif action == "receive":
        r = c.create_receiver(address)
        out["attached"] = True
except Exception as e:
    out["linkError"] = "%s: %s" % (type(e).__name__, e)
try:
    s2 = c.create_sender("sensors.%s.after" % user)
    out["connectionUsable"] = True
except Exception as e:
    out["connectionUsable"] = False
print(json.dumps(out))
c.close()
`;

interface ProtonOut {
  connected: boolean;
  error?: string;
  sent?: boolean;
  attached?: boolean;
  linkError?: string;
  connectionUsable?: boolean;
}

describe('amqp10-listener: authentication and grants', () => {
  let l: Amqp10Listener;
  let port: number;
  let metrics: RecordingMetrics;
  let lines: LogLine[];
  let routed: InboundDelivery[];
  let witness: { c: TestClient; tally: Tally; stop: () => Promise<void> } | undefined;

  beforeEach(async () => {
    metrics = new RecordingMetrics();
    lines = [];
    routed = [];
    const opts = amqp10ListenerDefinition.options.parse({
      port: 0,
      host: '127.0.0.1',
      users: [
        { username: 'dev1', password: await cheap(PASS.dev1), groups: ['devices'] },
        { username: 'dev2', password: await cheap(PASS.dev2), groups: ['devices'] },
        { username: 'ops', password: PASS.ops, publish: ['cmd.*'], subscribe: ['sensors.#'] },
      ],
      groups: { devices: { publish: ['sensors.{username}.#'], subscribe: ['cmd.{username}'] } },
      loginFailureDelay: { initialMs: 100, maxMs: 800 },
    });
    l = amqp10ListenerDefinition.create(testContext(lines, metrics), 'apps', opts) as Amqp10Listener;
    await l.openSources([{ route: 'r', from: { address: 'sensors.#' } }], (d) => {
      routed.push(d);
      const id = d.message.body.toString();
      if (id.startsWith('w-')) witness?.tally.received(id);
      d.settlement.accept();
    });
    await l.start();
    port = l.port as number;
    const c = await client(port, { username: 'dev1', password: PASS.dev1 });
    const sender = await openSender(c, 'sensors.dev1.witness');
    const seen = outcomes(sender);
    const tally = new Tally();
    let running = true;
    let n = 0;
    // a named function, not an IIFE: the compiler reads an IIFE's body in line and takes
    // `running` to be true throughout, though stop() sets it false
    const publishUntilStopped = async (): Promise<void> => {
      while (running) {
        const id = `w-${n++}`;
        tally.sent(id);
        const d = sender.send({ body: id });
        await waitFor(() => seen.has(d.id), `outcome of ${id}`);
        // a pace, not a wait for anything: the witness keeps a light, steady stream beside the test
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const loop = publishUntilStopped();
    witness = { c, tally, stop: async () => ((running = false), await loop) };
  });

  afterEach(async () => {
    const w = witness;
    if (w !== undefined) {
      await w.stop();
      witness = undefined;
      const counts = w.tally.counts;
      expect({ lost: counts.lost, duplicated: counts.duplicated, unexpected: counts.unexpected }).toEqual({ lost: 0, duplicated: 0, unexpected: 0 });
      expect(counts.sent).toBeGreaterThan(0);
      w.c.conn.close();
    }
    await l.stop();
  });

  const proton = async (user: string, password: string, action: 'connect' | 'send' | 'receive', address = '-'): Promise<ProtonOut> => {
    const r = await runPython(PROTON, ['127.0.0.1', String(port), user, password, action, address], 30_000);
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as ProtonOut;
    } catch {
      throw new Error(`proton said: ${r.stdout}\n${r.stderr}`);
    }
  };

  it('no credentials and a wrong password: SASL refused (outcome auth), each refusal later than the one before', async () => {
    const anon = await proton('-', '-', 'connect');
    expect(anon.connected).toBe(false);
    expect(anon.error).toMatch(/amqp:unauthorized-access|Authentication failed|SASL/i);
    const t0 = performance.now();
    const wrong = await proton('dev1', 'wrong', 'connect');
    expect(wrong.connected).toBe(false);
    expect(wrong.error).toMatch(/amqp:unauthorized-access|Authentication failed|SASL/i);
    await expect(client(port, { username: 'nobody', password: 'x' })).rejects.toThrow(/could not connect/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect(metrics.count('auth_failures_total', { connector: 'apps', reason: 'bad-credentials' })).toBe(2);
    expect((await proton('dev2', PASS.dev2, 'connect')).connected).toBe(true);
  });

  it('a sending link outside the grant: attach refused with amqp:unauthorized-access; the connection goes on', async () => {
    const out = await proton('dev2', PASS.dev2, 'send', 'sensors.dev1.temp');
    expect(out.connected).toBe(true);
    expect(out.linkError).toMatch(/amqp:unauthorized-access/);
    expect(out.connectionUsable).toBe(true);
    // rhea sees the same condition
    const c = await client(port, { username: 'dev2', password: PASS.dev2 });
    const refused = c.conn.open_sender({ target: { address: 'cmd.dev1' } });
    const closedWith = await new Promise<unknown>((r) => refused.once('sender_close', () => r(refused.error)));
    expect(JSON.stringify(closedWith)).toMatch(/amqp:unauthorized-access/);
    const own = await proton('dev2', PASS.dev2, 'send', 'sensors.dev2.temp');
    expect(own.linkError).toBeUndefined();
    await waitFor(() => routed.some((d) => d.message.body.toString() === 'from-proton'), 'the granted message');
    expect(routed.filter((d) => d.message.body.toString() === 'from-proton').map((d) => d.message.source.address)).toEqual(['sensors.dev2.temp']);
    expect(metrics.count('access_denied_total', { connector: 'apps', action: 'publish' })).toBe(2);
    c.conn.close();
  });

  it('a receiving link outside the grant: attach refused with amqp:unauthorized-access; a granted one attaches', async () => {
    const out = await proton('dev1', PASS.dev1, 'receive', 'cmd.dev2');
    expect(out.linkError).toMatch(/amqp:unauthorized-access/);
    expect(out.connectionUsable).toBe(true);
    const wide = await proton('dev1', PASS.dev1, 'receive', 'sensors.dev2.temp');
    expect(wide.linkError).toMatch(/amqp:unauthorized-access/);
    const own = await proton('dev1', PASS.dev1, 'receive', 'cmd.dev1');
    expect(own.attached).toBe(true);
    expect(own.linkError).toBeUndefined();
    expect(metrics.count('access_denied_total', { connector: 'apps', action: 'subscribe' })).toBe(2);
    expect(lines.filter((x) => x.level === 'warn' && x.message.includes('refused: not in the grants'))).toHaveLength(2);
  });
});
