import {
  FerryError,
  describeError,
  type AddressSyntax,
  type AnyConnectorDefinition,
  type ConnectorSpec,
  type FieldPath,
  type RouteSpec,
  type SpecIssue,
} from '@ferry/core';
import { compilePattern } from './patterns.js';
import { Template, plural, renderedAddressProblem } from './templates.js';

/** A connector of the route file with its type's definition. */
export interface ConnectorEntry {
  readonly spec: ConnectorSpec;
  readonly definition: AnyConnectorDefinition;
}

/** What the templates of a route may capture from its source. */
type SourceCaptures =
  /** the source could not be analysed (unknown connector, bad pattern): capture counts are not checked */
  | { readonly kind: 'unknown' }
  /** the source names no pattern (an AMQP queue): no `{n}` can be filled */
  | { readonly kind: 'none' }
  | { readonly kind: 'pattern'; readonly pattern: string; readonly wildcards: number };

/**
 * Static checks of routes against their connectors' definitions, every problem at once, each
 * with the path of the field from the root of the route file. The config loader calls this
 * after the connectors' schemas validated every field (so it skips endpoints whose connector
 * is missing or cannot be a source/sink: those are already reported).
 */
export function checkRoutes(
  routes: readonly RouteSpec[],
  connectors: ReadonlyMap<string, ConnectorEntry>,
  opts: CheckOptions = {},
): SpecIssue[] {
  const issues: SpecIssue[] = [];
  routes.forEach((route, i) => {
    const base: FieldPath = ['routes', i];
    const fromEntry = connectors.get(route.from.connector);
    const partial = opts.partialSources?.has(i) ?? false;
    const source = partial ? checkPartialSource(route, base, fromEntry?.definition, issues) : checkSource(route, base, fromEntry?.definition, issues);

    route.to.forEach((to, j) => {
      const def = connectors.get(to.connector)?.definition;
      if (def?.to === undefined) return;
      for (const field of def.templateFields) {
        const value = to.fields[field];
        if (typeof value !== 'string') continue;
        checkTemplate(value, [...base, 'to', j, field], source, def.syntax, issues);
      }
    });

    for (const [name, value] of Object.entries(route.headers.set)) {
      // header values are not addresses: no address check (they are filled in the source's syntax)
      checkTemplate(value, [...base, 'headers', 'set', name], source, undefined, issues);
    }

    checkPolicy(route, base, source, connectors, issues);
  });
  return issues;
}

/**
 * `maxInFlight` and `onFailure`. The config loader's schema already bounds the numbers (with
 * positions); these checks are the safety net for routes built another way. The dead-letter
 * destination's templates are checked like those of any `to`.
 */
function checkPolicy(
  route: RouteSpec,
  base: FieldPath,
  source: SourceCaptures,
  connectors: ReadonlyMap<string, ConnectorEntry>,
  issues: SpecIssue[],
): void {
  const max = route.maxInFlight;
  if (max !== undefined && (!Number.isInteger(max) || max < 1)) {
    issues.push({ path: [...base, 'maxInFlight'], message: `expected a whole number of at least 1, found ${max}` });
  }
  const retry = route.onFailure?.retry;
  if (retry !== undefined) {
    const rp: FieldPath = [...base, 'onFailure', 'retry'];
    if (!Number.isInteger(retry.maxAttempts) || retry.maxAttempts < 1) {
      issues.push({ path: [...rp, 'maxAttempts'], message: `expected a whole number of at least 1, found ${retry.maxAttempts}` });
    }
    if (!(retry.initialMs >= 0)) issues.push({ path: [...rp, 'initialMs'], message: `expected at least 0, found ${retry.initialMs}` });
    if (!(retry.maxMs >= retry.initialMs)) {
      issues.push({ path: [...rp, 'maxMs'], message: `expected at least initialMs (${retry.initialMs}), found ${retry.maxMs}` });
    }
  }
  const dl = route.onFailure?.deadLetter;
  if (dl === undefined) return;
  const dp: FieldPath = [...base, 'onFailure', 'deadLetter'];
  const def = connectors.get(dl.connector)?.definition;
  if (def === undefined) {
    issues.push({ path: [...dp, 'connector'], message: `unknown connector "${dl.connector}"` });
    return;
  }
  if (def.to === undefined) {
    issues.push({ path: [...dp, 'connector'], message: `connector "${dl.connector}" (type ${def.type}) cannot be a destination: it takes no "to"` });
    return;
  }
  for (const field of def.templateFields) {
    const value = dl.fields[field];
    if (typeof value !== 'string') continue;
    checkTemplate(value, [...dp, field], source, def.syntax, issues);
  }
}

