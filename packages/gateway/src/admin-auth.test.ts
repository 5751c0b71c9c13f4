import { silentLogger } from '@ferry/core';
import { AdminHttp } from './admin-http.js';

describe('admin port token', () => {
  const view = {
    connectors: () => ({ a: 'up' }),
    routes: () => [],
    ready: () => true,
    metrics: () => Promise.resolve({ contentType: 'text/plain', body: 'ferry_messages_received_total 1\n' }),
  };
  const token = 'a-long-enough-admin-token-123456';

  it('with a token: /healthz and /readyz stay open, /metrics and /api need the bearer token', async () => {
    const admin = new AdminHttp(view, silentLogger, 0, '127.0.0.1', undefined, token);
    await admin.start();
    const base = `http://127.0.0.1:${admin.address?.port}`;
    try {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const bare = await fetch(`${base}/metrics`);
      expect(bare.status).toBe(401);
      expect(bare.headers.get('www-authenticate')).toBe('Bearer realm="ferry"');
      expect(await bare.text()).not.toContain('ferry_messages_received_total');
      expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).toBe(401);
      expect((await fetch(`${base}/api/connectors`, { headers: { authorization: `Basic ${token}` } })).status).toBe(401);
      const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('ferry_messages_received_total 1');
      // a browser, which cannot set the header on a page load or an EventSource
      expect((await fetch(`${base}/api/connectors?access_token=${token}`)).status).toBe(200);
      expect((await fetch(`${base}/nope`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    } finally {
      await admin.stop();
    }
  });

  it('without a token everything is served, as before', async () => {
    const admin = new AdminHttp(view, silentLogger, 0, '127.0.0.1');
    await admin.start();
    try {
      expect((await fetch(`http://127.0.0.1:${admin.address?.port}/metrics`)).status).toBe(200);
    } finally {
      await admin.stop();
    }
  });
});
