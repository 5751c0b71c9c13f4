import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FerryError } from '@ferry/core';

/** One file of the page, read once and served from memory. */
export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  /** a strong validator (RFC 9110 §8.8.3): the content's hash */
  readonly etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page's files, shipped in the package beside dist/ and src/ (the same path from both). */
const DASHBOARD_FILES = ['index.html', 'dashboard.css', 'dashboard.js', 'favicon.svg'] as const;
export type DashboardFile = (typeof DASHBOARD_FILES)[number];

const STATIC_DIR = new URL('../../static/dashboard/', import.meta.url);

/**
 * The dashboard's static files, loaded on first use (no I/O before a request asks) and kept:
 * they are a few kilobytes and never change while the process runs.
 */
export class DashboardAssets {
  #loaded: Promise<ReadonlyMap<DashboardFile, Asset>> | undefined;

  constructor(private readonly dir: URL = STATIC_DIR) {}

  get(file: DashboardFile): Promise<Asset | undefined> {
    this.#loaded ??= this.#load();
    return this.#loaded.then((m) => m.get(file));
  }

  async #load(): Promise<ReadonlyMap<DashboardFile, Asset>> {
    const out = new Map<DashboardFile, Asset>();
    for (const file of DASHBOARD_FILES) {
      let body: Buffer;
      try {
        body = await readFile(new URL(file, this.dir));
      } catch (err) {
        this.#loaded = undefined;
        throw new FerryError('INTERNAL', `dashboard file ${file} is missing from the package (${this.dir.pathname})`, { cause: err });
      }
      const ext = file.slice(file.lastIndexOf('.'));
      out.set(file, {
        body,
        contentType: TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      });
    }
    return out;
  }
}
