import { headerToString, type HeaderValue } from '@ferry/core';
import type { ExplainedDestination, ExplainedRoute, RouteTable } from './table.js';

/**
 * One case of a route test file (`ferry test`, docs/route-tests.md): a message arriving on a
 * connector, and what the route table must make of it. Checked against the same compiled
 * RouteTable the running gateway uses, with no broker and no I/O.
 */
export interface RouteTestCase {
  readonly name: string;
  /** the connector the message arrives on */
  readonly from: string;
  /** its address in that connector's protocol (topic, routing key, destination, address) */
  readonly address: string;
  readonly headers: ReadonlyMap<string, HeaderValue>;
  readonly expect: RouteTestExpectation;
}

export type RouteTestExpectation =
  /** exactly these destinations, in any order; none: the message matches no route */
  | { readonly kind: 'destinations'; readonly destinations: readonly ExpectedDestination[] }
  /** the message is rejected (a template cannot be filled); `code` when given must be the reason's */
  | { readonly kind: 'rejected'; readonly code: string | undefined };

/** What one destination must be. Only what is given is compared. */
export interface ExpectedDestination {
  readonly connector: string;
  /** the route that produced it */
  readonly route?: string | undefined;
  /** fields of the rendered `to` (topic, routingKey, destination, ...), each compared exactly */
  readonly to?: Readonly<Record<string, unknown>> | undefined;
  /** headers the destination receives, compared as text; `null`: the header must be absent */
  readonly headers?: Readonly<Record<string, HeaderValue>> | undefined;
}

export interface RouteTestResult {
  readonly passed: boolean;
  /** why it failed, one sentence each; empty when it passed */
  readonly problems: readonly string[];
  /** what the table made of the message, for printing */
  readonly explained: readonly ExplainedRoute[];
}

type Rendered = Extract<ExplainedDestination, { ok: true }> & { readonly route: string };

/** Runs one case against a compiled table. Pure. */
export function runRouteTest(table: RouteTable, c: RouteTestCase): RouteTestResult {
  const explained = table.explain(c.from, c.address, c.headers);
  const rendered: Rendered[] = [];
  const failed: string[] = [];
  const codes = new Set<string>();
  for (const r of explained) {
    for (const d of r.destinations) {
      if (d.ok) rendered.push({ ...d, route: r.route });
      else {
        failed.push(`${d.code}: ${d.error} (route ${r.route}, to[${d.index}])`);
        codes.add(d.code);
      }
    }
  }
  const problems: string[] = [];
  if (c.expect.kind === 'rejected') {
    const want = c.expect.code;
    if (failed.length === 0) {
      const where = rendered.length === 0 ? 'it matches no route (accepted as unrouted)' : `it goes to ${rendered.map(describeRendered).join('; ')}`;
      problems.push(`expected the message to be rejected${want === undefined ? '' : ` with ${want}`}, but ${where}`);
    } else if (want !== undefined && !codes.has(want)) {
      problems.push(`expected a rejection with ${want}, got ${failed.join('; ')}`);
    }
    return { passed: problems.length === 0, problems, explained };
  }
  // one failed destination rejects the whole message (the engine writes nowhere then)
  if (failed.length > 0) {
    problems.push(`the message is rejected: ${failed.join('; ')}`);
    return { passed: false, problems, explained };
  }
  const left = [...rendered];
  for (const [i, want] of c.expect.destinations.entries()) {
    const at = left.findIndex((d) => differences(want, d).length === 0);
    if (at >= 0) {
      left.splice(at, 1);
      continue;
    }
    const near = left.find((d) => d.connector === want.connector && (want.route === undefined || d.route === want.route));
    problems.push(
      near === undefined
        ? `expect[${i}]: no destination on ${want.connector}${want.route === undefined ? '' : ` from route ${want.route}`}` +
            (left.length === 0 ? '' : `; left: ${left.map(describeRendered).join('; ')}`)
        : `expect[${i}]: ${describeRendered(near)} differs: ${differences(want, near).join(', ')}`,
    );
    if (near !== undefined) left.splice(left.indexOf(near), 1);
  }
  for (const d of left) problems.push(`unexpected destination ${describeRendered(d)}`);
  return { passed: problems.length === 0, problems, explained };
}

/** What differs between an expectation and a rendered destination, one phrase each. */
function differences(want: ExpectedDestination, got: Rendered): string[] {
  const out: string[] = [];
  if (want.connector !== got.connector) out.push(`connector is ${got.connector}, expected ${want.connector}`);
  if (want.route !== undefined && want.route !== got.route) out.push(`route is ${got.route}, expected ${want.route}`);
  for (const [field, value] of Object.entries(want.to ?? {})) {
    const actual = got.to[field];
    if (!sameValue(actual, value)) out.push(`${field} is ${show(actual)}, expected ${show(value)}`);
  }
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    const actual = got.headers.get(name);
    if (value === null) {
      if (actual !== undefined) out.push(`header ${name} is ${JSON.stringify(headerToString(actual))}, expected it absent`);
    } else if (actual === undefined) {
      out.push(`header ${name} is absent, expected ${JSON.stringify(headerToString(value))}`);
    } else if (headerToString(actual) !== headerToString(value)) {
      out.push(`header ${name} is ${JSON.stringify(headerToString(actual))}, expected ${JSON.stringify(headerToString(value))}`);
    }
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(v: unknown): string {
  return v === undefined ? '(absent)' : JSON.stringify(v);
}

function describeRendered(d: Rendered): string {
  const to = Object.entries(d.to)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${d.connector} ${to} (route ${d.route})`;
}
