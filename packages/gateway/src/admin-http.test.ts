import { createServer } from 'node:net';
import { once } from 'node:events';
import { silentLogger } from '@ferry/core';
import { AdminHttp } from './admin-http.js';

const view = {
  connectors: () => ({}),
  routes: () => [],
  ready: () => true,
  metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
};

describe('AdminHttp start and stop', () => {
  it('a second start waits for the same listen; stop twice closes once', async () => {
    const admin = new AdminHttp(view, silentLogger, 0, '127.0.0.1');
    const first = admin.start();
    await admin.start();
    expect(admin.address?.port).toBeGreaterThan(0);
    await first;
    const port = admin.address!.port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    await Promise.all([admin.stop(), admin.stop()]);
    expect(admin.address).toBeUndefined();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('a start that could not listen is forgotten: the next start listens', async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    const admin = new AdminHttp(view, silentLogger, port, '127.0.0.1');
    try {
      await expect(admin.start()).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
      expect(admin.address).toBeUndefined();
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
      await admin.start();
      expect(admin.address?.port).toBe(port);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await admin.stop();
      if (blocker.listening) blocker.close();
    }
  });
});
