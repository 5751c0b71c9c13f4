import { checkRoutes } from '@ferry/router';
import { describeError, formatPath, type AnyConnectorDefinition, type ConnectorSpec, type EndpointSpec, type FailureSpec, type FieldPath, type HeaderRules, type RouteSpec, type SpecIssue } from '@ferry/core';
import type { z } from 'zod';
import { isRecord, type CheckContext, type Dict } from './check-context.js';
import type { ConnectorEntry, ConnectorsSection } from './connectors-section.js';
import { NAME_PATTERN, NAME_RULE } from './gateway-section.js';
import { ON_FAILURE_KEYS, maxInFlightSchema, retrySchema } from './route-policy.js';
import { didYouMean } from './words.js';

const ROUTE_KEYS = ['name', 'from', 'to', 'headers', 'maxInFlight', 'onFailure'] as const;
const HEADER_KEYS = ['set', 'remove'] as const;

/** A route as far as it could be checked, with the way back to the file's indices. */
export interface BuiltRoute {
  readonly index: number;
  readonly spec: RouteSpec;
  /** file index of each entry of spec.to */
  readonly toIndex: readonly number[];
  /** `to` was written as one map, not a list: its paths have no [0] */
  readonly toSingle: boolean;
  /** `from` had errors of its own: only some of its fields are here (see #partialEndpoint) */
  readonly partialFrom?: boolean;
}

/**
 * The `routes:` section of a route file: each route's name, source, destinations, header
 * rules and failure policy, checked against the connectors the file declares; then the
 * router's own checks of patterns and templates, over every route, also those with other
 * errors, so that one run reports every mistake of the file.
 */
export class RoutesSection {
  constructor(
    private readonly ctx: CheckContext,
    private readonly section: ConnectorsSection,
  ) {}

  check(root: Dict, connectors: ReadonlyMap<string, ConnectorEntry>): BuiltRoute[] {
    if (!Object.hasOwn(root, 'routes')) {
      this.ctx.missing(['routes'], 'a list of routes');
      return [];
    }
    const section = root['routes'];
    if (!Array.isArray(section)) {
      this.ctx.wrong(['routes'], 'a list of routes', section);
      return [];
    }
    const names = new Map<string, number>();
    const built: BuiltRoute[] = [];
    const checked: BuiltRoute[] = [];
    let complete = true;
    for (let i = 0; i < section.length; i++) {
      const b = this.#route(section[i] as unknown, i, connectors, names);
      if (b.built !== undefined) built.push(b.built);
      if (b.checked !== undefined) checked.push(b.checked);
      if (!b.complete) complete = false;
    }
    // Patterns and templates are checked in every route, also in those with other errors (an
    // unknown connector, a bad field): one run reports every mistake of the file.
    this.#templates(checked, connectors);
    return complete ? built : [];
  }

