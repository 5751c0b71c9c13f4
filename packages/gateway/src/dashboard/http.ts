import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, type Logger } from '@ferry/core';
import type { AdminHandler } from '../admin-handler.js';
import { DashboardAssets, type DashboardFile } from './assets.js';
import type { DashboardStatus } from './status.js';

export interface DashboardHttpOptions {
  /** a fresh snapshot of the gateway */
  readonly status: () => Promise<DashboardStatus>;
  readonly logger: Logger;
  /** how often a live page gets a new snapshot, ms */
  readonly intervalMs?: number;
  /** event streams open at once; more are refused with 503 */
  readonly maxStreams?: number;
  /** bytes a stream may have waiting to be sent before it skips a snapshot (a slow reader) */
  readonly maxBufferedBytes?: number;
  readonly assets?: DashboardAssets;
}

const PAGES: Readonly<Record<string, DashboardFile>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/dashboard.css': 'dashboard.css',
  '/dashboard.js': 'dashboard.js',
  '/favicon.svg': 'favicon.svg',
};

/**
 * The page may load only its own files and talk only to its own server: nothing inline, no
 * third party (the admin port is often reachable only from inside, and the page must work
 * offline), and no framing by another site.
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/**
 * The live dashboard on the admin port: the page (`/`), its status as JSON (`/api/status`)
 * and a server-sent event stream (`/events`, HTML Living Standard §9.2) that carries a whole
 * snapshot every `intervalMs`. Each tick builds one snapshot for every open page; a page that
 * reads too slowly skips snapshots instead of making the server buffer them (each snapshot is
 * complete, so skipping one loses nothing). Read-only: only GET and HEAD.
 */
export class DashboardHttp implements AdminHandler {
  readonly paths = ['/', '/api/status', '/events'];
  /**
   * The page's script, style and icon: the same bytes for every gateway, nothing of its state.
   * The page itself, its status and its stream stay behind the admin port's token; the page
   * passes the token it was opened with (`?access_token=`) to its stream and its data links.
   */
  readonly publicPaths = Object.keys(PAGES).filter((p) => PAGES[p] !== 'index.html');
  readonly #opts: DashboardHttpOptions;
  readonly #assets: DashboardAssets;
  readonly #streams = new Set<ServerResponse>();
  readonly #intervalMs: number;
  readonly #maxStreams: number;
  readonly #maxBuffered: number;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;

  constructor(opts: DashboardHttpOptions) {
    this.#opts = opts;
    this.#assets = opts.assets ?? new DashboardAssets();
    this.#intervalMs = Math.max(100, opts.intervalMs ?? 1000);
    this.#maxStreams = Math.max(1, opts.maxStreams ?? 32);
    this.#maxBuffered = Math.max(4096, opts.maxBufferedBytes ?? 256 * 1024);
  }

  /** event streams open now */
  get streams(): number {
    return this.#streams.size;
  }

  /** bytes written to the open streams and not yet taken by the kernel (what slow readers cost) */
  get bufferedBytes(): number {
    let n = 0;
    for (const res of this.#streams) n += res.writableLength;
    return n;
  }

  async handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
    const file = PAGES[path];
    if (file === undefined && path !== '/api/status' && path !== '/events') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('the dashboard is read-only\n');
      return true;
    }
    if (file !== undefined) await this.#asset(req, res, file);
    else if (path === '/api/status') await this.#status(req, res);
    else await this.#events(req, res);
    return true;
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const res of this.#streams) res.end();
    this.#streams.clear();
  }

  async #asset(req: IncomingMessage, res: ServerResponse, file: DashboardFile): Promise<void> {
    const asset = await this.#assets.get(file);
    if (asset === undefined) {
      res.writeHead(404).end();
      return;
    }
    const headers = { ...SECURITY_HEADERS, etag: asset.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': asset.contentType, 'content-length': asset.body.byteLength });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  async #status(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = JSON.stringify(await this.#opts.status(), null, 2) + '\n';
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  async #events(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.#streams.size >= this.#maxStreams) {
      res.writeHead(503, { 'retry-after': '10', 'content-type': 'text/plain; charset=utf-8' });
      res.end(`too many dashboard streams open (${this.#maxStreams})\n`);
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    this.#streams.add(res);
    res.on('close', () => {
      this.#streams.delete(res);
      if (this.#streams.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    });
    // the retry field sets the browser's reconnection time (HTML §9.2.6); then the current state at once
    res.write(`retry: ${Math.max(1000, this.#intervalMs)}\n\n`);
    const first = event(await this.#opts.status());
    if (!this.#streams.has(res)) return;
    res.write(first);
    this.#timer ??= setInterval(() => void this.#tick(), this.#intervalMs);
  }

  async #tick(): Promise<void> {
    // a snapshot slower than the interval must not pile up behind itself
    if (this.#ticking || this.#streams.size === 0) return;
    this.#ticking = true;
    try {
      const data = event(await this.#opts.status());
      for (const res of this.#streams) {
        if (res.destroyed || res.writableLength > this.#maxBuffered) continue;
        res.write(data);
      }
    } catch (err) {
      this.#opts.logger.warn('dashboard snapshot failed', { error: describeError(err) });
    } finally {
      this.#ticking = false;
    }
  }
}

/** one `status` event; JSON.stringify leaves no line break in the data, so one `data:` line holds it */
function event(status: DashboardStatus): string {
  return `event: status\ndata: ${JSON.stringify(status)}\n\n`;
}
