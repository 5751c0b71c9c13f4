import { isScalar, type Node } from 'yaml';
import type { z } from 'zod';
import type { FieldPath } from '@ferry/core';
import type { Reporter } from './reporter.js';
import type { SourceMap } from './source-map.js';
import { describeValue, didYouMean } from './words.js';
import { reportIssues } from './zod-issues.js';

export type Dict = Record<string, unknown>;

export function isRecord(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/**
 * What every section's checks share while a route file is checked: the reporter the errors go
 * to (each with its line and column), the file's source map, and the text of interpolated
 * scalars (a `${...}` read by YAML as a number or a boolean, where a field wants a string).
 */
export class CheckContext {
  constructor(
    readonly r: Reporter,
    readonly map: SourceMap,
    /** interpolated scalars' text, for fields that want a string (see interpolateDocument) */
    private readonly texts: ReadonlyMap<Node, string>,
  ) {}

  /** Reports every key of `obj` not in `known`; true when there was none. */
  unknownKeys(obj: Dict, at: FieldPath, known: readonly string[]): boolean {
    let clean = true;
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      // top-level `x-...` keys are free, as in Compose files: a place to keep YAML anchors
      if (at.length === 0 && key.startsWith('x-')) continue;
      const hint = didYouMean(key, known);
      const message = hint !== '' ? `unknown key ${JSON.stringify(key)}${hint}` : `unknown key ${JSON.stringify(key)}; expected one of: ${[...known].sort().join(', ')}`;
      this.r.key([...at, key], message, { found: JSON.stringify(key) });
      clean = false;
    }
    return clean;
  }

  missing(at: FieldPath, what: string): void {
    const name = String(at[at.length - 1]);
    this.r.missing(at, `missing required field ${JSON.stringify(name)} (${what})`, { expected: what, found: 'nothing' });
  }

  wrong(at: FieldPath, expected: string, value: unknown, hint = ''): void {
    const found = describeValue(value);
    this.r.value(at, `expected ${expected}, found ${found}${hint}`, { expected, found });
  }

  line(at: FieldPath): number {
    const l = this.map.locate(at);
    return this.map.positionOf(l.node ?? l.key ?? l.deepest).line;
  }

  validate<T>(schema: z.ZodType<T>, input: unknown, at: FieldPath, extraKeys: readonly string[]): T | undefined {
    let result = schema.safeParse(input);
    // a `${...}` YAML read as a number or boolean, where the field wants a string: take its text
    for (let round = 0; round < 5 && !result.success; round++) {
      if (!this.useTexts(result.error.issues, at, input)) break;
      result = schema.safeParse(input);
    }
    if (result.success) return result.data;
    reportIssues(this.r, result.error.issues, at, schema, input, { extraKeys });
    return undefined;
  }

  /** replaces, in `input`, interpolated non-strings where zod wanted a string; true if any was */
  private useTexts(issues: readonly z.core.$ZodIssue[], at: FieldPath, input: unknown, rel: readonly PropertyKey[] = []): boolean {
    let changed = false;
    for (const issue of issues) {
      const p = [...rel, ...issue.path];
      if (issue.code === 'invalid_union') {
        for (const branch of issue.errors) if (this.useTexts(branch, at, input, p)) changed = true;
        continue;
      }
      if (issue.code !== 'invalid_type' || issue.expected !== 'string' || p.length === 0) continue;
      const steps = p.map((x) => (typeof x === 'number' ? x : String(x)));
      const node = this.map.locate([...at, ...steps]).node;
      const text = node === undefined ? undefined : this.texts.get(node);
      if (text === undefined) continue;
      let parent: unknown = input;
      for (const step of steps.slice(0, -1)) parent = isRecord(parent) || Array.isArray(parent) ? (parent as Record<string, unknown>)[String(step)] : undefined;
      const last = String(steps[steps.length - 1]);
      if ((isRecord(parent) || Array.isArray(parent)) && typeof (parent as Record<string, unknown>)[last] !== 'string') {
        (parent as Record<string, unknown>)[last] = text;
        changed = true;
      }
    }
    return changed;
  }

  /** a string field read outside zod: an interpolated value is its text, whatever YAML made of it */
  textOf(at: FieldPath, v: unknown): unknown {
    if (typeof v === 'string') return v;
    const node = this.map.locate(at).node;
    return node !== undefined && this.texts.has(node) ? this.texts.get(node) : v;
  }

  /**
   * A header value as text. Numbers and booleans are taken as written (`x-version: 1.10` is
   * "1.10", not "1.1"): header values are strings in every protocol's text form.
   */
  scalarText(at: FieldPath, v: unknown): string | undefined {
    if (typeof v === 'string') return v;
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') return undefined;
    const node = this.map.locate(at).node;
    if (node !== undefined && this.texts.has(node)) return this.texts.get(node);
    if (isScalar(node) && typeof node.source === 'string' && node.source !== '') return node.source;
    return String(v);
  }
}
