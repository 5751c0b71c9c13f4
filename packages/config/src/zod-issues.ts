import { z } from 'zod';
import type { FieldPath } from '@ferry/core';
import type { Reporter } from './reporter.js';
import { closest, describeValue, didYouMean, literalWord, oneOf, typeWord } from './words.js';

type Issue = z.core.$ZodIssue;
type Step = string | number;

/** zod's own English messages start like these; a schema author's custom message does not */
const DEFAULT_MESSAGE = /^(Invalid|Too (big|small)|Unrecognized key)/;

function isDefaultMessage(issue: Issue): boolean {
  return DEFAULT_MESSAGE.test(issue.message);
}

function steps(path: readonly PropertyKey[]): Step[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** the input value at a relative path, and whether its last step exists */
function valueAt(input: unknown, path: readonly Step[]): { value: unknown; present: boolean } {
  let cur: unknown = input;
  for (const step of path) {
    if (Array.isArray(cur) && typeof step === 'number') {
      if (step >= cur.length) return { value: undefined, present: false };
      cur = cur[step];
    } else if (isRecord(cur)) {
      if (!Object.hasOwn(cur, String(step))) return { value: undefined, present: false };
      cur = cur[String(step)];
    } else return { value: undefined, present: false };
  }
  return { value: cur, present: true };
}

/**
 * The schema a wrapper holds (optional, nullable, default, prefault, readonly, catch,
 * non-optional, lazy; a pipe's input), or undefined when `schema` wraps nothing: what a key or
 * a path means is decided by what is inside.
 */
function unwrapped(schema: z.ZodType): z.ZodType | undefined {
  const s: unknown = schema;
  if (
    s instanceof z.ZodOptional ||
    s instanceof z.ZodNullable ||
    s instanceof z.ZodDefault ||
    s instanceof z.ZodPrefault ||
    s instanceof z.ZodReadonly ||
    s instanceof z.ZodCatch ||
    s instanceof z.ZodNonOptional ||
    s instanceof z.ZodLazy
  ) {
    return s.unwrap() as z.ZodType;
  }
  if (s instanceof z.ZodPipe) return s.in as z.ZodType;
  return undefined;
}

/**
 * The keys an object schema accepts at a path inside `schema`, for "did you mean".
 * Walks the public zod 4 classes; unknown shapes yield no keys (no suggestion, never a crash).
 */
export function knownKeys(schema: z.ZodType | undefined, path: readonly Step[] = [], depth = 0): string[] {
  if (schema === undefined || depth > 30) return [];
  const inner = unwrapped(schema);
  if (inner !== undefined) return knownKeys(inner, path, depth + 1);
  const s: unknown = schema;
  if (s instanceof z.ZodUnion) {
    return [...new Set((s.options as z.ZodType[]).flatMap((o) => knownKeys(o, path, depth + 1)))];
  }
  if (s instanceof z.ZodIntersection) {
    const def = s.def;
    return [...new Set([...knownKeys(def.left as z.ZodType, path, depth + 1), ...knownKeys(def.right as z.ZodType, path, depth + 1)])];
  }
  const [head, ...rest] = path;
  if (s instanceof z.ZodObject) {
    const shape = s.shape as Record<string, z.ZodType>;
    if (head === undefined) return Object.keys(shape);
    return knownKeys(shape[String(head)], rest, depth + 1);
  }
  if (head === undefined) return [];
  if (s instanceof z.ZodArray) return knownKeys(s.element as z.ZodType, rest, depth + 1);
  if (s instanceof z.ZodRecord) return knownKeys(s.valueType as z.ZodType, rest, depth + 1);
  return [];
}

function unknownKeyMessage(key: string, known: readonly string[]): string {
  const hint = didYouMean(key, known);
  if (hint !== '') return `unknown key ${JSON.stringify(key)}${hint}`;
  return known.length > 0 ? `unknown key ${JSON.stringify(key)}; expected one of: ${[...known].sort().join(', ')}` : `unknown key ${JSON.stringify(key)}`;
}

/** `expected a number, found "1883" (remove the quotes to write a number)` and friends */
function quoteHint(expected: string, value: unknown): string {
  if (typeof value !== 'string') return '';
  if ((expected === 'number' || expected === 'int') && /^[-+]?[0-9]+(\.[0-9]*)?$/.test(value.trim())) {
    return ' (quoted values are strings: remove the quotes to write a number)';
  }
  if (expected === 'boolean' && /^(true|false)$/i.test(value.trim())) {
    return ' (quoted values are strings: remove the quotes to write true or false)';
  }
  return '';
}

function bound(issue: Extract<Issue, { code: 'too_big' | 'too_small' }>, value: unknown): { expected: string; found: string } {
  const big = issue.code === 'too_big';
  const limit = big ? (issue as { maximum: number | bigint }).maximum : (issue as { minimum: number | bigint }).minimum;
  const inclusive = issue.inclusive !== false;
  const exact = issue.exact === true;
  const cmp = exact ? 'exactly' : big ? (inclusive ? 'at most' : 'less than') : inclusive ? 'at least' : 'more than';
  const plural = (word: string): string => (limit === 1 || limit === 1n ? word : `${word}s`);
  switch (issue.origin) {
    case 'string':
      if (!big && limit === 1 && inclusive) return { expected: 'a non-empty string', found: describeValue(value) };
      return {
        expected: `${cmp} ${limit} ${plural('character')}`,
        found: typeof value === 'string' ? `${describeValue(value)} (${value.length} ${value.length === 1 ? 'character' : 'characters'})` : describeValue(value),
      };
    case 'array':
    case 'set':
      return {
        expected: `${cmp} ${limit} ${plural('item')}`,
        found: Array.isArray(value) ? `${value.length}` : describeValue(value),
      };
    default:
      return { expected: `${cmp} ${limit}`, found: describeValue(value) };
  }
}

function formatWord(issue: Extract<Issue, { code: 'invalid_format' }>): string {
  const i = issue as { format: string; pattern?: string; prefix?: string; suffix?: string; includes?: string };
  switch (i.format) {
    case 'regex':
      return i.pattern !== undefined ? `a string matching ${i.pattern}` : 'a string in the right format';
    case 'starts_with':
      return `a string starting with ${JSON.stringify(i.prefix ?? '')}`;
    case 'ends_with':
      return `a string ending with ${JSON.stringify(i.suffix ?? '')}`;
    case 'includes':
      return `a string containing ${JSON.stringify(i.includes ?? '')}`;
    case 'url':
      return 'a URL';
    default:
      return `a valid ${i.format}`;
  }
}

/** "expected" of a branch that failed on its own type: `a number`, `"a"` */
function rootExpectation(issue: Issue): unknown[] | string | undefined {
  if (issue.path.length !== 0) return undefined;
  if (issue.code === 'invalid_type') return typeWord(issue.expected);
  if (issue.code === 'invalid_value') return [...issue.values];
  return undefined;
}

export interface ReportOptions {
  /** keys accepted at the schema's root besides the schema's own (e.g. `type`, `connector`) */
  readonly extraKeys?: readonly string[];
}

/**
 * Turns zod issues of `schema.safeParse(input)` into errors at the right positions.
 * `base` is where `input` sits in the file. Messages are rewritten for humans unless the
 * schema's author wrote their own.
 */
export function reportIssues(
  r: Reporter,
  issues: readonly Issue[],
  base: FieldPath,
  schema: z.ZodType | undefined,
  input: unknown,
  opts: ReportOptions = {},
): void {
  // `routingkey: x` is one mistake, not two: when an unknown key is a misspelling of a missing
  // required field, only the unknown key is reported (its message names the right spelling)
  const misspelt = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const rel = steps(issue.path);
    const known = [...knownKeys(schema, rel), ...(rel.length === 0 ? (opts.extraKeys ?? []) : [])];
    for (const key of issue.keys) {
      const right = closest(key, known);
      if (right !== undefined) misspelt.add(JSON.stringify([...rel, right]));
    }
  }
  for (const issue of issues) {
    if (misspelt.has(JSON.stringify(steps(issue.path))) && !valueAt(input, steps(issue.path)).present) continue;
    reportIssue(r, issue, base, schema, input, opts);
  }
}

