/**
 * Words for humans: how a value found in the file is shown, how a zod type is named, and the
 * "did you mean" suggestion. Errors read like `expected a number, found "abc"`.
 */

/** A value as it appears in an error: strings quoted, maps and lists named, long text cut. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (v instanceof Date) return `the date ${v.toISOString()}`;
  if (typeof v === 'object') return Object.keys(v).length === 0 ? 'an empty map' : 'a map';
  return typeof v;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'a boolean (true or false)',
  object: 'a map',
  record: 'a map',
  map: 'a map',
  array: 'a list',
  tuple: 'a list',
  set: 'a list',
  null: 'null',
  undefined: 'nothing',
  date: 'a date',
  literal: 'a fixed value',
  enum: 'one of a fixed set of values',
  nan: 'NaN',
};

/** zod's name of a type (`expected` of an invalid_type issue) in words. */
export function typeWord(zodType: string): string {
  return TYPE_WORDS[zodType] ?? zodType;
}

/** A literal allowed value, as a user would write it. */
export function literalWord(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** `"a"`, `"a" or "b"`, `one of "a", "b", "c"` */
export function oneOf(values: readonly unknown[]): string {
  const words = values.map(literalWord);
  if (words.length === 1) return words[0] ?? '';
  if (words.length === 2) return `${words[0]} or ${words[1]}`;
  return `one of ${words.join(', ')}`;
}

/** Levenshtein distance, case-insensitive letters count half (so `routingkey` is close to `routingKey`). */
function distance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  const cur = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const ca = a[i - 1] ?? '';
      const cb = b[j - 1] ?? '';
      const sub = ca === cb ? 0 : ca.toLowerCase() === cb.toLowerCase() ? 0.5 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + sub);
    }
    for (let j = 0; j <= b.length; j++) prev[j] = cur[j] ?? 0;
  }
  return prev[b.length] ?? 0;
}

/** The closest candidate to a misspelt name, or undefined when none is close enough to be a typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    if (c === word) continue;
    const d = distance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  // a third of the length, at least 1 and at most 3 edits: close enough to be a typo
  const limit = Math.min(3, Math.max(1, Math.floor(word.length / 3)));
  return bestD <= limit ? best : undefined;
}

/** ` (did you mean "x"?)` or '' */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const c = closest(word, candidates);
  return c === undefined ? '' : ` (did you mean ${JSON.stringify(c)}?)`;
}
