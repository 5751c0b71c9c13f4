import os from 'node:os';
import path from 'node:path';
import { isScalar, type Node } from 'yaml';
import type { z } from 'zod';
import {
  describeError,
  formatPath,
  type AnyConnectorDefinition,
  type ConnectorSpec,
  type EndpointSpec,
  type FailureSpec,
  type FieldPath,
  type HeaderRules,
  type RouteSpec,
  type SpecIssue,
} from '@ferry/core';
import { checkRoutes } from '@ferry/router';
import { ConfigError, sortErrors } from './errors.js';
import { interpolateDocument } from './env.js';
import { gatewaySchema, NAME_PATTERN, NAME_RULE } from './gateway-section.js';
import { Reporter } from './reporter.js';
import { ON_FAILURE_KEYS, maxInFlightSchema, retrySchema } from './route-policy.js';
import type { SourceMap } from './source-map.js';
import { isEmptyDocument, readYaml, toData } from './yaml-file.js';
import type { GatewayConfig, GatewaySection, LoadOptions, LoadResult } from './types.js';
import { describeValue, didYouMean } from './words.js';
import { reportIssues } from './zod-issues.js';

export const TOP_KEYS = ['gateway', 'connectors', 'routes'] as const;
export const ROUTE_KEYS = ['name', 'from', 'to', 'headers', 'maxInFlight', 'onFailure'] as const;
export const HEADER_KEYS = ['set', 'remove'] as const;

type Registry = ReadonlyMap<string, AnyConnectorDefinition>;
type Dict = Record<string, unknown>;

