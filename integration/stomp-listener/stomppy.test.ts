/**
 * stomp-listener against stomp.py (python3-stomp from Debian), a client Ferry does not use
 * itself: STOMP 1.0, 1.1 and 1.2 connect, SEND with receipts, SUBSCRIBE, ACK and NACK with
 * redelivery; a login with no users configured (stomp.py always sends one), and with users.
 */
import { jest } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { stompListenerDefinition, type StompListenerConnector } from '@ferry/stomp';
import { freePort, RecordingMetrics, Tally, testContext, type LogLine } from '@ferry/testkit';
import { runPythonFile } from '../support/third-party.js';

jest.setTimeout(60_000);

const SCRIPT = fileURLToPath(new URL('./stomppy_client.py', import.meta.url));

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of started.splice(0).reverse()) await x.stop().catch(() => undefined);
});

async function listener(extra: Record<string, unknown> = {}, lines: LogLine[] = [], metrics = new RecordingMetrics()): Promise<{ l: StompListenerConnector; port: number }> {
  const port = await freePort();
  const options = stompListenerDefinition.options.parse({ port, host: '127.0.0.1', anonymous: true, ...extra });
  const l = stompListenerDefinition.create(testContext(lines, metrics), 'web', options) as StompListenerConnector;
  started.push(l);
  await l.start();
  return { l, port };
}

interface Conformance {
  readonly version: string;
  readonly connected: boolean;
  readonly received: string[];
  readonly redelivered: [string, string | null][];
  readonly acked: number;
  readonly nacked: number;
  readonly errors: string[];
}

async function stomppy(port: number, version: string, login: string, passcode: string, n: number): Promise<Conformance> {
  const r = await runPythonFile(SCRIPT, ['conformance', String(port), version, login, passcode, String(n)], 30_000);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`stomppy_client.py printed no result (exit ${r.code}): ${r.stderr}`);
  return JSON.parse(last) as Conformance;
}

describe('stomp-listener with stomp.py', () => {
  for (const version of ['1.0', '1.1', '1.2']) {
    it(`STOMP ${version}: connect with a login and no users configured, send with receipts, subscribe, ack and nack with redelivery`, async () => {
      const { port } = await listener();
      const N = 10;
      const r = await stomppy(port, version, 'guest', 'guest', N);
      expect(r.errors).toEqual([]);
      expect(r.connected).toBe(true);
      const t = new Tally();
      for (let i = 0; i < N; i++) t.sent(String(i));
      for (const id of r.received) t.received(id);
      console.log(t.summary(`stomp.py ${version}`));
      expect(t.counts).toMatchObject({ sent: N, received: N, lost: 0, duplicated: 0 });
      if (version === '1.0') {
        // STOMP 1.0 has no NACK: every message acknowledged once
        expect(r.acked).toBe(N);
        expect(r.redelivered).toEqual([]);
      } else {
        // the odd ones were NACKed: each comes back once, marked redelivered, and is ACKed
        const odd = Array.from({ length: N / 2 }, (_, i) => String(2 * i + 1));
        expect(r.nacked).toBe(N / 2);
        expect(r.redelivered.map(([n]) => n).sort()).toEqual(odd.sort());
        expect(r.redelivered.every(([, flag]) => flag === 'true')).toBe(true);
        expect(r.acked).toBe(N);
      }
    });
  }

  it('with users configured: the right login connects, a wrong passcode gets an ERROR', async () => {
    const lines: LogLine[] = [];
    const { port } = await listener({ users: [{ login: 'dev', passcode: 's3cret' }], anonymous: false }, lines);
    const ok = await stomppy(port, '1.2', 'dev', 's3cret', 2);
    expect(ok.errors).toEqual([]);
    const bad = await stomppy(port, '1.2', 'dev', 'wrong', 2);
    expect(bad.connected).toBe(false);
    expect(bad.errors.join(' ')).toMatch(/authentication failed|ConnectFailed/);
  });
});
