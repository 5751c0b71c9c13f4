/**
 * stomp-listener authentication and authorization with stomp.py (Debian's python3-stomp, a
 * client Ferry does not use) and @stomp/stompjs. Every refusal (ERROR frame, connection closed,
 * STOMP 1.2 §ERROR) happens while a witness client (dev1) sends a counted stream with receipts
 * that must be routed whole.
 */
import { hashPassword, type InboundDelivery } from '@ferry/core';
import { stompListenerDefinition } from '@ferry/stomp';
import { freePort, RecordingMetrics, Tally, testContext, waitFor, type LogLine } from '@ferry/testkit';
import type { Connector } from '@ferry/core';
import { runPython } from '../support/third-party.js';
import { deactivate, stompjs, type StompJsClient } from './helpers.js';

const PASS = { dev1: 'pw-dev1', dev2: 'pw-dev2', ops: 'pw-ops' } as const;
const cheap = (pw: string): Promise<string> => hashPassword(pw, { ln: 10, r: 8, p: 1 });

/** stomp.py 8: one action, one JSON line: connected, ERROR messages, receipts */
const STOMP_PY = `
import json, sys, time, uuid, stomp
host, port, login, passcode, action, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
class L(stomp.ConnectionListener):
    def __init__(self): self.errors, self.receipts = [], []
    def on_error(self, f): self.errors.append(f.headers.get("message"))
    def on_receipt(self, f): self.receipts.append(f.headers.get("receipt-id"))
# a read that times out is a closed connection to stomp.py: 30 s leaves a loaded machine room for CONNECTED or ERROR
c = stomp.Connection12([(host, port)], heartbeats=(0, 0), reconnect_attempts_max=1, timeout=30)
l = L(); c.set_listener("l", l)
out = {"connected": False}
try:
    if login == "-": c.connect(wait=True)
    else: c.connect(login, passcode, wait=True)
    out["connected"] = True
except Exception as e:
    out["exception"] = type(e).__name__
if out["connected"]:
    try:
        if action == "send": c.send(dest, "from-stomp.py", headers={"receipt": "r1"})
        elif action == "subscribe": c.subscribe(dest, id="s1", headers={"receipt": "r1"})
    except Exception as e:
        out["exception"] = type(e).__name__
    end = time.time() + 5
    while time.time() < end and not l.errors and not l.receipts: time.sleep(0.02)
    # the server closes right after an ERROR (STOMP 1.2 §ERROR): wait for it rather than a fixed time; a
    # RECEIPT needs no wait, since an ERROR for the same frame would have come in its place
    end = time.time() + 5
    while time.time() < end and l.errors and c.is_connected(): time.sleep(0.02)
out["errors"], out["receipts"], out["stillConnected"] = l.errors, l.receipts, c.is_connected()
print(json.dumps(out))
try: c.disconnect()
except Exception: pass
`;

interface PyOut {
  connected: boolean;
  exception?: string;
  errors: string[];
  receipts: string[];
  stillConnected: boolean;
}

