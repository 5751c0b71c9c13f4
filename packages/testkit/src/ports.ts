import { connect, createServer } from 'node:net';

/**
 * Ports freePort handed out in this process. The OS may give the same free port to two binds in
 * a row once the first is closed again, and a test that asks for several ports before it listens
 * on any (a route file with three listeners) then gets two equal ones.
 */
const handedOut = new Set<number>();

function osPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it), never one it returned before in this process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await osPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port that was not handed out already (100 attempts)');
}

/** Whether something accepts TCP connections on 127.0.0.1:`port` now. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
