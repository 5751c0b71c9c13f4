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
import { freePort, makeTestPki, RecordingMetrics, testContext, waitFor, type TestPki, ifAssigned } from '@ferry/testkit';
import { amqpLogins, stompLogins } from './clients.js';

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
    await ifAssigned(pki)?.remove();
  });

  const device = (): { ca: string; cert: string; key: string } => ({ ca: pki.ca, cert: pki.client.cert, key: pki.client.key });
  const intruder = (): { ca: string; cert: string; key: string } => ({ ca: pki.ca, cert: pki.otherClient.cert, key: pki.otherClient.key });

  it('stomp.py with the client certificate: the CN is the user whatever login it sends; its own destination is granted, another device\'s gets an ERROR', async () => {
    const [r] = await stompLogins(ports.stomp, { ...device(), login: 'someone-else', dests: ['/topic/sensors.device-1.temp', '/topic/sensors.device-2.temp'] });
    if (r === undefined) throw new Error('stomp.py gave no result');
    expect(r.connected).toBe(true);
    expect(r.receipts).toEqual(['/topic/sensors.device-1.temp']);
    expect(r.errors).toHaveLength(1);
    await waitFor(() => routed.some((d) => d.message.source.address === '/topic/sensors.device-1.temp'), 'the granted SEND routed');
    expect(routed.some((d) => d.message.source.address === '/topic/sensors.device-2.temp')).toBe(false);
    expect(metrics.count('access_denied_total', { connector: 'web', action: 'publish' })).toBe(1);
  });

  it('stomp.py without a client certificate, or with one of another CA: ERROR, not connected', async () => {
    const results = await stompLogins(ports.stomp, { ca: pki.ca, login: 'device-1' }, { ...intruder(), login: 'device-1' });
    expect(results).toEqual([
      { connected: false, exception: expect.any(String) as unknown, errors: ['authentication failed'], receipts: [] },
      { connected: false, exception: expect.any(String) as unknown, errors: ['authentication failed'], receipts: [] },
    ]);
  });

  it('Qpid Proton with SASL EXTERNAL and the client certificate: its own address is granted, another device\'s attach is refused', async () => {
    const [r] = await amqpLogins(ports.amqp10, { ...device(), addresses: ['sensors.device-1.temp', 'sensors.device-2.temp'] });
    if (r === undefined) throw new Error('proton gave no result');
    expect(r.error).toBeUndefined();
    expect(r.connected).toBe(true);
    expect(r.sent).toEqual(['sensors.device-1.temp']);
    expect(r.refused).toEqual([expect.stringMatching(/^sensors\.device-2\.temp .*unauthorized-access/)]);
    await waitFor(() => routed.some((d) => d.message.source.address === 'sensors.device-1.temp'), 'the granted message routed');
    expect(routed.some((d) => d.message.source.address === 'sensors.device-2.temp')).toBe(false);
  });

  it('Qpid Proton without a client certificate (EXTERNAL not offered) or with one of another CA: SASL refused', async () => {
    // the last: PLAIN with the certificate's name and any password does not stand in for the certificate
    const x = ['sensors.device-1.x'];
    const [none, foreign, plain] = await amqpLogins(ports.amqp10, { ca: pki.ca, addresses: x }, { ...intruder(), addresses: x }, { ca: pki.ca, user: 'device-1', addresses: x });
    expect(none?.connected).toBe(false);
    expect(none?.error).toMatch(/SASL|mechanism|unauthorized|auth/i);
    expect(foreign?.connected).toBe(false);
    expect(plain?.connected).toBe(false);
    expect(routed.some((d) => d.message.source.address === 'sensors.device-1.x')).toBe(false);
  });
});
