/**
 * Certificates renewed in place are served after a reload, by the listeners and the admin
 * server, while connections made before keep going. Real MQTT over TLS on loopback; no broker.
 */
import { copyFile, writeFile } from 'node:fs/promises';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import { captureLogger, freePort, makeTestPki, type TestPki } from '@ferry/testkit';
import { defaultRegistry } from './registry.js';
import { Runtime } from './runtime.js';

let pki: TestPki;
let runtime: Runtime | undefined;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await runtime?.stop();
  await pki.remove();
});

/** A TLS connection verified against the test CA: the verification error, or the socket. */
function verified(port: number): Promise<TLSSocket | string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: pki.caPem }, () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

function adminStatus(port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsGet({ host: '127.0.0.1', port, path: '/healthz', servername: 'localhost', ca: pki.caPem }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** MQTT CONNECT over the socket; resolves with the CONNACK's return code. */
function mqttConnect(s: TLSSocket, clientId: string): Promise<number> {
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  return new Promise((resolve) => {
    parser.on('packet', (p) => {
      if (p.cmd === 'connack') resolve(p.returnCode ?? -1);
    });
    s.on('data', (b: Buffer) => parser.parse(b));
    s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive: 30 }));
  });
}

it('reload re-reads renewed certificate files: new connections get the new one, open ones stay', async () => {
  const dir = pki.dir;
  const cert = join(dir, 'live.pem');
  const key = join(dir, 'live.key');
  // the certificate in service has expired
  await copyFile(pki.expiredServer.cert, cert);
  await copyFile(pki.expiredServer.key, key);
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, 'ferry.yaml');
  await writeFile(
    file,
    `
gateway:
  id: tls-reload
  http: { port: ${adminPort}, host: 127.0.0.1, tls: { cert: live.pem, key: live.key } }
connectors:
  devices: { type: mqtt-listener, port: ${port}, host: 127.0.0.1, tls: { cert: live.pem, key: live.key }, anonymous: true }
routes:
  - name: copy
    from: { connector: devices, topic: "in/+" }
    to: { connector: devices, topic: "out/{1}" }
`,
  );
  runtime = new Runtime({ file, registry: defaultRegistry(), logger: captureLogger(), drainTimeoutMs: 1_000 });
  expect(await runtime.start()).toBe(true);
  expect(await verified(port)).toBe('CERT_HAS_EXPIRED');
  expect(await adminStatus(adminPort)).toBe('CERT_HAS_EXPIRED');

  // a device that does not verify (or connected before the certificate expired) is connected
  const early = await new Promise<TLSSocket>((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => resolve(s));
  });
  let earlyClosed = false;
  early.on('close', () => (earlyClosed = true));

  // the operator renews the files in place and reloads; the route file did not change
  await copyFile(pki.server.cert, cert);
  await copyFile(pki.server.key, key);
  expect(await runtime.reload()).toBe(true);

  const fresh = await verified(port);
  expect(typeof fresh).not.toBe('string');
  expect(await mqttConnect(fresh as TLSSocket, 'fresh')).toBe(0);
  expect(await adminStatus(adminPort)).toBe(200);
  // the connection made before the reload still works on its old session
  expect(earlyClosed).toBe(false);
  expect(await mqttConnect(early, 'early')).toBe(0);
  (fresh as TLSSocket).destroy();
  early.destroy();
});
