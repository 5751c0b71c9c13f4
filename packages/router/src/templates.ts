import { FerryError, headerToString, type AddressSyntax, type GatewayMessage } from '@ferry/core';
import { AMQP_SHORTSTR_MAX } from './patterns.js';
import { separatorOf, translateAddress, translateLevel } from './addresses.js';

/**
 * Sink templates: literal text with placeholders, parsed once per load and filled per message.
 *
 * | placeholder     | value                                                                       |
 * | `{1}` … `{n}`   | the levels the n-th wildcard of the source pattern matched, each translated |
 * |                 | like an address level (translateLevel), joined with the target's separator  |
 * |                 | (`#` may have matched several levels, or none)                              |
 * | `{address}`     | the whole source address translated into the target's syntax               |
 * | `{header.NAME}` | headerToString of the message's header NAME                                 |
 *
 * `{{` and `}}` are literal braces. Anything else in braces is a template error. A placeholder
 * without a value fails the message (TEMPLATE_MISSING_VALUE, permanent): Ferry never publishes
 * to a half-filled address.
 */
export type TemplatePart =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'capture'; readonly index: number }
  | { readonly kind: 'address' }
  | { readonly kind: 'header'; readonly name: string };

/** What a template is filled from. */
export interface RenderContext {
  readonly message: GatewayMessage;
  /** the captures of the route's source pattern ([] when it has none) */
  readonly captures: readonly (readonly string[])[];
  /** the syntax of message.source.address */
  readonly sourceSyntax: AddressSyntax;
  /**
   * The syntax being written: the sink's for a `to` field (its separator joins `#` captures,
   * `{address}` is translated into it); the source's own for `headers.set` values.
   */
  readonly targetSyntax: AddressSyntax;
  /**
   * Set when the value is a hierarchical address (a topic, a routing key): the separator of its
   * levels. A `{header.NAME}` value holding it fails the message (TEMPLATE_INVALID, permanent)
   * instead of adding levels the sender never wrote (`devices/{header.id}` with id `a/b` must
   * not publish to `devices/a/b`). Captures and `{address}` cannot add levels: they are levels.
   */
  readonly levelSeparator?: '/' | '.' | undefined;
}

export class Template {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
  /** distinct capture indexes used, ascending */
  readonly captureIndexes: readonly number[];

  private constructor(source: string, parts: readonly TemplatePart[]) {
    this.source = source;
    this.parts = parts;
    const idx = new Set<number>();
    for (const p of parts) if (p.kind === 'capture') idx.add(p.index);
    this.captureIndexes = [...idx].sort((a, b) => a - b);
  }

  /** Parse `text`; throws FerryError TEMPLATE_INVALID (permanent) on a syntax error. */
  static parse(text: string): Template {
    return new Template(text, parseParts(text));
  }

  /** true when there is no placeholder: the rendered value is always the same */
  get isLiteral(): boolean {
    return this.parts.every((p) => p.kind === 'text');
  }

  /** the literal text when {@link isLiteral} (braces unescaped) */
  get literal(): string | undefined {
    return this.isLiteral ? this.parts.map((p) => (p.kind === 'text' ? p.text : '')).join('') : undefined;
  }

  /** the highest `{n}` used, 0 when none */
  get maxCapture(): number {
    return this.captureIndexes[this.captureIndexes.length - 1] ?? 0;
  }

  /** Fill the template; throws FerryError TEMPLATE_MISSING_VALUE (permanent) when a value is missing. */
  render(ctx: RenderContext): string {
    let out = '';
    for (const part of this.parts) {
      switch (part.kind) {
        case 'text':
          out += part.text;
          break;
        case 'capture': {
          const cap = ctx.captures[part.index - 1];
          if (cap === undefined) {
            throw missing(this.source, `{${part.index}}`, `the source pattern matched ${plural(ctx.captures.length, 'wildcard')}`);
          }
          // a `+` captures one level: most captures need neither an array nor a join
          out +=
            cap.length === 1
              ? translateLevel(cap[0] as string, ctx.sourceSyntax, ctx.targetSyntax)
              : cap.map((level) => translateLevel(level, ctx.sourceSyntax, ctx.targetSyntax)).join(separatorOf(ctx.targetSyntax));
          break;
        }
        case 'address':
          out += translateAddress(ctx.sourceSyntax, ctx.message.source.address, ctx.targetSyntax);
          break;
        case 'header': {
          const v = ctx.message.headers.get(part.name);
          // a header set to null is present (its string form is ''); only an absent one is missing
          if (v === undefined && !ctx.message.headers.has(part.name)) {
            throw missing(this.source, `{header.${part.name}}`, `the message has no header "${part.name}"`);
          }
          const text = headerToString(v ?? null);
          if (ctx.levelSeparator !== undefined && text.includes(ctx.levelSeparator)) {
            throw new FerryError(
              'TEMPLATE_INVALID',
              `template "${this.source}": the value of {header.${part.name}} holds "${ctx.levelSeparator}", which would add levels to the address`,
              { permanent: true, details: { template: this.source, placeholder: `{header.${part.name}}` } },
            );
          }
          out += text;
          break;
        }
      }
    }
    return out;
  }
}

