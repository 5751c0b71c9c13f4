/**
 * useIdentityAsUsername on the stomp-listener and the amqp10-listener, end to end with clients
 * Ferry does not use itself: stomp.py over TLS with a client certificate, and Qpid Proton with
 * SASL EXTERNAL over amqps. The verified certificate's CN (device-1) is the user, whatever login
 * the client sends, and the grants are applied to that name; a client without a certificate, or
 * with one of another CA, gets through TLS here (rejectUnauthorized: false, so the refusal under
 * test is the login's) and is refused: a STOMP ERROR frame, a SASL outcome auth.
 */
import type { Connector, InboundDelivery } from '@ferry/core';
import { amqp10ListenerDefinition } from '@ferry/amqp10';
import { stompListenerDefinition } from '@ferry/stomp';
import { freePort, makeTestPki, RecordingMetrics, testContext, waitFor, type TestPki } from '@ferry/testkit';
import { runPython } from '../support/third-party.js';

/**
 * stomp.py over TLS, several attempts in one process (each a Python start less): for each
 * [cert, key, login, destinations...] ("-": none) CONNECT, then SEND to each destination with a
 * receipt. One JSON line: a result per attempt.
 */
const STOMP_TLS = `
import json, sys, time, stomp
port, ca = int(sys.argv[1]), sys.argv[2]
results = []
for cert, key, login, *dests in json.loads(sys.argv[3]):
    errors, receipts = [], []
    class L(stomp.ConnectionListener):
        def on_error(self, f): errors.append(f.headers.get("message"))
        def on_receipt(self, f): receipts.append(f.headers.get("receipt-id"))
    c = stomp.Connection12([("127.0.0.1", port)], heartbeats=(0, 0), reconnect_attempts_max=1, timeout=5)
    c.set_ssl(for_hosts=[("127.0.0.1", port)], ca_certs=ca, cert_file=None if cert == "-" else cert, key_file=None if key == "-" else key)
    c.set_listener("l", L())
    out = {"connected": False}
    try:
        if login == "-": c.connect(wait=True)
        else: c.connect(login, "not-checked", wait=True)
        out["connected"] = True
    except Exception as e:
        out["exception"] = type(e).__name__
    if out["connected"]:
        for d in dests:
            n = len(receipts) + len(errors)
            try: c.send(d, "from-stomp.py", headers={"receipt": d})
            except Exception as e: break
            end = time.time() + 5
            while time.time() < end and len(receipts) + len(errors) == n: time.sleep(0.02)
    else:
        end = time.time() + 5
        while time.time() < end and not errors: time.sleep(0.02)
    out["errors"], out["receipts"] = errors, receipts
    results.append(out)
    try: c.disconnect()
    except Exception: pass
print(json.dumps(results))
`;

/**
 * Qpid Proton over amqps, several attempts in one process: for each [cert, key, user,
 * addresses...] ("-": none; no user: SASL EXTERNAL, else PLAIN) connect, then a sender per
 * address with one message. One JSON line: a result per attempt.
 */
const PROTON_EXTERNAL = `
import json, sys
from proton import Message, SSLDomain
from proton.utils import BlockingConnection
port, ca = sys.argv[1], sys.argv[2]
results = []
for cert, key, user, *addresses in json.loads(sys.argv[3]):
    d = SSLDomain(SSLDomain.MODE_CLIENT)
    d.set_trusted_ca_db(ca)
    d.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME, ca)
    if cert != "-": d.set_credentials(cert, key, None)
    kw = {"allowed_mechs": "EXTERNAL"} if user == "-" else {"user": user, "password": "not-checked", "allowed_mechs": "PLAIN"}
    out = {"connected": False, "sent": [], "refused": []}
    results.append(out)
    try:
        # the server certificate names localhost (proton checks the name, not an IP address)
        c = BlockingConnection("amqps://localhost:%s" % port, timeout=10, ssl_domain=d, **kw)
        out["connected"] = True
    except Exception as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        continue
    for a in addresses:
        try:
            s = c.create_sender(a)
            s.send(Message(body="from-proton"))
            out["sent"].append(a)
        except Exception as e:
            out["refused"].append("%s %s" % (a, e))
    c.close()
print(json.dumps(results))
`;

interface StompOut {
  connected: boolean;
  errors: string[];
  receipts: string[];
}
interface ProtonOut {
  connected: boolean;
  error?: string;
  sent: string[];
  refused: string[];
}

