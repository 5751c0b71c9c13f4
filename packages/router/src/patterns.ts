import { FerryError, type AddressSyntax } from '@ferry/core';
import { parseStompDestination, splitWords } from './addresses.js';

/**
 * Address patterns, one grammar per {@link AddressSyntax}, compiled once per load into a
 * matcher. A match returns one capture per wildcard, in order: the levels (words) it covered.
 * `+`/`*` capture exactly one level; `#` captures zero or more.
 */
type Captures = string[][];

export interface CompiledPattern {
  readonly syntax: AddressSyntax;
  /** the pattern as written */
  readonly pattern: string;
  /** the number of wildcards, i.e. of captures a match returns ({1}…{n}) */
  readonly wildcards: number;
  /** the captures when `address` matches, else undefined (an exact pattern returns []) */
  match(address: string): Captures | undefined;
}

/** Compile `pattern` of `syntax`; throws FerryError PATTERN_INVALID (permanent) when it is malformed. */
export function compilePattern(syntax: AddressSyntax, pattern: string): CompiledPattern {
  switch (syntax) {
    case 'mqtt':
      return compileMqtt(pattern);
    case 'amqp':
      return compileWords('amqp', pattern, pattern, 'AMQP 0-9-1 binding key', true);
    case 'amqp10':
      return compileWords('amqp10', pattern, pattern, 'AMQP 1.0 address pattern', false);
    case 'stomp':
      return compileStomp(pattern);
  }
}

function invalid(kind: string, pattern: string, why: string): FerryError {
  return new FerryError('PATTERN_INVALID', `invalid ${kind} "${pattern}": ${why}`, {
    permanent: true,
    details: { pattern },
  });
}

function exact(syntax: AddressSyntax, pattern: string, literal: string): CompiledPattern {
  return {
    syntax,
    pattern,
    wildcards: 0,
    // exact patterns are the common case: one string compare, no split
    match: (address) => (address === literal ? [] : undefined),
  };
}

// ───────────────────────────── MQTT ─────────────────────────────

type MqttToken = { readonly t: 'lit'; readonly v: string } | { readonly t: '+' } | { readonly t: '#' };

const MQTT_MAX_BYTES = 65535; // UTF-8 string length prefix is 2 bytes (MQTT 5 §1.5.4)

