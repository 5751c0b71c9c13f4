import type { AddressSyntax } from '../connector.js';

/**
 * Grant patterns: which addresses a user may publish to or subscribe to, written in the
 * listener's own syntax, with `{username}` and `{clientId}` filled in per client.
 *
 * - `mqtt`: topic levels split on `/`; `+` one level, `#` every level below (last only,
 *   MQTT 5 §4.7.1). A filter starting with a wildcard never covers a topic starting with `$`
 *   (§4.7.2), and `$share/<group>/` is taken off a subscription before it is checked (§4.8.2).
 * - `stomp`: `/<kind>/` (`/topic/`, `/queue/` …) is matched literally, the rest in words split
 *   on `.`; `*` one word, `#` zero or more words (the RabbitMQ topic syntax the router uses).
 * - `amqp10` / `amqp`: words split on `.`; `*` one word, `#` zero or more words.
 */

/** The values a grant's placeholders are filled with. */
type BindValues = { readonly username?: string | undefined; readonly clientId?: string | undefined };
type Token = { readonly t: 'lit'; readonly v: string } | { readonly t: 'one' } | { readonly t: 'many' };

/** A grant pattern, parsed once; placeholders are filled in by {@link GrantPattern.bind}. */
export class GrantPattern {
  readonly syntax: AddressSyntax;
  readonly source: string;
  readonly #parts: readonly string[];

  private constructor(syntax: AddressSyntax, source: string, parts: readonly string[]) {
    this.syntax = syntax;
    this.source = source;
    this.#parts = parts;
  }

  /** Parse `pattern`; returns a string saying what is wrong when it is not a valid pattern. */
  static parse(syntax: AddressSyntax, pattern: string): GrantPattern | string {
    if (pattern.length === 0) return 'an empty pattern';
    const unknown = /\{(?!username\}|clientId\})[^}]*\}/.exec(pattern);
    if (unknown !== null) return `unknown placeholder ${unknown[0]}: only {username} and {clientId}`;
    const parts = split(syntax, pattern);
    const many = wildcards(syntax).many;
    if (syntax === 'mqtt') {
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i] as string;
        if ((p.includes('+') && p !== '+') || (p.includes('#') && p !== '#')) return `"${p}": a wildcard must be a whole level`;
        if (p === many && i !== parts.length - 1) return '"#" must be the last level';
      }
    }
    return new GrantPattern(syntax, pattern, parts);
  }

  /**
   * This pattern for one client. A placeholder whose value holds a separator or a wildcard
   * (`a/#`, `+`, `x.y`), starts with `$` or is empty would match more than the literal value
   * could; such a grant is void for that client (undefined), never widened.
   */
  bind(values: BindValues): BoundGrant | undefined {
    const w = wildcards(this.syntax);
    const tokens: Token[] = [];
    for (const part of this.#parts) {
      if (!part.includes('{')) {
        tokens.push(part === w.one ? { t: 'one' } : part === w.many ? { t: 'many' } : { t: 'lit', v: part });
        continue;
      }
      const filled = fill(this.syntax, part, values);
      if (filled === undefined) return undefined;
      tokens.push({ t: 'lit', v: filled });
    }
    return new BoundGrant(this.syntax, tokens);
  }
}

/** A grant pattern with its placeholders filled in for one client. */
export class BoundGrant {
  readonly #syntax: AddressSyntax;
  readonly #tokens: readonly Token[];

  constructor(syntax: AddressSyntax, tokens: readonly Token[]) {
    this.#syntax = syntax;
    this.#tokens = tokens;
  }