function reportIssue(r: Reporter, issue: Issue, base: FieldPath, schema: z.ZodType | undefined, input: unknown, opts: ReportOptions): void {
  const rel = steps(issue.path);
  const path: FieldPath = [...base, ...rel];
  const { value, present } = valueAt(input, rel);
  const custom = !isDefaultMessage(issue);

  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = [...knownKeys(schema, rel), ...(rel.length === 0 ? (opts.extraKeys ?? []) : [])];
      for (const key of issue.keys) r.key([...path, key], unknownKeyMessage(key, known), { found: JSON.stringify(key) });
      return;
    }
    case 'invalid_type': {
      const expected = typeWord(issue.expected);
      const parent = valueAt(input, rel.slice(0, -1));
      if (!present && rel.length > 0 && isRecord(parent.value)) {
        const name = String(rel[rel.length - 1]);
        const message = custom ? issue.message : `missing required field ${JSON.stringify(name)} (${expected})`;
        r.missing(path, message, { expected, found: 'nothing' });
        return;
      }
      const found = describeValue(value);
      const message = custom ? `${issue.message} (found ${found})` : `expected ${expected}, found ${found}${quoteHint(issue.expected, value)}`;
      r.value(path, message, { expected, found });
      return;
    }
    case 'invalid_value': {
      const expected = oneOf(issue.values);
      const found = describeValue(value);
      if (!present && rel.length > 0) {
        r.missing(path, `missing required field ${JSON.stringify(String(rel[rel.length - 1]))} (${expected})`, { expected, found: 'nothing' });
        return;
      }
      r.value(path, custom ? `${issue.message} (found ${found})` : `expected ${expected}, found ${found}`, { expected, found });
      return;
    }
    case 'too_big':
    case 'too_small': {
      const { expected, found } = bound(issue, value);
      r.value(path, custom ? `${issue.message} (found ${found})` : `expected ${expected}, found ${found}`, { expected, found });
      return;
    }
    case 'invalid_format': {
      const expected = formatWord(issue);
      const found = describeValue(value);
      r.value(path, custom ? `${issue.message} (found ${found})` : `expected ${expected}, found ${found}`, { expected, found });
      return;
    }
    case 'not_multiple_of': {
      const expected = `a multiple of ${issue.divisor}`;
      const found = describeValue(value);
      r.value(path, custom ? `${issue.message} (found ${found})` : `expected ${expected}, found ${found}`, { expected, found });
      return;
    }
    case 'invalid_union':
      reportUnion(r, issue, path, schemaAt(schema, rel), value, present, custom, rel.length === 0 ? opts : {});
      return;
    case 'invalid_key':
    case 'invalid_element':
      // record keys and map/set elements: report the inner issues at the same place
      for (const inner of issue.issues) {
        r.value(path, isDefaultMessage(inner) ? `invalid key ${describeValue(value)}` : inner.message);
      }
      return;
    default: {
      const found = present ? describeValue(value) : undefined;
      if (present || rel.length === 0) r.value(path, issue.message, { found });
      else r.missing(path, issue.message);
    }
  }
}