function compileMqtt(pattern: string): CompiledPattern {
  const kind = 'MQTT topic filter';
  let filter = pattern;
  // Shared subscriptions `$share/{ShareName}/{filter}` (MQTT 5 §4.8.2): messages arrive with
  // topics matching the filter part; the share name only groups subscribers.
  if (pattern.startsWith('$share/')) {
    const rest = pattern.slice('$share/'.length);
    const slash = rest.indexOf('/');
    const share = slash < 0 ? rest : rest.slice(0, slash);
    if (share === '' || /[+#]/.test(share)) {
      throw invalid(kind, pattern, 'a shared subscription needs a ShareName without "/", "+" or "#" (MQTT 5 §4.8.2)');
    }
    if (slash < 0 || slash === rest.length - 1) {
      throw invalid(kind, pattern, 'a shared subscription needs a topic filter after its ShareName (MQTT 5 §4.8.2)');
    }
    filter = rest.slice(slash + 1);
  }
  if (filter === '') throw invalid(kind, pattern, 'a topic filter must be at least one character long (MQTT 5 §4.7.3)');
  if (filter.includes('\u0000')) throw invalid(kind, pattern, 'a topic filter must not contain NUL (MQTT 5 §1.5.4)');
  if (Buffer.byteLength(filter, 'utf8') > MQTT_MAX_BYTES) {
    throw invalid(kind, pattern.slice(0, 40) + '…', `longer than ${MQTT_MAX_BYTES} bytes (MQTT 5 §1.5.4)`);
  }

  const levels = filter.split('/');
  const tokens: MqttToken[] = [];
  let wildcards = 0;
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level === '+') {
      tokens.push({ t: '+' });
      wildcards++;
    } else if (level === '#') {
      if (i !== levels.length - 1) {
        throw invalid(kind, pattern, `"#" must be the last level, found at level ${i + 1} (MQTT 5 §4.7.1.2)`);
      }
      tokens.push({ t: '#' });
      wildcards++;
    } else if (level.includes('#')) {
      throw invalid(kind, pattern, `"#" must occupy a whole level, found in "${level}" (MQTT 5 §4.7.1.2)`);
    } else if (level.includes('+')) {
      throw invalid(kind, pattern, `"+" must occupy a whole level, found in "${level}" (MQTT 5 §4.7.1.3)`);
    } else {
      tokens.push({ t: 'lit', v: level });
    }
  }
  if (wildcards === 0) return exact('mqtt', pattern, filter);

  // A filter starting with a wildcard does not match topics starting with '$' ($SYS/...)
  // (MQTT 5 §4.7.2).
  const guardDollar = tokens[0]?.t !== 'lit';
  const hasHash = tokens[tokens.length - 1]?.t === '#';
  const fixed = hasHash ? tokens.length - 1 : tokens.length;

  return {
    syntax: 'mqtt',
    pattern,
    wildcards,
    match(address: string): Captures | undefined {
      if (guardDollar && address.startsWith('$')) return undefined;
      // the levels are read in place, not split: a literal level is compared where it lies and
      // only a wildcard's level becomes a string (this runs for every message)
      const captures: Captures = [];
      let at = 0;
      for (let i = 0; i < fixed; i++) {
        // past the end: the topic has fewer levels than the filter's fixed ones
        if (at > address.length) return undefined;
        let end = address.indexOf('/', at);
        if (end < 0) end = address.length;
        const tok = tokens[i] as MqttToken;
        if (tok.t === '+') captures.push([address.slice(at, end)]);
        else if (tok.t === 'lit' && (end - at !== tok.v.length || !address.startsWith(tok.v, at))) return undefined;
        at = end + 1;
      }
      // `at` is past the end when the fixed levels were all the topic had. Without '#' the level
      // counts must be equal; with it, the topic may stop right before the '#' level: `a/#`
      // matches `a` (the parent level, MQTT 5 §4.7.1.2)
      if (hasHash) captures.push(at > address.length ? [] : address.slice(at).split('/'));
      else if (at <= address.length) return undefined;
      return captures;
    },
  };
}

// ─────────────────────── AMQP topic words ───────────────────────

type WordToken = { readonly t: 'lit'; readonly v: string } | { readonly t: '*' } | { readonly t: '#' };

/** AMQP 0-9-1 §4.2.5.3: a shortstr (routing and binding keys) holds at most 255 octets. */
export const AMQP_SHORTSTR_MAX = 255;

/**
 * Words separated by '.', `*` exactly one word and `#` zero or more words, each anywhere and
 * as often as wanted (RabbitMQ topic exchange semantics). A wildcard must be a whole word:
 * RabbitMQ would read `a*` as the literal word "a*", which in a route file is almost always a
 * mistake, so Ferry refuses it.
 *
 * `display` is what error messages quote (the whole STOMP destination for a STOMP pattern).
 */
function compileWords(
  syntax: AddressSyntax,
  key: string,
  display: string,
  kind: string,
  shortstr: boolean,
): CompiledPattern & { readonly tokens: readonly WordToken[] } {
  if (shortstr && Buffer.byteLength(key, 'utf8') > AMQP_SHORTSTR_MAX) {
    throw invalid(kind, display, `longer than ${AMQP_SHORTSTR_MAX} bytes (AMQP 0-9-1 §4.2.5.3, shortstr)`);
  }
  const words = splitWords(key);
  const tokens: WordToken[] = [];
  let wildcards = 0;
  let hashes = 0;
  for (const w of words) {
    if (w === '*') {
      tokens.push({ t: '*' });
      wildcards++;
    } else if (w === '#') {
      tokens.push({ t: '#' });
      wildcards++;
      hashes++;
    } else if (w.includes('*') || w.includes('#')) {
      throw invalid(kind, display, `"*" and "#" must be whole words (between dots), found in "${w}"`);
    } else {
      tokens.push({ t: 'lit', v: w });
    }
  }
  if (wildcards === 0) return { ...exact(syntax, display, key), tokens };
  const match = hashes === 0 ? matchFixed(tokens) : matchWithHash(tokens);
  return { syntax, pattern: display, wildcards, tokens, match };
}

