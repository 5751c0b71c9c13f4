/**
 * Helpers for the spool's own tests (not exported from the package index): temp directories
 * and a plain-JS build of the spool for child processes (Node 20 cannot run
 * TypeScript, and a crash test needs a real process to SIGKILL).
 */
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { transformSync } from '@swc/core';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `ferry-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Compile packages/core/src and packages/spool/src (without tests and this file) to ES modules
 * in `outDir` with swc, `@ferry/core` pointed at the compiled core and `classic-level` at the
 * installed package. Returns the path of the compiled spool index.
 */
export function buildSpoolForChild(outDir: string): string {
  const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
  const classicLevel = path.join(repo, 'node_modules/classic-level/index.js');
  const compile = (src: string, out: string, depth: number): void => {
    mkdirSync(out, { recursive: true });
    const coreIndex = `${'../'.repeat(depth)}core/index.js`;
    for (const entry of readdirSync(src, { withFileTypes: true })) {
      const file = entry.name;
      if (entry.isDirectory()) {
        compile(path.join(src, file), path.join(out, file), depth + 1);
        continue;
      }
      if (!file.endsWith('.ts') || file.endsWith('.test.ts') || file === 'test-support.ts') continue;
      const { code } = transformSync(readFileSync(path.join(src, file), 'utf8'), {
        filename: file,
        jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
        module: { type: 'es6' },
      });
      const fixed = code
        .replaceAll("from '@ferry/core'", `from '${coreIndex}'`)
        .replaceAll('from "@ferry/core"', `from "${coreIndex}"`)
        .replaceAll("from 'classic-level'", `from ${JSON.stringify(classicLevel)}`)
        .replaceAll('from "classic-level"', `from ${JSON.stringify(classicLevel)}`);
      writeFileSync(path.join(out, file.replace(/\.ts$/, '.js')), fixed);
    }
  };
  // core has folders of its own (core/src/auth): compile the trees, not one level
  for (const pkg of ['core', 'spool']) compile(path.join(repo, 'packages', pkg, 'src'), path.join(outDir, pkg), 1);
  writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
  // the compiled files import core's own dependencies (zod) by name: resolve them from the repository
  symlinkSync(path.join(repo, 'node_modules'), path.join(outDir, 'node_modules'), 'dir');
  return path.join(outDir, 'spool', 'index.js');
}