describe('certificate identity (useIdentityAsUsername) on STOMP and AMQP 1.0', () => {
  let pki: TestPki;
  const metrics = new RecordingMetrics();
  const routed: InboundDelivery[] = [];
  const ports = { stomp: 0, amqp10: 0 };
  const running: Connector[] = [];

  beforeAll(async () => {
    pki = await makeTestPki();
    ports.stomp = await freePort();
    ports.amqp10 = await freePort();
    const tls = { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: false };
    const common = { host: '127.0.0.1', tls, useIdentityAsUsername: true, loginFailureDelay: { initialMs: 0, maxMs: 0 } };
    const ctx = testContext([], metrics);
    const stomp = stompListenerDefinition.create(
      ctx,
      'web',
      stompListenerDefinition.options.parse({ ...common, port: ports.stomp, users: [{ login: 'device-1', publish: ['/topic/sensors.{username}.#'] }] }),
    );
    const amqp = amqp10ListenerDefinition.create(
      ctx,
      'apps',
      amqp10ListenerDefinition.options.parse({ ...common, port: ports.amqp10, users: [{ username: 'device-1', publish: ['sensors.{username}.#'] }] }),
    );
    await stomp.openSources?.([{ route: 's', from: { destination: '/topic/#' } }], (d) => {
      routed.push(d);
      d.settlement.accept();
    });
    await amqp.openSources?.([{ route: 'a', from: { address: '#' } }], (d) => {
      routed.push(d);
      d.settlement.accept();
    });
    for (const c of [stomp, amqp]) {
      await c.start();
      running.push(c);
    }
  });

  afterAll(async () => {
    for (const c of running) await c.stop();
    await pki?.remove();
  });

  const lastLine = (stdout: string): string => stdout.trim().split('\n').pop() ?? '[]';
  const stompPy = async (...attempts: string[][]): Promise<StompOut[]> =>
    JSON.parse(lastLine((await runPython(STOMP_TLS, [String(ports.stomp), pki.ca, JSON.stringify(attempts)], 30_000)).stdout)) as StompOut[];
  const proton = async (...attempts: string[][]): Promise<ProtonOut[]> =>
    JSON.parse(lastLine((await runPython(PROTON_EXTERNAL, [String(ports.amqp10), pki.ca, JSON.stringify(attempts)], 30_000)).stdout)) as ProtonOut[];

  it('stomp.py with the client certificate: the CN is the user whatever login it sends; its own destination is granted, another device\'s gets an ERROR', async () => {
    const [r] = await stompPy([pki.client.cert, pki.client.key, 'someone-else', '/topic/sensors.device-1.temp', '/topic/sensors.device-2.temp']);
    if (r === undefined) throw new Error('stomp.py printed no result');
    expect(r.connected).toBe(true);
    expect(r.receipts).toEqual(['/topic/sensors.device-1.temp']);
    expect(r.errors).toHaveLength(1);
    await waitFor(() => routed.some((d) => d.message.source.address === '/topic/sensors.device-1.temp'), 'the granted SEND routed');
    expect(routed.some((d) => d.message.source.address === '/topic/sensors.device-2.temp')).toBe(false);
    expect(metrics.count('access_denied_total', { connector: 'web', action: 'publish' })).toBe(1);
  });

  it('stomp.py without a client certificate, or with one of another CA: ERROR, not connected', async () => {
    const results = await stompPy(['-', '-', 'device-1'], [pki.otherClient.cert, pki.otherClient.key, 'device-1']);
    expect(results).toEqual([
      { connected: false, exception: expect.any(String), errors: ['authentication failed'], receipts: [] },
      { connected: false, exception: expect.any(String), errors: ['authentication failed'], receipts: [] },
    ]);
  });

  it('Qpid Proton with SASL EXTERNAL and the client certificate: its own address is granted, another device\'s attach is refused', async () => {
    const [r] = await proton([pki.client.cert, pki.client.key, '-', 'sensors.device-1.temp', 'sensors.device-2.temp']);
    if (r === undefined) throw new Error('proton printed no result');
    expect(r.error).toBeUndefined();
    expect(r.connected).toBe(true);
    expect(r.sent).toEqual(['sensors.device-1.temp']);
    expect(r.refused).toEqual([expect.stringMatching(/^sensors\.device-2\.temp .*unauthorized-access/)]);
    await waitFor(() => routed.some((d) => d.message.source.address === 'sensors.device-1.temp'), 'the granted message routed');
    expect(routed.some((d) => d.message.source.address === 'sensors.device-2.temp')).toBe(false);
  });

  it('Qpid Proton without a client certificate (EXTERNAL not offered) or with one of another CA: SASL refused', async () => {
    // the last: PLAIN with the certificate's name and any password does not stand in for the certificate
    const [none, foreign, plain] = await proton(['-', '-', '-', 'sensors.device-1.x'], [pki.otherClient.cert, pki.otherClient.key, '-', 'sensors.device-1.x'], ['-', '-', 'device-1', 'sensors.device-1.x']);
    expect(none?.connected).toBe(false);
    expect(none?.error).toMatch(/SASL|mechanism|unauthorized|auth/i);
    expect(foreign?.connected).toBe(false);
    expect(plain?.connected).toBe(false);
    expect(routed.some((d) => d.message.source.address === 'sensors.device-1.x')).toBe(false);
  });
});