function isRecord(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** A connector entry as far as it could be checked. */
interface ConnectorEntry {
  readonly name: string;
  readonly type: string;
  readonly definition: AnyConnectorDefinition;
  readonly raw: Dict;
  /** the options schema's output; undefined when the options are invalid */
  readonly options: Dict | undefined;
}

/** A route as far as it could be checked, with the way back to the file's indices. */
interface BuiltRoute {
  readonly index: number;
  readonly spec: RouteSpec;
  /** file index of each entry of spec.to */
  readonly toIndex: readonly number[];
  /** `to` was written as one map, not a list: its paths have no [0] */
  readonly toSingle: boolean;
  /** `from` had errors of its own: only some of its fields are here (see partialEndpoint) */
  readonly partialFrom?: boolean;
}

/**
 * Checks a route file's text and builds the configuration, or returns every problem found,
 * each with its line and column. Pure apart from reading `opts.env` (default process.env) and
 * the host name (the default gateway id). Never throws.
 */
export function parseConfig(text: string, fileName: string, registry: Registry, opts: LoadOptions = {}): LoadResult {
  try {
    return new Checker(text, fileName, registry, opts).run();
  } catch (err) {
    // a bug in a check (or in a connector's schema) must still come out as an error, never as a crash
    return {
      ok: false,
      errors: [new ConfigError({ file: fileName, line: 1, column: 1, path: '', message: `internal error while checking the file: ${describeError(err)}` })],
    };
  }
}

class Checker {
  private readonly syntaxErrors: ConfigError[] = [];
  private r!: Reporter;
  private map!: SourceMap;
  private connectorsUsable = true;
  /** interpolated scalars' text, for fields that want a string (see interpolateDocument) */
  private texts = new Map<Node, string>();
  /** every name under `connectors:`, including those whose entry is broken */
  private readonly declared: string[] = [];

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly registry: Registry,
    private readonly opts: LoadOptions,
  ) {}

  run(): LoadResult {
    const yaml = readYaml(this.text, this.file, 'route file');
    const { doc } = yaml;
    this.map = yaml.map;
    this.syntaxErrors.push(...yaml.errors);
    // the rest of a file that does not parse cannot be read reliably: stop at its syntax errors
    if (yaml.fatal) return { ok: false, errors: sortErrors(this.syntaxErrors) };

    const silenced = new Set<Node>();
    this.r = new Reporter(this.file, this.map, silenced);
    const env = this.opts.env ?? process.env;
    const interpolation = interpolateDocument(doc, env);
    this.texts = interpolation.texts;
    for (const p of interpolation.problems) {
      const { line, column } = this.map.positionOf(p.node);
      const where = p.node.range ? this.map.pathAt(p.node.range[0]) : [];
      this.r.errors.push(new ConfigError({ file: this.file, line, column, path: where, message: p.message }));
      silenced.add(p.node);
    }

    if (isEmptyDocument(doc)) {
      this.r.value([], 'the file is empty: expected a map with gateway, connectors and routes');
      return this.finish(undefined);
    }
    let root: unknown;
    try {
      root = toData(doc);
    } catch (err) {
      this.r.value([], `the file cannot be read as data: ${describeError(err)}`);
      return this.finish(undefined);
    }
    if (!isRecord(root)) {
      this.r.value([], `expected a map with gateway, connectors and routes, found ${describeValue(root)}`);
      return this.finish(undefined);
    }
    this.unknownKeys(root, [], TOP_KEYS);
    const gateway = this.gateway(root);
    const connectors = this.connectors(root);
    this.ports(gateway, root, connectors);
    const routes = this.routes(root, connectors);
    return this.finish({ gateway, connectors, routes });
  }

  private finish(built: { gateway: GatewaySection | undefined; connectors: Map<string, ConnectorEntry>; routes: BuiltRoute[] } | undefined): LoadResult {
    const errors = sortErrors([...this.syntaxErrors, ...(this.r?.errors ?? [])]);
    if (errors.length > 0 || built?.gateway === undefined) {
      return { ok: false, errors: errors.length > 0 ? errors : [new ConfigError({ file: this.file, line: 1, column: 1, path: '', message: 'the file holds no configuration' })] };
    }
    const abs = path.resolve(this.file);
    const connectors: ConnectorSpec[] = [...built.connectors.values()].map((c) => ({ name: c.name, type: c.type, options: c.options ?? {} }));
    const config: GatewayConfig = {
      file: abs,
      baseDir: path.dirname(abs),
      gateway: built.gateway,
      connectors,
      routes: built.routes.map((b) => b.spec),
    };
    return { ok: true, config };
  }

  // ---- helpers ---------------------------------------------------------------------------

  private unknownKeys(obj: Dict, at: FieldPath, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      // top-level `x-...` keys are free, as in Compose files: a place to keep YAML anchors
      if (at.length === 0 && key.startsWith('x-')) continue;
      const hint = didYouMean(key, known);
      const message = hint !== '' ? `unknown key ${JSON.stringify(key)}${hint}` : `unknown key ${JSON.stringify(key)}; expected one of: ${[...known].sort().join(', ')}`;
      this.r.key([...at, key], message, { found: JSON.stringify(key) });
    }
  }

  private missing(at: FieldPath, what: string): void {
    const name = String(at[at.length - 1]);
    this.r.missing(at, `missing required field ${JSON.stringify(name)} (${what})`, { expected: what, found: 'nothing' });
  }

  private wrong(at: FieldPath, expected: string, value: unknown, hint = ''): void {
    const found = describeValue(value);
    this.r.value(at, `expected ${expected}, found ${found}${hint}`, { expected, found });
  }

  private line(at: FieldPath): number {
    const l = this.map.locate(at);
    return this.map.positionOf(l.node ?? l.key ?? l.deepest).line;
  }

  private validate<T>(schema: z.ZodType<T>, input: unknown, at: FieldPath, extraKeys: readonly string[]): T | undefined {
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
  private textOf(at: FieldPath, v: unknown): unknown {
    if (typeof v === 'string') return v;
    const node = this.map.locate(at).node;
    return node !== undefined && this.texts.has(node) ? this.texts.get(node) : v;
  }

  // ---- gateway ---------------------------------------------------------------------------

  private gateway(root: Dict): GatewaySection | undefined {
    const raw = root['gateway'] ?? {};
    const parsed = this.validate(gatewaySchema, raw, ['gateway'], []);
    if (parsed === undefined) return undefined;
    return {
      id: parsed.id ?? this.opts.defaultId ?? os.hostname(),
      http: parsed.http,
      log: parsed.log,
      spool: parsed.spool,
      reload: parsed.reload,
      maxHops: parsed.maxHops,
      tracing: parsed.tracing,
    };
  }

  // ---- connectors ------------------------------------------------------------------------

  private connectors(root: Dict): Map<string, ConnectorEntry> {
    const out = new Map<string, ConnectorEntry>();
    if (!Object.hasOwn(root, 'connectors')) {
      this.missing(['connectors'], 'a map of connector names to their options');
      this.connectorsUsable = false;
      return out;
    }
    const section = root['connectors'];
    if (!isRecord(section)) {
      this.wrong(['connectors'], 'a map of connector names to their options', section);
      this.connectorsUsable = false;
      return out;
    }
    const types = [...this.registry.keys()];
    for (const [name, value] of Object.entries(section)) {
      this.declared.push(name);
      const at: FieldPath = ['connectors', name];
      if (!NAME_PATTERN.test(name)) {
        this.r.key(at, `connector name ${JSON.stringify(name)} is not valid: use ${NAME_RULE}`, { found: JSON.stringify(name) });
      }
      if (!isRecord(value)) {
        this.wrong(at, 'a map with the connector\'s type and options', value);
        continue;
      }
      const type = value['type'];
      if (!Object.hasOwn(value, 'type')) {
        this.missing([...at, 'type'], `one of: ${types.join(', ')}`);
        continue;
      }
      if (typeof type !== 'string') {
        this.wrong([...at, 'type'], `a connector type (one of: ${types.join(', ')})`, type);
        continue;
      }
      const definition = this.registry.get(type);
      if (definition === undefined) {
        const hint = didYouMean(type, types);
        this.r.value([...at, 'type'], `unknown connector type ${JSON.stringify(type)}${hint}; known types: ${types.join(', ')}`, {
          expected: `one of: ${types.join(', ')}`,
          found: JSON.stringify(type),
        });
        continue;
      }
      const raw: Dict = { ...value };
      delete raw['type'];
      const options = this.validate(definition.options as z.ZodType<Dict>, raw, at, ['type']);
      out.set(name, { name, type, definition, raw, options });
    }
    return out;
  }

  // ---- ports -----------------------------------------------------------------------------

  /** A TCP port can be listened on once: the admin server's and every listener's must differ. */
  private ports(gateway: GatewaySection | undefined, root: Dict, connectors: ReadonlyMap<string, ConnectorEntry>): void {
    const owners = new Map<number, { label: string; line: number }>();
    const claim = (port: number, at: FieldPath, label: string, defaulted: boolean): void => {
      if (port === 0) return; // 0: the system picks a free port, never a clash
      const first = owners.get(port);
      if (first === undefined) {
        owners.set(port, { label, line: this.line(at) });
        return;
      }
      const what = defaulted ? `port ${port} (the default of its type)` : `port ${port}`;
      this.r.value(at, `${what} is already used by ${first.label} on line ${first.line}`, { found: String(port) });
    };
    // the raw value when the gateway section has other errors: a clash is worth knowing at once
    const g = root['gateway'];
    const h = isRecord(g) ? g['http'] : undefined;
    const rawHttpPort = isRecord(h) && Number.isInteger(h['port']) ? (h['port'] as number) : undefined;
    const httpPort = gateway?.http?.port ?? rawHttpPort;
    if (httpPort !== undefined) claim(httpPort, ['gateway', 'http', 'port'], 'the admin server (gateway.http.port)', false);
    for (const c of connectors.values()) {
      if (c.options === undefined) continue;
      let ports: readonly number[];
      try {
        ports = c.definition.listenPorts(c.options);
      } catch (err) {
        this.r.value(['connectors', c.name], `internal error while reading the ports of connector ${JSON.stringify(c.name)}: ${describeError(err)}`);
        continue;
      }
      for (const port of ports) {
        const at = findNumber(c.raw, port);
        claim(port, ['connectors', c.name, ...(at ?? [])], `connector ${JSON.stringify(c.name)}`, at === undefined);
      }
    }
  }

  // ---- routes ----------------------------------------------------------------------------

  private routes(root: Dict, connectors: ReadonlyMap<string, ConnectorEntry>): BuiltRoute[] {
    if (!Object.hasOwn(root, 'routes')) {
      this.missing(['routes'], 'a list of routes');
      return [];
    }
    const section = root['routes'];
    if (!Array.isArray(section)) {
      this.wrong(['routes'], 'a list of routes', section);
      return [];
    }
    const names = new Map<string, number>();
    const built: BuiltRoute[] = [];
    const checked: BuiltRoute[] = [];
    let complete = true;
    section.forEach((value: unknown, i) => {
      const b = this.route(value, i, connectors, names);
      if (b.built !== undefined) built.push(b.built);
      if (b.checked !== undefined) checked.push(b.checked);
      if (!b.complete) complete = false;
    });
    // Patterns and templates are checked in every route, also in those with other errors (an
    // unknown connector, a bad field): one run reports every mistake of the file.
    this.templates(checked, connectors);
    return complete ? built : [];
  }

  private route(
    value: unknown,
    i: number,
    connectors: ReadonlyMap<string, ConnectorEntry>,
    names: Map<string, number>,
  ): { built?: BuiltRoute; checked?: BuiltRoute; complete: boolean } {
    const at: FieldPath = ['routes', i];
    if (!isRecord(value)) {
      this.wrong(at, 'a route (a map with name, from and to)', value);
      return { complete: false };
    }
    let complete = true;
    this.unknownKeys(value, at, ROUTE_KEYS);

    // name
    const name = this.textOf([...at, 'name'], value['name']);
    let routeName: string | undefined;
    if (!Object.hasOwn(value, 'name')) {
      this.missing([...at, 'name'], 'a string');
      complete = false;
    } else if (typeof name !== 'string') {
      this.wrong([...at, 'name'], 'a string', name, typeof name === 'number' ? ` (quote it: "${name}")` : '');
      complete = false;
    } else {
      routeName = name;
      if (!NAME_PATTERN.test(name)) {
        this.r.value([...at, 'name'], `route name ${JSON.stringify(name)} is not valid: use ${NAME_RULE}`, { found: JSON.stringify(name) });
        complete = false;
      }
      const first = names.get(name);
      if (first !== undefined) {
        this.r.value([...at, 'name'], `duplicate route name ${JSON.stringify(name)} (first used by routes[${first}] on line ${this.line(['routes', first, 'name'])})`, {
          found: JSON.stringify(name),
        });
        complete = false;
      } else names.set(name, i);
    }

    // from
    let from: EndpointSpec | undefined;
    if (!Object.hasOwn(value, 'from')) {
      this.missing([...at, 'from'], 'a map like { connector: NAME, ... }');
    } else {
      from = this.endpoint('from', value['from'], [...at, 'from'], connectors);
    }
    if (from === undefined) complete = false;
    // what the router's checks see of an endpoint with an error: its connector and the template
    // fields no error was reported at (an unknown connector makes the source's captures unknown)
    const fromChecked = from ?? this.partialEndpoint('from', value['from'], [...at, 'from'], connectors) ?? { connector: '', fields: {} };

    // to: one map or a list of them
    const to: EndpointSpec[] = [];
    const toIndex: number[] = [];
    const toChecked: EndpointSpec[] = [];
    const toCheckedIndex: number[] = [];
    const destination = (t: unknown, j: number, tp: FieldPath): void => {
      const e = this.endpoint('to', t, tp, connectors);
      if (e === undefined) complete = false;
      else {
        to.push(e);
        toIndex.push(j);
      }
      const c = e ?? this.partialEndpoint('to', t, tp, connectors);
      if (c !== undefined) {
        toChecked.push(c);
        toCheckedIndex.push(j);
      }
    };
    let toSingle = false;
    const rawTo = value['to'];
    if (!Object.hasOwn(value, 'to')) {
      this.missing([...at, 'to'], 'a destination map, or a list of them');
      complete = false;
    } else if (Array.isArray(rawTo)) {
      if (rawTo.length === 0) {
        this.r.value([...at, 'to'], 'expected at least one destination, found an empty list', { expected: 'at least one destination', found: 'an empty list' });
        complete = false;
      }
      rawTo.forEach((t: unknown, j) => destination(t, j, [...at, 'to', j]));
    } else if (isRecord(rawTo)) {
      toSingle = true;
      destination(rawTo, 0, [...at, 'to']);
    } else {
      this.wrong([...at, 'to'], 'a destination map, or a list of them', rawTo);
      complete = false;
    }

    // headers
    const headers = this.headers(value, at);
    if (headers === undefined) complete = false;

    // maxInFlight, onFailure
    let maxInFlight: number | undefined;
    if (Object.hasOwn(value, 'maxInFlight')) {
      maxInFlight = this.validate(maxInFlightSchema, value['maxInFlight'], [...at, 'maxInFlight'], []);
      if (maxInFlight === undefined) complete = false;
    }
    const onFailure = this.onFailure(value, at, connectors);
    if (onFailure === null) complete = false;

    const spec = (f: EndpointSpec, t: EndpointSpec[]): RouteSpec => ({
      name: routeName ?? `routes[${i}]`,
      from: f,
      to: t,
      headers: headers ?? { set: {}, remove: [] },
      ...(maxInFlight === undefined ? {} : { maxInFlight }),
      ...(onFailure === undefined || onFailure === null ? {} : { onFailure }),
    });
    const checked: BuiltRoute = { index: i, spec: spec(fromChecked, toChecked), toIndex: toCheckedIndex, toSingle, partialFrom: from === undefined };
    if (from === undefined || to.length === 0) return { checked, complete: false };
    return { built: { index: i, spec: spec(from, to), toIndex, toSingle }, checked, complete };
  }

  /**
   * An endpoint that failed its checks, as far as the router's pattern and template checks can
   * still use it: its connector when that names a known connector of the right role, and only
   * the fields that are strings and have no error of their own. undefined when nothing is usable.
   */
  private partialEndpoint(role: 'from' | 'to', value: unknown, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): EndpointSpec | undefined {
    if (!isRecord(value)) return undefined;
    const name = value['connector'];
    const entry = typeof name === 'string' ? connectors.get(name) : undefined;
    if (entry === undefined || (role === 'from' ? entry.definition.from : entry.definition.to) === undefined) return undefined;
    const reported = new Set(this.r.errors.map((e) => e.path));
    const fields: Dict = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'connector' || typeof v !== 'string' || reported.has(formatPath([...at, k]))) continue;
      fields[k] = v;
    }
    return { connector: entry.name, fields };
  }

  /**
   * `onFailure: { retry: {...}, deadLetter: { connector, ...its to fields } }`: undefined when
   * absent, null when it has an error (already reported). The dead letter is checked like any
   * `to`: its connector exists and can be a destination, its fields pass that type's schema
   * (its templates are checked with the route's other templates).
   */
  private onFailure(route: Dict, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): FailureSpec | undefined | null {
    if (!Object.hasOwn(route, 'onFailure')) return undefined;
    const fp: FieldPath = [...at, 'onFailure'];
    const value = route['onFailure'];
    if (!isRecord(value)) {
      this.wrong(fp, 'a map with retry and/or deadLetter', value);
      return null;
    }
    let ok = true;
    this.unknownKeys(value, fp, ON_FAILURE_KEYS);
    if (Object.keys(value).some((k) => !ON_FAILURE_KEYS.includes(k as (typeof ON_FAILURE_KEYS)[number]))) ok = false;
    let retry: FailureSpec['retry'];
    if (Object.hasOwn(value, 'retry')) {
      retry = this.validate(retrySchema, value['retry'], [...fp, 'retry'], []);
      if (retry === undefined) ok = false;
    }
    let deadLetter: EndpointSpec | undefined;
    if (Object.hasOwn(value, 'deadLetter')) {
      deadLetter = this.endpoint('to', value['deadLetter'], [...fp, 'deadLetter'], connectors);
      if (deadLetter === undefined) ok = false;
    }
    if (!ok) return null;
    return { ...(retry === undefined ? {} : { retry }), ...(deadLetter === undefined ? {} : { deadLetter }) };
  }

  private endpoint(role: 'from' | 'to', value: unknown, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): EndpointSpec | undefined {
    const what = role === 'from' ? 'a source' : 'a destination';
    if (!isRecord(value)) {
      this.wrong(at, `${what} (a map like { connector: NAME, ... })`, value);
      return undefined;
    }
    const name = this.textOf([...at, 'connector'], value['connector']);
    if (!Object.hasOwn(value, 'connector')) {
      this.missing([...at, 'connector'], 'the name of a connector');
      return undefined;
    }
    if (typeof name !== 'string') {
      this.wrong([...at, 'connector'], 'the name of a connector', name);
      return undefined;
    }
    const entry = connectors.get(name);
    if (entry === undefined) {
      // the connectors section, or this connector's entry, is broken and already reported
      if (!this.connectorsUsable || this.declared.includes(name)) return undefined;
      const known = this.declared;
      const hint = didYouMean(name, known);
      const list = hint === '' && known.length > 0 ? `; the connectors are: ${known.join(', ')}` : '';
      this.r.value([...at, 'connector'], `unknown connector ${JSON.stringify(name)}${hint}${list}`, { found: JSON.stringify(name) });
      return undefined;
    }
    const schema = role === 'from' ? entry.definition.from : entry.definition.to;
    if (schema === undefined) {
      this.r.value(
        [...at, 'connector'],
        `connector ${JSON.stringify(name)} (type ${entry.type}) cannot be ${role === 'from' ? 'a source: it takes no "from"' : 'a destination: it takes no "to"'}`,
        { found: JSON.stringify(name) },
      );
      return undefined;
    }
    const raw: Dict = { ...value };
    delete raw['connector'];
    const fields = this.validate(schema as z.ZodType<Dict>, raw, at, ['connector']);
    if (fields === undefined) return undefined;
    return { connector: name, fields };
  }

  private headers(route: Dict, at: FieldPath): HeaderRules | undefined {
    if (!Object.hasOwn(route, 'headers')) return { set: {}, remove: [] };
    const hp: FieldPath = [...at, 'headers'];
    const value = route['headers'];
    if (!isRecord(value)) {
      this.wrong(hp, 'a map with set and/or remove', value);
      return undefined;
    }
    let ok = true;
    this.unknownKeys(value, hp, HEADER_KEYS);
    if (Object.keys(value).some((k) => !HEADER_KEYS.includes(k as (typeof HEADER_KEYS)[number]))) ok = false;
    const set: Record<string, string> = {};
    if (Object.hasOwn(value, 'set')) {
      const s = value['set'];
      if (!isRecord(s)) {
        this.wrong([...hp, 'set'], 'a map of header names to values', s);
        ok = false;
      } else {
        for (const [k, v] of Object.entries(s)) {
          const vp: FieldPath = [...hp, 'set', k];
          if (k === '') {
            this.r.key(vp, 'a header name cannot be empty');
            ok = false;
          }
          const text = this.scalarText(vp, v);
          if (text === undefined) {
            this.wrong(vp, 'a string', v);
            ok = false;
          } else set[k] = text;
        }
      }
    }
    const remove: string[] = [];
    if (Object.hasOwn(value, 'remove')) {
      const rm = value['remove'];
      const list: unknown[] | undefined = typeof rm === 'string' ? [rm] : Array.isArray(rm) ? rm : undefined;
      if (list === undefined) {
        this.wrong([...hp, 'remove'], 'a list of header names', rm);
        ok = false;
      } else {
        list.forEach((h, j) => {
          if (typeof h !== 'string' || h === '') {
            this.wrong(typeof rm === 'string' ? [...hp, 'remove'] : [...hp, 'remove', j], 'a header name', h);
            ok = false;
          } else remove.push(h);
        });
      }
    }
    return ok ? { set, remove } : undefined;
  }

  /**
   * A header value as text. Numbers and booleans are taken as written (`x-version: 1.10` is
   * "1.10", not "1.1"): header values are strings in every protocol's text form.
   */
  private scalarText(at: FieldPath, v: unknown): string | undefined {
    if (typeof v === 'string') return v;
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'bigint') return undefined;
    const node = this.map.locate(at).node;
    if (node !== undefined && this.texts.has(node)) return this.texts.get(node);
    if (isScalar(node) && typeof node.source === 'string' && node.source !== '') return node.source;
    return String(v);
  }

  // ---- templates -------------------------------------------------------------------------

  /** The router's checks: patterns, placeholders a source can fill, header templates. */
  private templates(built: readonly BuiltRoute[], connectors: ReadonlyMap<string, ConnectorEntry>): void {
    if (built.length === 0) return;
    const table = new Map<string, { spec: ConnectorSpec; definition: AnyConnectorDefinition }>();
    for (const c of connectors.values()) {
      table.set(c.name, { spec: { name: c.name, type: c.type, options: c.options ?? c.raw }, definition: c.definition });
    }
    let issues: SpecIssue[];
    try {
      issues = checkRoutes(
        built.map((b) => b.spec),
        table,
        { partialSources: new Set(built.flatMap((b, i) => (b.partialFrom ? [i] : []))) },
      );
    } catch (err) {
      this.r.value(['routes'], `internal error while checking templates: ${describeError(err)}`);
      return;
    }
    for (const issue of issues) {
      this.r.value(this.fileRoutePath(issue.path, built), issue.message);
    }
  }

  /** A router path (indices into the routes it was given) → the same field's path in the file. */
  private fileRoutePath(p: FieldPath, built: readonly BuiltRoute[]): FieldPath {
    const [head, ri, section, ti, ...rest] = p;
    if (head !== 'routes' || typeof ri !== 'number') return p;
    const b = built[ri];
    if (b === undefined) return p;
    if (section === 'to' && typeof ti === 'number') {
      const j = b.toIndex[ti] ?? ti;
      return b.toSingle ? ['routes', b.index, 'to', ...rest] : ['routes', b.index, 'to', j, ...rest];
    }
    return ['routes', b.index, ...p.slice(2)];
  }
}

/** the path of `port` inside connector options, `port` keys first; for pointing at a clash */
function findNumber(obj: unknown, n: number, depth = 0): (string | number)[] | undefined {
  if (depth > 8) return undefined;
  if (isRecord(obj)) {
    if (obj['port'] === n) return ['port'];
    for (const [k, v] of Object.entries(obj)) {
      if (v === n) return [k];
      const sub = findNumber(v, n, depth + 1);
      if (sub !== undefined) return [k, ...sub];
    }
  } else if (Array.isArray(obj)) {
    for (let i = 0; i < obj.length; i++) {
      if (obj[i] === n) return [i];
      const sub = findNumber(obj[i], n, depth + 1);
      if (sub !== undefined) return [i, ...sub];
    }
  }
  return undefined;
}

