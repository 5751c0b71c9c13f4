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
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return {
      ok: false,
      errors: [new ConfigError({ code: 'CONFIG_IO', file, line: 0, column: 0, path: '', message: `cannot read the route file: ${describeError(err)}` })],
    };
  }
  return parseConfig(text, file, registry, opts);
}