export function parseTemplate(text: string): Template {
  return Template.parse(text);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function missing(template: string, placeholder: string, why: string): FerryError {
  return new FerryError('TEMPLATE_MISSING_VALUE', `template "${template}": no value for ${placeholder}: ${why}`, {
    permanent: true,
    details: { template, placeholder },
  });
}

function templateError(template: string, column: number, what: string, hint?: string): FerryError {
  const tail = hint === undefined ? '' : `; ${hint}`;
  return new FerryError('TEMPLATE_INVALID', `${what} at column ${column} of template "${template}"${tail}`, {
    permanent: true,
    details: { template, column },
  });
}

const EXPECTED = 'expected {1}…{n}, {address} or {header.NAME}; write {{ or }} for a literal brace';

function parseParts(s: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let text = '';
  let i = 0;
  const flush = (): void => {
    if (text !== '') parts.push({ kind: 'text', text });
    text = '';
  };
  while (i < s.length) {
    const c = s[i];
    if (c === '{') {
      if (s[i + 1] === '{') {
        text += '{';
        i += 2;
        continue;
      }
      const close = s.indexOf('}', i + 1);
      const nextOpen = s.indexOf('{', i + 1);
      if (close < 0 || (nextOpen >= 0 && nextOpen < close)) {
        throw templateError(s, i + 1, 'unclosed "{"', EXPECTED);
      }
      const inner = s.slice(i + 1, close);
      flush();
      parts.push(placeholder(s, i + 1, inner));
      i = close + 1;
    } else if (c === '}') {
      if (s[i + 1] === '}') {
        text += '}';
        i += 2;
        continue;
      }
      throw templateError(s, i + 1, 'unmatched "}"', EXPECTED);
    } else {
      // copy the run of ordinary characters up to the next brace in one slice
      let j = i + 1;
      while (j < s.length && s[j] !== '{' && s[j] !== '}') j++;
      text += s.slice(i, j);
      i = j;
    }
  }
  flush();
  return parts;
}

function placeholder(s: string, column: number, inner: string): TemplatePart {
  if (/^[1-9][0-9]{0,5}$/.test(inner)) return { kind: 'capture', index: Number(inner) };
  if (inner === 'address') return { kind: 'address' };
  if (inner.startsWith('header.') && inner.length > 'header.'.length) {
    return { kind: 'header', name: inner.slice('header.'.length) };
  }
  if (inner === '') throw templateError(s, column, 'empty placeholder {}', EXPECTED);
  if (/^0+$/.test(inner)) throw templateError(s, column, `placeholder {${inner}}`, 'wildcard captures are numbered from {1}');
  if (inner === 'header.') throw templateError(s, column, 'placeholder {header.} names no header');
  throw templateError(s, column, `unknown placeholder {${inner}}`, EXPECTED);
}

/**
 * The level separator a template's header values must not hold when it fills an address field
 * of `syntax`: '/' for an MQTT topic, '.' for a routing key or an AMQP 1.0 address. A STOMP
 * `/queue/…` or `/amq/queue/…` destination names one queue (dots included), so it has none;
 * every other STOMP destination is a routing key after its prefix.
 */
export function levelSeparatorOf(syntax: AddressSyntax, template: Template): '/' | '.' | undefined {
  if (syntax === 'stomp') {
    const first = template.parts[0];
    const lead = first?.kind === 'text' ? first.text : '';
    if (lead.startsWith('/queue/') || lead.startsWith('/amq/queue/')) return undefined;
  }
  return separatorOf(syntax);
}

// ───────────────────── checks on a rendered address ─────────────────────

const MQTT_MAX_BYTES = 65535;

/**
 * Check a value rendered into an address field of a `syntax` sink. Throws FerryError
 * TEMPLATE_INVALID (permanent): the same message would render the same bad address every time.
 * - mqtt: a topic name is non-empty, has no wildcard and no NUL (MQTT 5 §4.7.3, §3.3.2.1,
 *   §1.5.4) and fits a UTF-8 string (65,535 bytes)
 * - amqp: exchange names and routing keys are shortstr, at most 255 bytes (AMQP 0-9-1 §4.2.5.3)
 * - stomp: a destination is non-empty and has no NUL (a NUL ends the frame, STOMP 1.2 "Augmented BNF")
 */
export function checkRenderedAddress(syntax: AddressSyntax, value: string, template?: string): void {
  const why = renderedAddressProblem(syntax, value);
  if (why === undefined) return;
  const from = template === undefined ? '' : ` (from template "${template}")`;
  throw new FerryError('TEMPLATE_INVALID', `rendered address "${value}"${from} ${why}`, {
    permanent: true,
    details: { value, syntax, ...(template === undefined ? {} : { template }) },
  });
}

/** Why `value` cannot be an address of `syntax`, or undefined when it can. */
export function renderedAddressProblem(syntax: AddressSyntax, value: string): string | undefined {
  switch (syntax) {
    case 'mqtt':
      if (value === '') return 'is empty: an MQTT topic name must be at least one character (MQTT 5 §4.7.3)';
      if (value.includes('+') || value.includes('#')) {
        return 'contains a wildcard: an MQTT topic name must not contain "+" or "#" (MQTT 5 §3.3.2.1)';
      }
      if (value.includes('\u0000')) return 'contains NUL, not allowed in an MQTT topic name (MQTT 5 §1.5.4)';
      if (Buffer.byteLength(value, 'utf8') > MQTT_MAX_BYTES) return `is longer than ${MQTT_MAX_BYTES} bytes (MQTT 5 §1.5.4)`;
      return undefined;
    case 'amqp':
      if (Buffer.byteLength(value, 'utf8') > AMQP_SHORTSTR_MAX) {
        return `is longer than ${AMQP_SHORTSTR_MAX} bytes, the limit of an AMQP 0-9-1 shortstr (§4.2.5.3)`;
      }
      return undefined;
    case 'stomp':
      if (value === '') return 'is empty: a STOMP destination must not be empty';
      if (value.includes('\u0000')) return 'contains NUL, which ends a STOMP frame';
      return undefined;
    case 'amqp10':
      return undefined;
  }
}
