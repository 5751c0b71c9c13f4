/**
 * useIdentityAsUsername on the mqtt-listener over TLS, with mosquitto_pub (a client Ferry does not
 * use): the verified client certificate's CN (device-1) is the user, whatever user name and
 * password the client sends, and its grants use that name; a client without a certificate is
 * refused during the TLS handshake (requestCert), one whose CN has no grant may do nothing.
 */
import { makeTestPki, freePort, RecordingMetrics, testContext, waitFor, type TestPki } from '@ferry/testkit';
import { MqttListenerConnector, mqttListenerOptions } from '@ferry/mqtt';
import type { InboundDelivery } from '@ferry/core';
import { runClient } from '../support/third-party.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki.remove();
});

it("the certificate CN is the user name: its own topic is granted, another device's topic refused (PUBACK 0x87), a password is not needed", async () => {
  const port = await freePort();
  const metrics = new RecordingMetrics();
  const routed: InboundDelivery[] = [];
  const l = new MqttListenerConnector(
    testContext([], metrics),
    'devices',
    mqttListenerOptions.parse({
      port,
      host: '127.0.0.1',
      tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true },
      useIdentityAsUsername: true,
      groups: { devices: { publish: ['sensors/{username}/#'] } },
      users: [{ username: 'device-1', groups: ['devices'] }],
    }),
  );
  await l.openSources([{ route: 'r', from: { topic: '#' } }], (d) => {
    routed.push(d);
    d.settlement.accept();
  });
  await l.start();
  try {
    const tls = ['--cafile', pki.ca, '--cert', pki.client.cert, '--key', pki.client.key];
    const pub = (topic: string, ...extra: string[]) => runClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '-q', '1', ...tls, ...extra, '-t', topic, '-m', `to ${topic}`]);
    const own = await pub('sensors/device-1/temp', '-u', 'someone-else', '-P', 'whatever');
    expect(own.code).toBe(0);
    const other = await pub('sensors/device-2/temp');
    expect(other.stderr).toContain('Publish 1 failed: Not authorized');
    await waitFor(() => routed.length === 1, 'the granted publish');
    expect(routed.map((d) => d.message.source.address)).toEqual(['sensors/device-1/temp']);
    // no client certificate: the TLS handshake refuses it before MQTT
    const noCert = await runClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv5', '--cafile', pki.ca, '-t', 'sensors/device-1/x', '-m', 'x']);
    expect(noCert.code).not.toBe(0);
    expect(routed).toHaveLength(1);
    expect(metrics.count('access_denied_total', { connector: 'devices', action: 'publish' })).toBe(1);
  } finally {
    await l.stop();
  }
}, 60_000);