describe('stomp-listener: authentication and grants', () => {
  let conn: Connector;
  let port: number;
  let metrics: RecordingMetrics;
  let lines: LogLine[];
  let routed: InboundDelivery[];
  let witness: { client: StompJsClient; tally: Tally; stop: () => Promise<void> } | undefined;

  beforeEach(async () => {
    port = await freePort();
    metrics = new RecordingMetrics();
    lines = [];
    routed = [];
    const options = stompListenerDefinition.options.parse({
      port,
      host: '127.0.0.1',
      users: [
        { login: 'dev1', passcode: await cheap(PASS.dev1), groups: ['devices'] },
        { login: 'dev2', passcode: await cheap(PASS.dev2), groups: ['devices'] },
        { login: 'ops', passcode: PASS.ops, subscribe: ['/topic/sensors.#'], publish: ['/queue/cmd.*'] },
      ],
      groups: { devices: { publish: ['/topic/sensors.{username}.#'], subscribe: ['/queue/cmd.{username}'] } },
      loginFailureDelay: { initialMs: 100, maxMs: 800 },
    });
    conn = stompListenerDefinition.create(testContext(lines, metrics), 'web', options);
    await conn.openSources?.([{ route: 'r', from: { destination: '/topic/#' } }], (d) => {
      routed.push(d);
      const id = d.message.body.toString();
      if (id.startsWith('w-')) witness?.tally.received(id);
      d.settlement.accept();
    });
    await conn.start();
    const client = await stompjs(port, '1.2', { login: 'dev1', passcode: PASS.dev1 });
    const tally = new Tally();
    let running = true;
    let n = 0;
    // a named function, not an IIFE: the compiler reads an IIFE's body in line and takes
    // `running` to be true throughout, though stop() sets it false
    const publishUntilStopped = async (): Promise<void> => {
      while (running) {
        const id = `w-${n++}`;
        tally.sent(id);
        const receipt = `rc-${id}`;
        const done = new Promise<void>((r) => client.client.watchForReceipt(receipt, () => r()));
        client.client.publish({ destination: '/topic/sensors.dev1.witness', body: id, headers: { receipt } });
        await done;
        // pacing, not a wait for an event: the witness keeps a steady stream beside the refusals
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const loop = publishUntilStopped();
    witness = { client, tally, stop: async () => ((running = false), await loop) };
  });

  afterEach(async () => {
    const w = witness;
    if (w !== undefined) {
      await w.stop();
      witness = undefined;
      const c = w.tally.counts;
      expect({ lost: c.lost, duplicated: c.duplicated, unexpected: c.unexpected, errors: w.client.errors.length }).toEqual({ lost: 0, duplicated: 0, unexpected: 0, errors: 0 });
      expect(c.sent).toBeGreaterThan(0);
      await deactivate(w.client);
    }
    await conn.stop();
  });

  const py = async (login: string, passcode: string, action: 'connect' | 'send' | 'subscribe', dest = '-'): Promise<PyOut> => {
    const r = await runPython(STOMP_PY, ['127.0.0.1', String(port), login, passcode, action, dest]);
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as PyOut;
    } catch {
      throw new Error(`stomp.py said: ${r.stdout}\n${r.stderr}`);
    }
  };

  it('no credentials and a wrong password: ERROR "authentication failed", after a growing delay', async () => {
    const anon = await py('-', '-', 'connect');
    expect(anon.connected).toBe(false);
    expect(anon.errors).toEqual(['authentication failed']);
    const t0 = performance.now();
    const wrong = await py('dev1', 'wrong', 'connect');
    expect(wrong.connected).toBe(false);
    expect(wrong.errors).toEqual(['authentication failed']);
    const unknown = await stompjs(port, '1.2', { login: 'nobody', passcode: 'x' });
    await waitFor(() => unknown.closed(), 'closed');
    expect(unknown.errors.map((e) => e.headers['message'])).toEqual(['authentication failed']);
    // second and third failure in a row from 127.0.0.1: 200 + 400 ms before their refusals
    expect(performance.now() - t0).toBeGreaterThanOrEqual(590);
    expect(metrics.count('auth_failures_total', { connector: 'web', reason: 'no-credentials' })).toBe(1);
    expect(metrics.count('auth_failures_total', { connector: 'web', reason: 'bad-credentials' })).toBe(2);
    const ok = await py('dev2', PASS.dev2, 'connect');
    expect(ok.connected).toBe(true);
  });

  it('a SEND outside the grant: ERROR with the receipt id, connection closed, nothing routed', async () => {
    const out = await py('dev2', PASS.dev2, 'send', '/topic/sensors.dev1.temp');
    expect(out.connected).toBe(true);
    expect(out.errors).toEqual(['access refused: you may not send to /topic/sensors.dev1.temp']);
    expect(out.receipts).toEqual([]);
    expect(out.stillConnected).toBe(false);
    const granted = await py('dev2', PASS.dev2, 'send', '/topic/sensors.dev2.temp');
    expect(granted.receipts).toEqual(['r1']);
    expect(routed.filter((d) => d.message.body.toString() === 'from-stomp.py').map((d) => d.message.source.address)).toEqual(['/topic/sensors.dev2.temp']);
    expect(metrics.count('access_denied_total', { connector: 'web', action: 'publish' })).toBe(1);
    expect(lines.filter((l) => l.level === 'warn' && /send|publish/.test(l.message) && l.message.includes('refused'))).toHaveLength(1);
  });

  it('a subscription outside the grant: ERROR, connection closed; a granted one gets its receipt and messages', async () => {
    const out = await py('dev1', PASS.dev1, 'subscribe', '/queue/cmd.dev2');
    expect(out.errors).toEqual(['access refused: you may not subscribe to /queue/cmd.dev2']);
    expect(out.stillConnected).toBe(false);
    const wide = await py('dev1', PASS.dev1, 'subscribe', '/topic/sensors.#');
    expect(wide.errors).toEqual(['access refused: you may not subscribe to /topic/sensors.#']);
    const own = await py('dev1', PASS.dev1, 'subscribe', '/queue/cmd.dev1');
    expect(own.receipts).toEqual(['r1']);
    expect(own.errors).toEqual([]);
    // ops may read every sensor (its grant /topic/sensors.# covers the witness's destination)
    const ops = await stompjs(port, '1.2', { login: 'ops', passcode: PASS.ops });
    const got: string[] = [];
    ops.client.subscribe('/topic/sensors.dev1.witness', (m) => got.push(m.body));
    await waitFor(() => got.some((b) => b.startsWith('w-')), 'ops reading the witness');
    expect(metrics.count('access_denied_total', { connector: 'web', action: 'subscribe' })).toBe(2);
    await deactivate(ops);
  });
});
