import path from 'node:path';
import { z } from 'zod';
import { describeError, type AnyConnectorDefinition } from '@ferry/core';
import type { ExpectedDestination, RouteTestCase, RouteTestExpectation } from '@ferry/router';
import { sortErrors, type ConfigError } from './errors.js';
import { loadConfig, readConfigText } from './load.js';
import { Reporter } from './reporter.js';
import type { GatewayConfig } from './types.js';
import { didYouMean } from './words.js';
import { isEmptyDocument, readYaml, toData } from './yaml-file.js';
import { knownKeys, reportIssues } from './zod-issues.js';

/**
 * Route test files (`ferry test`, docs/route-tests.md): cases of a message arriving on a
 * connector and what the route file must make of it. Read with the route file's YAML front
 * end, so every problem comes at once with file:line:column and the field's path.
 */

const scalar = z.union([z.string(), z.number(), z.boolean()]);

const destinationSchema = z.strictObject({
  connector: z.string().min(1).describe('the connector the copy goes to'),
  route: z.string().min(1).optional().describe('the route that produced it'),
  to: z.record(z.string(), z.unknown()).optional().describe("fields of the rendered destination (that connector type's `to` fields), each compared exactly"),
  headers: z
    .record(z.string(), z.union([scalar, z.null()]))
    .optional()
    .describe('headers the copy carries, compared as text; null: the header must be absent'),
});

const rejectedSchema = z.strictObject({
  rejected: z.union([z.literal(true), z.string().min(1)]).describe('true, or the error code the rejection must carry (e.g. TEMPLATE_MISSING_VALUE)'),
});

const caseSchema = z.strictObject({
  name: z.string().min(1).describe('what the case shows; printed with its result'),
  from: z.string().min(1).describe('the connector the message arrives on'),
  address: z.string().describe("the message's address in that connector's protocol (topic, routing key, destination)"),
  headers: z.record(z.string(), scalar).default({}).describe('the headers the message arrives with'),
  expect: z
    .union([z.array(destinationSchema), rejectedSchema])
    .describe('the destinations, exactly and in any order ([] for no route), or { rejected: true | CODE }'),
});

/** The file; each case is checked on its own (caseSchema), so one broken case hides nothing of the others. */
const fileSchema = z.strictObject({
  routes: z.string().min(1).optional().describe('the route file under test, relative to this file (`ferry test -c` overrides it)'),
  env: z.record(z.string(), z.string()).default({}).describe('the variables `${VAR}` in the route file reads; nothing else of the environment is used'),
  cases: z.array(z.unknown()).min(1, { error: 'expected at least one case' }),
});

/** A case with where it is, for reporting its result at the case. */
interface LocatedRouteTestCase extends RouteTestCase {
  readonly index: number;
  readonly line: number;
  readonly column: number;
}

interface RouteTestSuite {
  readonly file: string;
  /** the route file the cases ran against */
  readonly config: GatewayConfig;
  readonly cases: readonly LocatedRouteTestCase[];
}

export type RouteTestsResult = { readonly ok: true; readonly suite: RouteTestSuite } | { readonly ok: false; readonly errors: readonly ConfigError[] };

export interface RouteTestsOptions {
  /** the route file to test instead of the file's own `routes` */
  readonly routes?: string;
}

/**
 * Reads a route test file and the route file it names, and checks every case's names against
 * it (connectors, routes, `to` fields). Never throws; every problem of both files at once.
 */