  /** Whether a publish to the literal address `address` is inside this grant. */
  coversAddress(address: string): boolean {
    return covers(this.#tokens, split(this.#syntax, address).map((v) => ({ t: 'lit', v }) as const));
  }

  /**
   * Whether every address the subscription `filter` can receive is inside this grant (a filter
   * wider than the grant is not covered). Only `mqtt` filters have wildcards; a STOMP
   * destination or an AMQP 1.0 source address names one node, so it is taken literally.
   */
  coversFilter(filter: string): boolean {
    if (this.#syntax !== 'mqtt') return this.coversAddress(filter);
    const w = wildcards('mqtt');
    const tokens = split('mqtt', stripShare(filter)).map((v): Token => (v === w.one ? { t: 'one' } : v === w.many ? { t: 'many' } : { t: 'lit', v }));
    return covers(this.#tokens, tokens);
  }
}

/** MQTT 5 §4.8.2: `$share/<ShareName>/<filter>`; the filter is what is delivered. */
function stripShare(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const slash = filter.indexOf('/', 7);
  return slash < 0 ? filter : filter.slice(slash + 1);
}

function wildcards(syntax: AddressSyntax): { one: string; many: string } {
  return syntax === 'mqtt' ? { one: '+', many: '#' } : { one: '*', many: '#' };
}

function split(syntax: AddressSyntax, s: string): string[] {
  if (syntax === 'mqtt') return s.split('/');
  if (syntax === 'stomp') {
    // the kind of destination is one literal token; its name is words
    const m = /^\/[^/]+\//.exec(s);
    if (m === null) return [s];
    return [m[0], ...s.slice(m[0].length).split('.')];
  }
  return s.split('.');
}

/**
 * One level with its placeholders filled in, or undefined when a value is missing or unsafe.
 * Splitting on a pattern with a capture group leaves the literals at even indexes and the
 * placeholder names at odd ones.
 */
function fill(syntax: AddressSyntax, part: string, values: BindValues): string | undefined {
  const pieces = part.split(/\{(username|clientId)\}/);
  let filled = '';
  for (let k = 0; k < pieces.length; k++) {
    const piece = pieces[k]!;
    if (k % 2 === 0) {
      filled += piece;
      continue;
    }
    const v = piece === 'username' ? values.username : values.clientId;
    if (v === undefined || !safeValue(syntax, v)) return undefined;
    filled += v;
  }
  return filled;
}

function safeValue(syntax: AddressSyntax, v: string): boolean {
  if (v.length === 0 || v.startsWith('$') || v.includes('\u0000')) return false;
  const forbidden = syntax === 'mqtt' ? ['/', '+', '#'] : ['.', '*', '#', '/'];
  return !forbidden.some((c) => v.includes(c));
}

/**
 * Whether the grant `g` matches every address the target `f` matches (f ⊆ g), where `f` may
 * hold wildcards too. Dynamic programming over (position in f, position in g), bottom-up with
 * two rows, so a topic of thousands of levels costs no stack. A `many` in the target is covered
 * only by a `many` in the grant, so an answer of true is always sound.
 */
function covers(g: readonly Token[], f: readonly Token[]): boolean {
  // MQTT 5 §4.7.2: a wildcard in the first level does not match a `$` topic
  const first = f[0];
  const g0 = g[0];
  if (first?.t === 'lit' && first.v.startsWith('$') && g0 !== undefined && g0.t !== 'lit') return false;
  const n = f.length;
  const m = g.length;
  // next[j] = covers(f[i+1..], g[j..]); row[j] = covers(f[i..], g[j..])
  let next = new Array<boolean>(m + 1).fill(false);
  next[m] = true; // i = n: only the empty grant tail, or `many`s, cover the empty target
  for (let j = m - 1; j >= 0; j--) next[j] = (g[j] as Token).t === 'many' && (next[j + 1] as boolean);
  for (let i = n - 1; i >= 0; i--) {
    const fi = f[i] as Token;
    const row = new Array<boolean>(m + 1).fill(false);
    row[m] = false;
    for (let j = m - 1; j >= 0; j--) {
      const gj = g[j] as Token;
      if (gj.t === 'many') row[j] = (row[j + 1] as boolean) || (next[j] as boolean);
      else if (fi.t === 'many') row[j] = false;
      else if (fi.t === 'one') row[j] = gj.t === 'one' && (next[j + 1] as boolean);
      else row[j] = (gj.t === 'one' || gj.v === fi.v) && (next[j + 1] as boolean);
    }
    next = row;
  }
  return next[0] as boolean;
}
