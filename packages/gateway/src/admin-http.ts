import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { FerryError, StartStop, type Logger } from '@ferry/core';
import { listeningLine, loadTlsOptions, type TlsSettings } from '@ferry/net';
import type { AdminHandler } from './admin-handler.js';
import { adminRequestAllowed } from './admin-auth.js';

/** What the admin endpoints read from the running gateway. */
export interface AdminView {
  /** connector name → state */
  connectors(): Record<string, string>;
  routes(): readonly { name: string; from: string; to: readonly string[] }[];
  ready(): boolean;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** parts with paths of their own (the dashboard), offered each request first */
  readonly handlers?: readonly AdminHandler[];
}

/**
 * The admin HTTP endpoint: /healthz (the process answers), /readyz (every connector is up;
 * 503 otherwise, with which is not), /metrics (Prometheus), /api/connectors, /api/routes, and
 * the paths of its handlers (the dashboard: /, /api/status, /events).
 */
export class AdminHttp {
  #server: Server | undefined;
  readonly #life = new StartStop();

  constructor(
    private readonly view: AdminView,
    private readonly logger: Logger,
    private readonly port: number,
    private readonly host = '0.0.0.0',
    /** HTTPS with these certificates (files relative to baseDir); absent: plain HTTP */
    private readonly tls?: { readonly settings: TlsSettings; readonly baseDir: string },
    /** bearer token required on everything but /healthz and /readyz; absent: open */
    private readonly token?: string,
  ) {}

  get address(): AddressInfo | undefined {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? a : undefined;
  }

  /** Idempotent: a second call waits for the same listen; after a failed one, the next tries again. */
  start(): Promise<void> {
    return this.#life.start(() => this.#listen());
  }

  async #listen(): Promise<void> {
    const onRequest: RequestListener = (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.logger.error('admin request failed', { url: req.url, err: String(err) });
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    };
    const tls = this.tls;
    const server =
      tls === undefined
        ? createServer(onRequest)
        : createHttpsServer({ ...(await loadTlsOptions(tls.settings, tls.baseDir)), requestCert: tls.settings.requestCert, rejectUnauthorized: tls.settings.rejectUnauthorized }, onRequest);
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new FerryError('CONNECT_FAILED', `admin server: cannot listen on ${this.host}:${this.port}`, { cause: err })));
        server.listen(this.port, this.host, () => resolve());
      });
    } catch (err) {
      // a server that never listened is not kept: the next start makes a new one
      if (this.#server === server) this.#server = undefined;
      throw err;
    }
    server.on('error', (err) => this.logger.error('admin http error', { err: String(err) }));
    this.logger.info(listeningLine(tls === undefined ? 'admin server' : 'admin server (HTTPS)', this.host, { port: this.address?.port ?? this.port }));
  }

  /** Read the TLS files again for new connections (reload); open ones keep theirs. */
  async reloadTls(): Promise<void> {
    const tls = this.tls;
    const server = this.#server;
    if (tls === undefined || server === undefined || !('setSecureContext' in server)) return;
    (server as HttpsServer).setSecureContext(await loadTlsOptions(tls.settings, tls.baseDir));
  }

  /** Idempotent; a stop during a start closes what that start opened. */
  stop(): Promise<void> {
    return this.#life.stop(() => this.#close(), () => undefined);
  }

  async #close(): Promise<void> {
    await this.#life.starting?.catch(() => undefined);
    const s = this.#server;
    if (s === undefined) return;
    this.#server = undefined;
    for (const h of this.view.handlers ?? []) h.close();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body, null, 2) + '\n');
    };
    const isPublic = this.view.handlers?.some((h) => h.publicPaths?.includes(path)) === true;
    if (!isPublic && !adminRequestAllowed(req, path, this.token)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="ferry"' });
      res.end(JSON.stringify({ error: 'a bearer token is required (gateway.http.token)' }) + '\n');
      return;
    }
    for (const h of this.view.handlers ?? []) if (await h.handle(req, res, path)) return;
    switch (path) {
      case '/healthz':
        return json(200, { status: 'ok' });
      case '/readyz': {
        const ready = this.view.ready();
        return json(ready ? 200 : 503, { ready, connectors: this.view.connectors() });
      }
      case '/metrics': {
        const m = await this.view.metrics();
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(m.body);
        return;
      }
      case '/api/connectors':
        return json(200, this.view.connectors());
      case '/api/routes':
        return json(200, this.view.routes());
      default:
        return json(404, {
          error: 'not found',
          endpoints: ['/healthz', '/readyz', '/metrics', '/api/connectors', '/api/routes', ...(this.view.handlers ?? []).flatMap((h) => h.paths)],
        });
    }
  }
}