/** the sub-schema at a relative path (through objects, arrays, records and wrappers) */
function schemaAt(schema: z.ZodType | undefined, path: readonly Step[], depth = 0): z.ZodType | undefined {
  if (schema === undefined || depth > 30) return undefined;
  const inner = unwrapped(schema);
  if (inner !== undefined) return schemaAt(inner, path, depth + 1);
  const s: unknown = schema;
  const [head, ...rest] = path;
  if (head === undefined) return schema;
  if (s instanceof z.ZodObject) return schemaAt((s.shape as Record<string, z.ZodType>)[String(head)], rest, depth + 1);
  if (s instanceof z.ZodArray) return schemaAt(s.element as z.ZodType, rest, depth + 1);
  if (s instanceof z.ZodRecord) return schemaAt(s.valueType as z.ZodType, rest, depth + 1);
  return undefined;
}

/**
 * A value that matched none of a union's branches. When every branch failed on the value's
 * own type (`qos: 5` against 0 | 1 | 2) the alternatives are listed; otherwise the branch the
 * value came closest to (fewest problems, fewest unknown keys) is reported, as that is the
 * one the author most likely meant.
 */
function reportUnion(
  r: Reporter,
  issue: Extract<Issue, { code: 'invalid_union' }>,
  path: FieldPath,
  schema: z.ZodType | undefined,
  value: unknown,
  present: boolean,
  custom: boolean,
  opts: ReportOptions,
): void {
  const found = describeValue(value);
  const branches = issue.errors;
  if (custom || branches.length === 0) {
    const note = (issue as { note?: string }).note;
    const message = custom ? issue.message : (note ?? `${found} matches none of the accepted forms`);
    if (present) r.value(path, message, { found });
    else r.missing(path, message);
    return;
  }
  const roots = branches.map((b) => (b.length === 1 && b[0] !== undefined ? rootExpectation(b[0]) : undefined));
  if (roots.every((x) => x !== undefined)) {
    const literals = roots.filter((x): x is unknown[] => Array.isArray(x)).flat();
    const words = roots.filter((x): x is string => typeof x === 'string');
    const parts = [...new Set(words)];
    const expected =
      parts.length === 0 ? oneOf(literals) : [...parts, ...literals.map(literalWord)].join(' or ');
    if (!present && path.length > 0) {
      r.missing(path, `missing required field ${JSON.stringify(String(path[path.length - 1]))} (${expected})`, { expected, found: 'nothing' });
      return;
    }
    r.value(path, `expected ${expected}, found ${found}`, { expected, found });
    return;
  }
  const options = schema instanceof z.ZodUnion ? (schema.options as z.ZodType[]) : [];
  const rank = (b: readonly Issue[]): [number, number] => [
    b.some((i) => rootExpectation(i) !== undefined) ? 1 : 0,
    b.length + b.filter((i) => i.code === 'unrecognized_keys').reduce((n, i) => n + (i as { keys: string[] }).keys.length, 0),
  ];
  let best = 0;
  branches.forEach((b, i) => {
    const [ra, rb] = rank(b);
    const [sa, sb] = rank(branches[best] ?? []);
    if (ra < sa || (ra === sa && rb < sb)) best = i;
  });
  reportIssues(r, branches[best] ?? [], path, options[best], value, opts);
}
