import { get as httpsGet } from 'node:https';
import { get as httpGet } from 'node:http';
import { silentLogger } from '@ferry/core';
import { makeTestPki, type TestPki } from '@ferry/testkit';
import { AdminHttp } from './admin-http.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki.remove();
});

const view = {
  connectors: () => ({}),
  routes: () => [],
  ready: () => true,
  metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
};

function httpsStatus(port: number, opts: { cert?: string; key?: string } = {}): Promise<number | string> {
  return new Promise((resolve) => {
    const req = httpsGet({ host: '127.0.0.1', port, path: '/healthz', servername: 'localhost', ca: pki.caPem, ...opts }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('admin server over HTTPS', () => {
  test('serves /healthz over TLS with the configured certificate; plain HTTP gets no answer', async () => {
    const admin = new AdminHttp(view, silentLogger, 0, '127.0.0.1', { settings: { cert: 'server.pem', key: 'server.key', requestCert: false, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, baseDir: pki.dir });
    await admin.start();
    const port = admin.address?.port as number;
    expect(await httpsStatus(port)).toBe(200);
    const plain = await new Promise<number | string>((resolve) => {
      const req = httpGet({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(res.statusCode ?? 0));
      req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    });
    expect(plain).not.toBe(200);
    await admin.stop();
  });

  test('requestCert: an operator without a client certificate of the CA is refused', async () => {
    const admin = new AdminHttp(view, silentLogger, 0, '127.0.0.1', { settings: { cert: 'server.pem', key: 'server.key', ca: 'ca.pem', requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, baseDir: pki.dir });
    await admin.start();
    const port = admin.address?.port as number;
    expect(await httpsStatus(port, { cert: pki.client.certPem, key: pki.client.keyPem })).toBe(200);
    expect(await httpsStatus(port)).not.toBe(200);
    expect(await httpsStatus(port, { cert: pki.otherClient.certPem, key: pki.otherClient.keyPem })).not.toBe(200);
    await admin.stop();
  });
});
