import { readFile } from 'node:fs/promises';
import type { AnyConnectorDefinition } from '@ferry/core';
import { describeError } from '@ferry/core';
import { ConfigError } from './errors.js';
import { parseConfig } from './parse.js';
import type { LoadOptions, LoadResult } from './types.js';

/**
 * Reads and checks a route file. A file that cannot be read gives one CONFIG_IO error with no
 * position; otherwise see {@link parseConfig}. Never throws.
 */
export async function loadConfig(file: string, registry: ReadonlyMap<string, AnyConnectorDefinition>, opts: LoadOptions = {}): Promise<LoadResult> {
  const read = await readConfigText(file, 'route file');
  if (typeof read !== 'string') return { ok: false, errors: [read] };
  return parseConfig(read, file, registry, opts);
}

/** A file's text, or the one CONFIG_IO error (no position) that says why it cannot be read. */
export async function readConfigText(file: string, what: string): Promise<string | ConfigError> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    return new ConfigError({ code: 'CONFIG_IO', file, line: 0, column: 0, path: '', message: `cannot read the ${what}: ${ioReason(err)}` });
  }
}

const IO_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of its path is not a folder',
};

/** the file name is already at the start of the line: say only why */
function ioReason(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return `${IO_REASONS[code] ?? describeError(err)} (${code})`;
  return describeError(err);
}
