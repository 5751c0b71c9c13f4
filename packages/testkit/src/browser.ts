import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core: the tests use the browser a user has, never a
 * downloaded build (there is no network but npm and Debian). FERRY_CHROMIUM points elsewhere.
 */
export const CHROMIUM_PATH = process.env['FERRY_CHROMIUM'] ?? '/usr/bin/chromium';

/** The repository's root (testkit lives in packages/testkit/src or dist). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * A headless Chromium. Fails with the command that installs it when it is missing: a browser
 * test never skips (integration/brokers/install.sh installs it with the test brokers).
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}: install it with  apt-get install -y chromium fonts-dejavu-core fonts-liberation  (integration/brokers/install.sh does)`,
    );
  }
  // loaded here, not at the top: playwright-core takes seconds to import, and every test imports testkit
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // --no-sandbox: the tests run as root in a container, where Chromium's sandbox cannot start;
    // /dev/shm is small in containers; no GPU here
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run', '--no-default-browser-check'],
  });
}

/**
 * Everything a page printed to its console or threw, kept so a failing test can show it (a
 * browser error is otherwise invisible from the test).
 */
export function pageLog(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (m) => lines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => lines.push(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  return lines;
}

/** A file of the repository or a text, and its content type, for a {@link StaticServer}. */
export type StaticEntry = { readonly file: string; readonly type: string } | { readonly text: string; readonly type: string };

/**
 * A tiny HTTP server on loopback for the pages a browser test loads (a test page and the
 * browser builds of client libraries from node_modules): files are read on request, paths
 * outside the map are 404.
 */
export class StaticServer {
  #server: Server | undefined;

  constructor(private readonly entries: Readonly<Record<string, StaticEntry>>) {}

  /** listens on a free loopback port; resolves with the base URL (`http://127.0.0.1:port`) */
  async start(): Promise<string> {
    if (!this.#server) {
      const server = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0] ?? '/';
        const entry = this.entries[path];
        if (entry === undefined) {
          res.writeHead(404).end();
          return;
        }
        const body = 'text' in entry ? Promise.resolve(Buffer.from(entry.text)) : readFile(resolve(REPO_ROOT, entry.file));
        body.then(
          (b) => res.writeHead(200, { 'content-type': entry.type, 'cache-control': 'no-store' }).end(b),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err)),
        );
      });
      this.#server = server;
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    }
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * Where a test keeps what a person should look at afterwards (screenshots): `artifacts/<name>`
 * at the repository root (git-ignored); the folder is made.
 */
export async function artifactPath(name: string): Promise<string> {
  const path = join(REPO_ROOT, 'artifacts', name);
  await mkdir(dirname(path), { recursive: true });
  return path;
}