  #route(
    value: unknown,
    i: number,
    connectors: ReadonlyMap<string, ConnectorEntry>,
    names: Map<string, number>,
  ): { built?: BuiltRoute; checked?: BuiltRoute; complete: boolean } {
    const at: FieldPath = ['routes', i];
    if (!isRecord(value)) {
      this.ctx.wrong(at, 'a route (a map with name, from and to)', value);
      return { complete: false };
    }
    let complete = true;
    this.ctx.unknownKeys(value, at, ROUTE_KEYS);

    // name
    const name = this.ctx.textOf([...at, 'name'], value['name']);
    let routeName: string | undefined;
    if (!Object.hasOwn(value, 'name')) {
      this.ctx.missing([...at, 'name'], 'a string');
      complete = false;
    } else if (typeof name !== 'string') {
      this.ctx.wrong([...at, 'name'], 'a string', name, typeof name === 'number' ? ` (quote it: "${name}")` : '');
      complete = false;
    } else {
      routeName = name;
      if (!NAME_PATTERN.test(name)) {
        this.ctx.r.value([...at, 'name'], `route name ${JSON.stringify(name)} is not valid: use ${NAME_RULE}`, { found: JSON.stringify(name) });
        complete = false;
      }
      const first = names.get(name);
      if (first !== undefined) {
        this.ctx.r.value([...at, 'name'], `duplicate route name ${JSON.stringify(name)} (first used by routes[${first}] on line ${this.ctx.line(['routes', first, 'name'])})`, {
          found: JSON.stringify(name),
        });
        complete = false;
      } else names.set(name, i);
    }

    // from
    let from: EndpointSpec | undefined;
    if (!Object.hasOwn(value, 'from')) {
      this.ctx.missing([...at, 'from'], 'a map like { connector: NAME, ... }');
    } else {
      from = this.#endpoint('from', value['from'], [...at, 'from'], connectors);
    }
    if (from === undefined) complete = false;
    // what the router's checks see of an endpoint with an error: its connector and the template
    // fields no error was reported at (an unknown connector makes the source's captures unknown)
    const fromChecked = from ?? this.#partialEndpoint('from', value['from'], [...at, 'from'], connectors) ?? { connector: '', fields: {} };

    // to: one map or a list of them
    const to: EndpointSpec[] = [];
    const toIndex: number[] = [];
    const toChecked: EndpointSpec[] = [];
    const toCheckedIndex: number[] = [];
    const destination = (t: unknown, j: number, tp: FieldPath): void => {
      const e = this.#endpoint('to', t, tp, connectors);
      if (e === undefined) complete = false;
      else {
        to.push(e);
        toIndex.push(j);
      }
      const c = e ?? this.#partialEndpoint('to', t, tp, connectors);
      if (c !== undefined) {
        toChecked.push(c);
        toCheckedIndex.push(j);
      }
    };
    let toSingle = false;
    const rawTo = value['to'];
    if (!Object.hasOwn(value, 'to')) {
      this.ctx.missing([...at, 'to'], 'a destination map, or a list of them');
      complete = false;
    } else if (Array.isArray(rawTo)) {
      if (rawTo.length === 0) {
        this.ctx.r.value([...at, 'to'], 'expected at least one destination, found an empty list', { expected: 'at least one destination', found: 'an empty list' });
        complete = false;
      }
      rawTo.forEach((t: unknown, j) => destination(t, j, [...at, 'to', j]));
    } else if (isRecord(rawTo)) {
      toSingle = true;
      destination(rawTo, 0, [...at, 'to']);
    } else {
      this.ctx.wrong([...at, 'to'], 'a destination map, or a list of them', rawTo);
      complete = false;
    }

    // headers
    const headers = this.#headers(value, at);
    if (headers === undefined) complete = false;

    // maxInFlight, onFailure
    let maxInFlight: number | undefined;
    if (Object.hasOwn(value, 'maxInFlight')) {
      maxInFlight = this.ctx.validate(maxInFlightSchema, value['maxInFlight'], [...at, 'maxInFlight'], []);
      if (maxInFlight === undefined) complete = false;
    }
    const onFailure = this.#onFailure(value, at, connectors);
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
  #partialEndpoint(role: 'from' | 'to', value: unknown, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): EndpointSpec | undefined {
    if (!isRecord(value)) return undefined;
    const name = value['connector'];
    const entry = typeof name === 'string' ? connectors.get(name) : undefined;
    if (entry === undefined || (role === 'from' ? entry.definition.from : entry.definition.to) === undefined) return undefined;
    const reported = new Set(this.ctx.r.errors.map((e) => e.path));
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
  #onFailure(route: Dict, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): FailureSpec | undefined | null {
    const field = this.#mapField(route, at, 'onFailure', ON_FAILURE_KEYS, 'a map with retry and/or deadLetter');
    if (field === 'absent') return undefined;
    if (field === undefined) return null;
    const { value, at: fp } = field;
    let ok = field.keysKnown;
    let retry: FailureSpec['retry'];
    if (Object.hasOwn(value, 'retry')) {
      retry = this.ctx.validate(retrySchema, value['retry'], [...fp, 'retry'], []);
      if (retry === undefined) ok = false;
    }
    let deadLetter: EndpointSpec | undefined;
    if (Object.hasOwn(value, 'deadLetter')) {
      deadLetter = this.#endpoint('to', value['deadLetter'], [...fp, 'deadLetter'], connectors);
      if (deadLetter === undefined) ok = false;
    }
    if (!ok) return null;
    return { ...(retry === undefined ? {} : { retry }), ...(deadLetter === undefined ? {} : { deadLetter }) };
  }

  #endpoint(role: 'from' | 'to', value: unknown, at: FieldPath, connectors: ReadonlyMap<string, ConnectorEntry>): EndpointSpec | undefined {
    const what = role === 'from' ? 'a source' : 'a destination';
    if (!isRecord(value)) {
      this.ctx.wrong(at, `${what} (a map like { connector: NAME, ... })`, value);
      return undefined;
    }
    const name = this.ctx.textOf([...at, 'connector'], value['connector']);
    if (!Object.hasOwn(value, 'connector')) {
      this.ctx.missing([...at, 'connector'], 'the name of a connector');
      return undefined;
    }
    if (typeof name !== 'string') {
      this.ctx.wrong([...at, 'connector'], 'the name of a connector', name);
      return undefined;
    }
    const entry = connectors.get(name);
    if (entry === undefined) {
      // the connectors section, or this connector's entry, is broken and already reported
      if (!this.section.usable || this.section.declared.includes(name)) return undefined;
      const known = this.section.declared;
      const hint = didYouMean(name, known);
      const list = hint === '' && known.length > 0 ? `; the connectors are: ${known.join(', ')}` : '';
      this.ctx.r.value([...at, 'connector'], `unknown connector ${JSON.stringify(name)}${hint}${list}`, { found: JSON.stringify(name) });
      return undefined;
    }
    const schema = role === 'from' ? entry.definition.from : entry.definition.to;
    if (schema === undefined) {
      this.ctx.r.value(
        [...at, 'connector'],
        `connector ${JSON.stringify(name)} (type ${entry.type}) cannot be ${role === 'from' ? 'a source: it takes no "from"' : 'a destination: it takes no "to"'}`,
        { found: JSON.stringify(name) },
      );
      return undefined;
    }
    const raw: Dict = { ...value };
    delete raw['connector'];
    const fields = this.ctx.validate(schema as z.ZodType<Dict>, raw, at, ['connector']);
    if (fields === undefined) return undefined;
    return { connector: name, fields };
  }

  /**
   * A route field whose value is a map of known keys (onFailure, headers): the map and its path,
   * 'absent' when the route has no such field, or undefined when it is not a map (reported).
   * `keysKnown` is false when the map has a key it does not take (reported too).
   */
  #mapField(route: Dict, at: FieldPath, key: string, known: readonly string[], expected: string): { value: Dict; at: FieldPath; keysKnown: boolean } | 'absent' | undefined {
    if (!Object.hasOwn(route, key)) return 'absent';
    const fp: FieldPath = [...at, key];
    const value = route[key];
    if (!isRecord(value)) {
      this.ctx.wrong(fp, expected, value);
      return undefined;
    }
    return { value, at: fp, keysKnown: this.ctx.unknownKeys(value, fp, known) };
  }

  #headers(route: Dict, at: FieldPath): HeaderRules | undefined {
    const field = this.#mapField(route, at, 'headers', HEADER_KEYS, 'a map with set and/or remove');
    if (field === 'absent') return { set: {}, remove: [] };
    if (field === undefined) return undefined;
    const { value, at: hp } = field;
    let ok = field.keysKnown;
    const set: Record<string, string> = {};
    if (Object.hasOwn(value, 'set')) {
      const s = value['set'];
      if (!isRecord(s)) {
        this.ctx.wrong([...hp, 'set'], 'a map of header names to values', s);
        ok = false;
      } else {
        for (const [k, v] of Object.entries(s)) {
          const vp: FieldPath = [...hp, 'set', k];
          if (k === '') {
            this.ctx.r.key(vp, 'a header name cannot be empty');
            ok = false;
          }
          const text = this.ctx.scalarText(vp, v);
          if (text === undefined) {
            this.ctx.wrong(vp, 'a string', v);
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
        this.ctx.wrong([...hp, 'remove'], 'a list of header names', rm);
        ok = false;
      } else {
        list.forEach((h, j) => {
          if (typeof h !== 'string' || h === '') {
            this.ctx.wrong(typeof rm === 'string' ? [...hp, 'remove'] : [...hp, 'remove', j], 'a header name', h);
            ok = false;
          } else remove.push(h);
        });
      }
    }
    return ok ? { set, remove } : undefined;
  }

  /** The router's checks: patterns, placeholders a source can fill, header templates. */
  #templates(built: readonly BuiltRoute[], connectors: ReadonlyMap<string, ConnectorEntry>): void {
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
      this.ctx.r.value(['routes'], `internal error while checking templates: ${describeError(err)}`);
      return;
    }
    for (const issue of issues) {
      this.ctx.r.value(this.#fileRoutePath(issue.path, built), issue.message);
    }
  }

  /** A router path (indices into the routes it was given) → the same field's path in the file. */
  #fileRoutePath(p: FieldPath, built: readonly BuiltRoute[]): FieldPath {
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