export interface CheckOptions {
  /**
   * Indices of routes whose `from` holds only the fields that passed their schema (the loader
   * checks the rest of a route whose source has errors): a pattern found there is checked, but
   * a missing one means "not known", not "no pattern".
   */
  readonly partialSources?: ReadonlySet<number>;
}

/** checkSource for a source with errors of its own: what cannot be derived is not known, not wrong. */
function checkPartialSource(route: RouteSpec, base: FieldPath, def: AnyConnectorDefinition | undefined, issues: SpecIssue[]): SourceCaptures {
  let pattern: string | undefined;
  try {
    pattern = def?.from === undefined ? undefined : def.sourcePattern(route.from.fields);
  } catch {
    return { kind: 'unknown' };
  }
  if (pattern === undefined) return { kind: 'unknown' };
  return checkSource(route, base, def, issues);
}

/** The captures a route's source offers; reports a bad pattern. */
function checkSource(
  route: RouteSpec,
  base: FieldPath,
  def: AnyConnectorDefinition | undefined,
  issues: SpecIssue[],
): SourceCaptures {
  if (def?.from === undefined) return { kind: 'unknown' };
  const fromPath: FieldPath = [...base, 'from'];
  let pattern: string | undefined;
  try {
    pattern = def.sourcePattern(route.from.fields);
  } catch (err) {
    issues.push({ path: fromPath, message: `cannot derive the source pattern: ${describeError(err)}` });
    return { kind: 'unknown' };
  }
  if (pattern === undefined) return { kind: 'none' };
  try {
    const compiled = compilePattern(def.syntax, pattern);
    return { kind: 'pattern', pattern, wildcards: compiled.wildcards };
  } catch (err) {
    issues.push({ path: patternPath(fromPath, route.from.fields, pattern), message: errorMessage(err) });
    return { kind: 'unknown' };
  }
}

/** The path of the `from` field holding `pattern`, or the `from` itself when none holds it verbatim. */
function patternPath(fromPath: FieldPath, fields: Readonly<Record<string, unknown>>, pattern: string): FieldPath {
  for (const [key, value] of Object.entries(fields)) {
    if (value === pattern) return [...fromPath, key];
  }
  return fromPath;
}

function errorMessage(err: unknown): string {
  return err instanceof FerryError ? err.message : describeError(err);
}

/**
 * Check one template: its syntax, its `{n}` against the source's wildcards and, for an address
 * field (`syntax` given), literal text that no message could ever turn into a valid address.
 */
function checkTemplate(
  text: string,
  path: FieldPath,
  source: SourceCaptures,
  syntax: AddressSyntax | undefined,
  issues: SpecIssue[],
): Template | undefined {
  let template: Template;
  try {
    template = Template.parse(text);
  } catch (err) {
    issues.push({ path, message: errorMessage(err) });
    return undefined;
  }
  for (const n of template.captureIndexes) {
    if (source.kind === 'none') {
      issues.push({ path, message: `placeholder {${n}} but the source has no address pattern, so there is nothing to capture` });
    } else if (source.kind === 'pattern' && n > source.wildcards) {
      issues.push({
        path,
        message: `placeholder {${n}} but the source pattern "${source.pattern}" has ${plural(source.wildcards, 'wildcard')}`,
      });
    }
  }
  if (syntax !== undefined) {
    const literal = template.literal;
    if (literal !== undefined) {
      const why = renderedAddressProblem(syntax, literal);
      if (why !== undefined) issues.push({ path, message: `address "${literal}" ${why}` });
    } else {
      // text that is there in every rendering: a wildcard in an MQTT topic is never valid
      for (const part of template.parts) {
        if (part.kind !== 'text') continue;
        const why = literalTextProblem(syntax, part.text);
        if (why !== undefined) {
          issues.push({ path, message: `template "${text}" can never be filled: ${why}` });
          break;
        }
      }
    }
  }
  return template;
}

function literalTextProblem(syntax: AddressSyntax, text: string): string | undefined {
  if (syntax === 'mqtt' && (text.includes('+') || text.includes('#'))) {
    return 'an MQTT topic name must not contain "+" or "#" (MQTT 5 §3.3.2.1)';
  }
  if (text.includes('\u0000') && (syntax === 'mqtt' || syntax === 'stomp')) return 'it contains NUL';
  if (syntax === 'amqp' && Buffer.byteLength(text, 'utf8') > 255) {
    return 'its literal text alone is longer than 255 bytes, the limit of an AMQP 0-9-1 shortstr (§4.2.5.3)';
  }
  return undefined;
}