export async function loadRouteTests(file: string, registry: ReadonlyMap<string, AnyConnectorDefinition>, opts: RouteTestsOptions = {}): Promise<RouteTestsResult> {
  const text = await readConfigText(file, 'route test file');
  if (typeof text !== 'string') return { ok: false, errors: [text] };
  const yaml = readYaml(text, file, 'route test file');
  if (yaml.fatal) return { ok: false, errors: sortErrors(yaml.errors) };
  const r = new Reporter(file, yaml.map, new Set());
  r.errors.push(...yaml.errors);
  if (isEmptyDocument(yaml.doc)) {
    r.value([], 'the file is empty: expected a map with routes and cases');
    return { ok: false, errors: sortErrors(r.errors) };
  }
  let data: unknown;
  try {
    data = toData(yaml.doc);
  } catch (err) {
    r.value([], `the file cannot be read as data: ${describeError(err)}`);
    return { ok: false, errors: sortErrors(r.errors) };
  }
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) {
    reportIssues(r, parsed.error.issues, [], fileSchema, data);
    return { ok: false, errors: sortErrors(r.errors) };
  }
  const spec = parsed.data;
  const parsedCases = spec.cases.map((raw, i) => {
    const c = caseSchema.safeParse(raw);
    if (c.success) return c.data;
    reportIssues(r, c.error.issues, ['cases', i], caseSchema, raw);
    return undefined;
  });
  const routesFile = opts.routes ?? (spec.routes === undefined ? undefined : path.resolve(path.dirname(file), spec.routes));
  if (routesFile === undefined) {
    r.missing(['routes'], 'missing required field "routes" (the route file under test, relative to this file), or give one with -c');
    return { ok: false, errors: sortErrors(r.errors) };
  }
  const loaded = await loadConfig(routesFile, registry, { env: spec.env, defaultId: 'route-test' });
  if (!loaded.ok) return { ok: false, errors: [...sortErrors(r.errors), ...loaded.errors] };
  const { config } = loaded;

  const types = new Map(config.connectors.map((c) => [c.name, registry.get(c.type)]));
  const routeNames = config.routes.map((x) => x.name);
  const connectorNames = [...types.keys()];
  const unknownName = (at: (string | number)[], kind: string, name: string, known: readonly string[]): void =>
    r.value(at, `unknown ${kind} ${JSON.stringify(name)}${didYouMean(name, known)}; the route file's ${kind}s are: ${known.join(', ')}`);

  const cases: LocatedRouteTestCase[] = [];
  parsedCases.forEach((c, i) => {
    if (c === undefined) return;
    const at = ['cases', i];
    const fromDef = types.get(c.from);
    if (fromDef === undefined) unknownName([...at, 'from'], 'connector', c.from, connectorNames);
    else if (fromDef.from === undefined) r.value([...at, 'from'], `connector ${JSON.stringify(c.from)} (type ${fromDef.type}) cannot be a source`);
    let expect: RouteTestExpectation;
    if (Array.isArray(c.expect)) {
      const destinations: ExpectedDestination[] = [];
      c.expect.forEach((d, j) => {
        const dAt = [...at, 'expect', j];
        const def = types.get(d.connector);
        if (def === undefined) unknownName([...dAt, 'connector'], 'connector', d.connector, connectorNames);
        else if (def.to === undefined) r.value([...dAt, 'connector'], `connector ${JSON.stringify(d.connector)} (type ${def.type}) cannot be a destination`);
        else {
          // a misspelt field would make its comparison fail with a puzzling "(absent)"; say so here
          const fields = knownKeys(def.to);
          for (const key of Object.keys(d.to ?? {})) {
            if (!fields.includes(key)) r.key([...dAt, 'to', key], `${def.type} has no \`to\` field ${JSON.stringify(key)}${didYouMean(key, fields)}; its fields: ${fields.join(', ')}`);
          }
        }
        if (d.route !== undefined && !routeNames.includes(d.route)) unknownName([...dAt, 'route'], 'route', d.route, routeNames);
        destinations.push({ connector: d.connector, route: d.route, to: d.to, headers: d.headers });
      });
      expect = { kind: 'destinations', destinations };
    } else {
      expect = { kind: 'rejected', code: c.expect.rejected === true ? undefined : c.expect.rejected };
    }
    const node = yaml.map.locate(at);
    const { line, column } = yaml.map.positionOf(node.node ?? node.deepest);
    cases.push({ index: i, line, column, name: c.name, from: c.from, address: c.address, headers: new Map(Object.entries(c.headers)), expect });
  });
  if (r.errors.length > 0) return { ok: false, errors: sortErrors(r.errors) };
  return { ok: true, suite: { file, config, cases } };
}