/** `*` and literals only: the word counts must be equal. */
function matchFixed(tokens: readonly WordToken[]): (key: string) => Captures | undefined {
  return (key) => {
    const words = splitWords(key);
    if (words.length !== tokens.length) return undefined;
    const captures: Captures = [];
    for (let i = 0; i < tokens.length; i++) {
      const tok = tokens[i] as WordToken;
      const word = words[i] as string;
      if (tok.t === '*') captures.push([word]);
      else if (tok.t === 'lit' && tok.v !== word) return undefined;
    }
    return captures;
  };
}

/**
 * With `#`: dynamic programming over (token, word) so several `#` never backtrack
 * exponentially (`#.#.#.x` against a long key is O(tokens × words)). When a key can match in
 * more than one way, each `#` takes as many words as it can, left to right (like a greedy
 * regular expression): `#.x.#` on `a.x.b.x.c` captures [a, x, b] and [c].
 */
function matchWithHash(tokens: readonly WordToken[]): (key: string) => Captures | undefined {
  const P = tokens.length;
  return (key) => {
    const words = splitWords(key);
    const W = words.length;
    // ok[p * (W + 1) + w]: tokens[p..] match words[w..]
    const stride = W + 1;
    const ok = new Uint8Array((P + 1) * stride);
    ok[P * stride + W] = 1;
    for (let p = P - 1; p >= 0; p--) {
      const tok = tokens[p] as WordToken;
      for (let w = W; w >= 0; w--) {
        let v: boolean;
        if (tok.t === '#') v = ok[(p + 1) * stride + w] === 1 || (w < W && ok[p * stride + w + 1] === 1);
        else if (w === W) v = false;
        else if (tok.t === '*') v = ok[(p + 1) * stride + w + 1] === 1;
        else v = tok.v === words[w] && ok[(p + 1) * stride + w + 1] === 1;
        ok[p * stride + w] = v ? 1 : 0;
      }
    }
    if (ok[0] !== 1) return undefined;
    // walk forward along a successful path, '#' greedy
    const captures: Captures = [];
    let w = 0;
    for (let p = 0; p < P; p++) {
      const tok = tokens[p] as WordToken;
      if (tok.t === '#') {
        let end = W;
        while (ok[(p + 1) * stride + end] !== 1) end--;
        captures.push(words.slice(w, end));
        w = end;
      } else {
        if (tok.t === '*') captures.push([words[w] as string]);
        w++;
      }
    }
    return captures;
  };
}

// ───────────────────────────── STOMP ─────────────────────────────

function compileStomp(pattern: string): CompiledPattern {
  const kind = 'STOMP destination';
  const d = parseStompDestination(pattern);
  if (d === undefined) {
    throw invalid(kind, pattern, 'expected /topic/<key>, /queue/<name>, /exchange/<name>/<key> or /amq/queue/<name>');
  }
  switch (d.kind) {
    case 'queue':
    case 'amq-queue': {
      if (d.rest === '') throw invalid(kind, pattern, 'the queue name is empty');
      if (splitWords(d.rest).some((w) => w === '*' || w === '#')) {
        throw invalid(kind, pattern, 'a queue destination names one queue; wildcards are only allowed in /topic/ and /exchange/ destinations');
      }
      return exact('stomp', pattern, pattern);
    }
    case 'topic':
    case 'exchange': {
      if (d.kind === 'exchange' && d.exchange === '') throw invalid(kind, pattern, 'the exchange name is empty');
      // the routing key goes to RabbitMQ as a binding key, a shortstr
      const inner = compileWords('stomp', d.rest, pattern, kind, true);
      if (inner.wildcards === 0) return exact('stomp', pattern, pattern);
      const wantExchange = d.kind === 'exchange' ? d.exchange : undefined;
      return {
        syntax: 'stomp',
        pattern,
        wildcards: inner.wildcards,
        match(address: string): Captures | undefined {
          const a = parseStompDestination(address);
          if (a?.kind !== d.kind) return undefined;
          if (a.kind === 'exchange' && a.exchange !== wantExchange) return undefined;
          return inner.match(a.rest);
        },
      };
    }
  }
}
