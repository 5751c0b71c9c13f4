import {
  FerryError,
  createMessage,
  formatPath,
  type AddressSyntax,
  type AnyConnectorDefinition,
  type FerryErrorCode,
  type GatewayMessage,
  type HeaderValue,
  type Headers,
  type ReadonlyHeaders,
  type RetrySpec,
  type RouteSpec,
  type SourceSpec,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_MAX_HOPS,
  hopsOf,
  startTrace,
  withHeaders,
  withHopsShared,
  HOPS_HEADER,
  TRACEPARENT,
  TRACESTATE,
} from '@ferry/core';
import { translateReplyTo } from './addresses.js';
import { checkRoutes, type ConnectorEntry } from './check.js';
import { AddressMemo } from './address-memo.js';
import { compilePattern, type CompiledPattern } from './patterns.js';
import { Template, checkRenderedAddress, levelSeparatorOf, type RenderContext } from './templates.js';

/** A route that takes a message, with what its source pattern's wildcards captured. */
export interface RouteMatch {
  readonly route: string;
  /** one entry per wildcard; [] when the route has no pattern (or it did not match, see {@link RouteTable.match}) */
  readonly captures: readonly (readonly string[])[];
}

/** One write to do: a message for one `to` of one route, its templates filled. */
export interface Dispatch {
  readonly route: string;
  /** the position of this destination in the route's `to` */
  readonly index: number;
  readonly connector: string;
  /**
   * The `to` fields (without `connector`), templates rendered, other fields as they were. Frozen
   * and shared by every message that renders the same way: read it, never change it.
   */
  readonly to: Readonly<Record<string, unknown>>;
  /** the message with the route's header rules applied (a copy; the input is never changed) */
  readonly message: GatewayMessage;
}

/** One destination of a route that cannot be written for this message (its templates failed). */
export interface UnplannedDestination {
  /** the position in the route's `to`; undefined when a `headers.set` value failed (then no destination can be written) */
  readonly index: number | undefined;
  readonly connector: string | undefined;
  /** the destination as written in the route file (templates unfilled), for the dead-letter headers */
  readonly to: Readonly<Record<string, unknown>> | undefined;
  readonly error: FerryError;
}

/**
 * Every destination of one route for one message: those that can be written, and those that
 * cannot (their templates failed, or the message looped). The engine, `ferry explain` and
 * `ferry test` all read this one plan, so what they show is what the engine writes.
 */
export interface RoutePlan {
  readonly route: string;
  readonly dispatches: readonly Dispatch[];
  readonly failed: readonly UnplannedDestination[];
}

/** What a route does under load and on failure (`maxInFlight`, `onFailure`), defaults filled in. */
export interface RoutePolicy {
  readonly maxInFlight: number;
  readonly retry: RetrySpec | undefined;
  /** the dead-letter destination's connector; undefined when the route has none */
  readonly deadLetter: string | undefined;
}

/** What `ferry explain` shows for one matching route. */
export interface ExplainedRoute {
  readonly route: string;
  /** the source pattern; undefined for a route that takes every message of its source (a queue) */
  readonly pattern: string | undefined;
  readonly captures: readonly (readonly string[])[];
  readonly destinations: readonly ExplainedDestination[];
}

export type ExplainedDestination =
  | {
      readonly ok: true;
      readonly index: number;
      readonly connector: string;
      readonly to: Record<string, unknown>;
      /** the headers the destination would receive */
      readonly headers: ReadonlyHeaders;
    }
  | {
      readonly ok: false;
      readonly index: number;
      readonly connector: string;
      readonly code: FerryErrorCode;
      /** why this destination cannot be written */
      readonly error: string;
    };

interface CompiledTarget {
  readonly index: number;
  readonly connector: string;
  readonly syntax: AddressSyntax;
  readonly fields: Readonly<Record<string, unknown>>;
  /** template fields that hold placeholders; literal ones are copied as they are */
  readonly templates: readonly { readonly field: string; readonly template: Template; readonly levelSeparator: '/' | '.' | undefined }[];
  /** the `to` of every message when no field is a template, frozen */
  readonly literalTo: Readonly<Record<string, unknown>> | undefined;
  /**
   * No template reads a header: the rendered `to` depends on the source address alone (the
   * captures come from it), so it is rendered once per address (see {@link MemoMatch}).
   */
  readonly byAddress: boolean;
}

/**
 * A route match remembered for its source address (RouteTable.match), with the destinations
 * rendered for that address so far, by target index: the next message of the same address
 * reuses both.
 */
class MemoMatch implements RouteMatch {
  readonly route: string;
  readonly captures: readonly (readonly string[])[];
  // private: a match reads as { route, captures } to whoever holds it
  readonly #address: string;
  readonly #rendered: (Readonly<Record<string, unknown>> | undefined)[] = [];

  constructor(route: string, captures: readonly (readonly string[])[], address: string) {
    this.route = route;
    this.captures = captures;
    this.#address = address;
  }

  /** the `to` of target `index` rendered for this address, when rendered already */
  rendered(address: string, index: number): Readonly<Record<string, unknown>> | undefined {
    return address === this.#address ? this.#rendered[index] : undefined;
  }

  remember(address: string, index: number, to: Readonly<Record<string, unknown>>): void {
    if (address === this.#address && index >= 0) this.#rendered[index] = to;
  }
}

/** The routes that took one address, for the `restrictTo` they were matched with. */
interface MemoEntry {
  readonly restrictTo: readonly string[] | undefined;
  readonly matches: readonly RouteMatch[];
}

/**
 * Addresses remembered per source connector. 8,192 covers a listener's devices publishing each to
 * its own topic at the scale the benchmarks hold (10,000 connections, few publishing at once);
 * 1 Mi characters of addresses (about 128 each at that count) keeps it to a few MiB whatever
 * the addresses' length. Beyond either the memo starts afresh and costs what matching did
 * without it.
 */
const MATCH_MEMO_CAPACITY = 8_192;
const MATCH_MEMO_CHARS = 1 << 20;

function sameRoutes(a: readonly string[] | undefined, b: readonly string[] | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The routes whose source is one connector, with what the engine and {@link RouteTable.match} keep per source. */
interface SourceRoutes {
  readonly routes: CompiledRoute[];
  /** their names, for the engine's flow control on every message: one shared list, not a copy */
  readonly names: string[];
  /** what match found per address (the table never changes: a reload compiles a new one) */
  readonly memo: AddressMemo<MemoEntry>;
}

interface CompiledRoute {
  readonly name: string;
  readonly connector: string;
  readonly sourceSyntax: AddressSyntax;
  readonly pattern: CompiledPattern | undefined;
  readonly from: Readonly<Record<string, unknown>>;
  readonly headerSet: readonly { readonly name: string; readonly template: Template }[];
  readonly headerRemove: readonly string[];
  readonly targets: readonly CompiledTarget[];
  readonly policy: RoutePolicy;
  readonly deadLetter: CompiledTarget | undefined;
}

/** What the table does to every message it plans, besides the routes: loop protection and tracing. */
export interface RouteTableOptions {
  /**
   * The most times a message may pass through Ferry (`gateway.maxHops`, default
   * {@link DEFAULT_MAX_HOPS}): a route does not write a message whose hop count (core hops.ts)
   * would exceed it, and fails those destinations with LOOP_DETECTED instead.
   */
  readonly maxHops?: number | undefined;
  /** `gateway.tracing`: start a W3C trace for a message that carries none (core trace-context.ts) */
  readonly tracing?: { readonly start: boolean; readonly sampled: boolean } | undefined;
  /** the random source of new trace ids (tests) */
  readonly random?: ((n: number) => Buffer) | undefined;
}

function configError(message: string, details: Record<string, unknown> = {}): FerryError {
  return new FerryError('CONFIG_INVALID', message, { permanent: true, details });
}

/**
 * The routes of one loaded configuration, compiled once (patterns, templates): which routes take
 * a message, and what each of them writes where.
 */
export class RouteTable {
  readonly #routes = new Map<string, CompiledRoute>();
  readonly #bySource = new Map<string, SourceRoutes>();
  readonly #definitions = new Map<string, AnyConnectorDefinition>();
  readonly #maxHops: number;
  readonly #tracing: RouteTableOptions['tracing'];
  readonly #random: RouteTableOptions['random'];
  /** the trace started for a message, so every route and destination of it carries the same one */
  readonly #traced = new WeakMap<GatewayMessage, ReadonlyHeaders>();

  private constructor(options: RouteTableOptions) {
    this.#maxHops = options.maxHops ?? DEFAULT_MAX_HOPS;
    this.#tracing = options.tracing;
    this.#random = options.random;
  }

  /**
   * Compile `routes`. Throws FerryError CONFIG_INVALID when a route names an unknown connector,
   * a name is used twice, or {@link checkRoutes} finds a problem (the config loader reports those
   * with file positions first; this is the safety net for configurations built another way).
   */
  static compile(routes: readonly RouteSpec[], connectors: ReadonlyMap<string, ConnectorEntry>, options: RouteTableOptions = {}): RouteTable {
    const issues = checkRoutes(routes, connectors);
    if (issues.length > 0) {
      const lines = issues.map((i) => `${formatPath(i.path)}: ${i.message}`);
      throw configError(`invalid routes:\n  ${lines.join('\n  ')}`, { issues });
    }
    const table = new RouteTable(options);
    for (const [name, entry] of connectors) table.#definitions.set(name, entry.definition);
    routes.forEach((spec, i) => {
      if (table.#routes.has(spec.name)) throw configError(`routes[${i}]: route name "${spec.name}" is used twice`);
      const route = table.#compileRoute(spec, i);
      table.#routes.set(route.name, route);
      let source = table.#bySource.get(route.connector);
      if (source === undefined) {
        source = { routes: [], names: [], memo: new AddressMemo(MATCH_MEMO_CAPACITY, MATCH_MEMO_CHARS) };
        table.#bySource.set(route.connector, source);
      }
      source.routes.push(route);
      source.names.push(route.name);
    });
    return table;
  }

  #definition(connector: string, where: string): AnyConnectorDefinition {
    const def = this.#definitions.get(connector);
    if (def === undefined) throw configError(`${where}: unknown connector "${connector}"`);
    return def;
  }

  #compileRoute(spec: RouteSpec, i: number): CompiledRoute {
    const fromDef = this.#definition(spec.from.connector, `routes[${i}].from`);
    if (fromDef.from === undefined) {
      throw configError(`routes[${i}].from: connector "${spec.from.connector}" (${fromDef.type}) cannot be a source`);
    }
    const pattern = fromDef.sourcePattern(spec.from.fields);
    const compileTarget = (to: RouteSpec['to'][number], j: number, where: string): CompiledTarget => {
      const def = this.#definition(to.connector, where);
      if (def.to === undefined) {
        throw configError(`${where}: connector "${to.connector}" (${def.type}) cannot be a destination`);
      }
      const templates: { field: string; template: Template; levelSeparator: '/' | '.' | undefined }[] = [];
      const names: readonly string[] = def.nameFields ?? [];
      for (const field of def.templateFields) {
        const value = to.fields[field];
        if (typeof value !== 'string') continue;
        const template = Template.parse(value);
        if (!template.isLiteral || template.literal !== value) {
          templates.push({ field, template, levelSeparator: names.includes(field) ? undefined : levelSeparatorOf(def.syntax, template) });
        }
      }
      return {
        index: j,
        connector: to.connector,
        syntax: def.syntax,
        fields: to.fields,
        templates,
        literalTo: templates.length === 0 ? Object.freeze({ ...to.fields }) : undefined,
        byAddress: templates.every(({ template }) => template.parts.every((p) => p.kind !== 'header')),
      };
    };
    const targets = spec.to.map((to, j) => compileTarget(to, j, `routes[${i}].to[${j}]`));
    const dl = spec.onFailure?.deadLetter;
    const deadLetter = dl === undefined ? undefined : compileTarget(dl, -1, `routes[${i}].onFailure.deadLetter`);
    return {
      policy: {
        maxInFlight: spec.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
        retry: spec.onFailure?.retry,
        deadLetter: dl?.connector,
      },
      deadLetter,
      name: spec.name,
      connector: spec.from.connector,
      sourceSyntax: fromDef.syntax,
      pattern: pattern === undefined ? undefined : compilePattern(fromDef.syntax, pattern),
      from: spec.from.fields,
      headerSet: Object.entries(spec.headers.set).map(([name, value]) => ({ name, template: Template.parse(value) })),
      headerRemove: spec.headers.remove,
      targets,
    };
  }

  /** the names of every route, in file order */
  get routeNames(): readonly string[] {
    return [...this.#routes.keys()];
  }

  /** the connectors some route writes to (each needs a sink) */
  get sinkConnectors(): readonly string[] {
    const out = new Set<string>();
    for (const r of this.#routes.values()) {
      for (const t of r.targets) out.add(t.connector);
      if (r.deadLetter !== undefined) out.add(r.deadLetter.connector);
    }
    return [...out];
  }

  /** the route's `maxInFlight` and `onFailure`, defaults filled in; undefined for an unknown route */
  policyOf(route: string): RoutePolicy | undefined {
    return this.#routes.get(route)?.policy;
  }

  /** the source connector of a route */
  sourceOf(route: string): string | undefined {
    return this.#routes.get(route)?.connector;
  }

  /** The `from`s of every route whose source is `connector`, for Connector.openSources. */
  routesFrom(connector: string): SourceSpec<Record<string, unknown>>[] {
    return (this.#bySource.get(connector)?.routes ?? []).map((r) => ({ route: r.name, from: { ...r.from } }));
  }

  /** The names of the routes whose source is `connector`, in file order: one shared list, not a copy. */
  routeNamesFrom(connector: string): readonly string[] {
    return this.#bySource.get(connector)?.names ?? NONE;
  }

  /**
   * The routes from `connector` that take `message`: those with no pattern, and those whose
   * pattern matches message.source.address.
   *
   * With `restrictTo` (the connector knows which routes a delivery belongs to: a queue declared
   * for one route, MQTT 5 subscription identifiers), only those routes are considered and each
   * of them takes the message: the connector vouches for it. The pattern then only supplies the
   * captures; when it does not match (an exchange type whose binding is not a topic pattern),
   * the captures are empty and a `{n}` template fails the message loudly rather than the
   * message being dropped as unrouted.
   */
  match(connector: string, message: GatewayMessage, restrictTo?: readonly string[]): readonly RouteMatch[] {
    const source = this.#bySource.get(connector);
    if (source === undefined) return NONE;
    const { routes, memo } = source;
    const address = message.source.address;
    // the same address matches the same routes with the same captures: shared, read only
    const known = memo.get(address);
    if (known !== undefined && sameRoutes(known.restrictTo, restrictTo)) return known.matches;
    const out: RouteMatch[] = [];
    for (const r of routes) {
      if (restrictTo !== undefined && !restrictTo.includes(r.name)) continue;
      if (r.pattern === undefined) {
        out.push(new MemoMatch(r.name, NONE, address));
        continue;
      }
      const captures = r.pattern.match(address);
      if (captures !== undefined) out.push(new MemoMatch(r.name, captures, address));
      else if (restrictTo !== undefined) out.push(new MemoMatch(r.name, NONE, address));
    }
    memo.set(address, { restrictTo, matches: out });
    return out;
  }

  /**
   * The one planner: every destination of one matched route, those whose templates fill (with
   * the route's header rules, the hop count and the trace applied) and those that cannot be
   * written (all of them when the message looped or a `headers.set` value cannot be filled).
   * Whether a route writes what it can (it has a dead-letter destination) or nothing at all is
   * the engine's decision, not the plan's.
   */
  plan(message: GatewayMessage, match: RouteMatch): RoutePlan {
    const route = this.#routes.get(match.route);
    if (route === undefined) {
      const error = new FerryError('INTERNAL', `no route named "${match.route}"`, { permanent: false });
      return { route: match.route, dispatches: NONE, failed: [{ index: undefined, connector: undefined, to: undefined, error }] };
    }
    const hops = hopsOf(message.headers);
    const loop = this.#loop(route, hops);
    if (loop !== undefined) {
      return { route: route.name, dispatches: NONE, failed: route.targets.map((t) => ({ index: t.index, connector: t.connector, to: t.fields, error: loop })) };
    }
    let out: GatewayMessage;
    try {
      out = this.#outgoing(route, message, match.captures, hops);
    } catch (err) {
      return { route: route.name, dispatches: NONE, failed: [{ index: undefined, connector: undefined, to: undefined, error: asTemplateError(err) }] };
    }
    const dispatches: Dispatch[] = [];
    let failed: UnplannedDestination[] | undefined;
    for (const target of route.targets) {
      try {
        dispatches.push(this.#dispatch(route, target, message, match, out));
      } catch (err) {
        (failed ??= []).push({ index: target.index, connector: target.connector, to: target.fields, error: asTemplateError(err) });
      }
    }
    return { route: route.name, dispatches, failed: failed ?? NONE };
  }

  /**
   * The engine's common case: the one write of a route with one destination, when the message
   * can be written there. Undefined when the route has several destinations or the message
   * cannot be written (it looped, a template fails): {@link plan} then says what and why. The
   * same planning as {@link plan}, without its lists.
   */
  planOne(message: GatewayMessage, match: RouteMatch): Dispatch | undefined {
    const route = this.#routes.get(match.route);
    const target = route?.targets.length === 1 ? route.targets[0] : undefined;
    if (route === undefined || target === undefined) return undefined;
    const hops = hopsOf(message.headers);
    if (this.#loop(route, hops) !== undefined) return undefined;
    try {
      return this.#dispatch(route, target, message, match, this.#outgoing(route, message, match.captures, hops));
    } catch {
      return undefined;
    }
  }

  /** One destination's write: its `to` rendered, the route's outgoing message for it. Throws what a template throws. */
  #dispatch(route: CompiledRoute, target: CompiledTarget, message: GatewayMessage, match: RouteMatch, out: GatewayMessage): Dispatch {
    const to = this.#renderTarget(route, target, message, match);
    return { route: route.name, index: target.index, connector: target.connector, to, message: this.#forTarget(route, target, out) };
  }

  /**
   * The route's dead-letter destination for `message` (its templates filled from the message as
   * received, like any `to`), or the error why it cannot be filled; undefined when the route has
   * none. `message` is what is written there: the caller adds the reason headers.
   */
  planDeadLetter(
    received: GatewayMessage,
    match: RouteMatch,
    message: GatewayMessage,
  ): { readonly ok: true; readonly dispatch: Dispatch } | { readonly ok: false; readonly error: FerryError } | undefined {
    const route = this.#routes.get(match.route);
    const target = route?.deadLetter;
    if (route === undefined || target === undefined) return undefined;
    try {
      const to = this.#renderTarget(route, target, received, match);
      return { ok: true, dispatch: { route: route.name, index: -1, connector: target.connector, to, message } };
    } catch (err) {
      return { ok: false, error: asTemplateError(err) };
    }
  }

  /**
   * What would happen to a message from `connector` at `address` with `headers`, without any
   * broker: each matching route's destinations with their rendered `to` and headers, or why a
   * destination cannot be written. Throws FerryError CONFIG_INVALID for an unknown connector.
   */
  explain(
    connector: string,
    address: string,
    headers: ReadonlyMap<string, HeaderValue> | Readonly<Record<string, HeaderValue>> = new Map(),
  ): ExplainedRoute[] {
    const def = this.#definition(connector, 'explain');
    const message = createMessage({
      body: Buffer.alloc(0),
      headers: new Map(headers instanceof Map ? headers : Object.entries(headers)),
      source: { connector, protocol: def.protocol, address },
    });
    return this.match(connector, message).map((m): ExplainedRoute => {
      const route = this.#routes.get(m.route) as CompiledRoute;
      const plan = this.plan(message, m);
      // a failure without an index (a `headers.set` value) fails every destination
      const whole = plan.failed.find((f) => f.index === undefined);
      const destinations = route.targets.map((target): ExplainedDestination => {
        const base = { index: target.index, connector: target.connector };
        const d = plan.dispatches.find((x) => x.index === target.index);
        if (d !== undefined) return { ...base, ok: true, to: d.to, headers: d.message.headers };
        const f = whole ?? plan.failed.find((x) => x.index === target.index);
        const error = f?.error ?? new FerryError('INTERNAL', 'destination neither planned nor failed');
        return { ...base, ok: false, code: error.code, error: error.message };
      });
      return { route: route.name, pattern: route.pattern?.pattern, captures: m.captures, destinations };
    });
  }

  /**
   * LOOP_DETECTED when writing `message` would take it past `maxHops` passages through Ferry
   * (core hops.ts); undefined when it may go on.
   */
  #loop(route: CompiledRoute, hops: number): FerryError | undefined {
    if (hops < this.#maxHops) return undefined;
    return new FerryError('LOOP_DETECTED', `the message has passed through Ferry ${hops} times (header x-ferry-hops); maxHops is ${this.#maxHops}: not written again`, {
      permanent: true,
      details: { route: route.name, hops, maxHops: this.#maxHops },
    });
  }

  /**
   * The message a route writes: its header rules applied, one more hop counted, and with
   * `gateway.tracing.start` a trace started when it carries none (the same one for every route
   * that takes the message). `hops`: the count the message arrived with.
   */
  #outgoing(route: CompiledRoute, message: GatewayMessage, captures: RouteMatch['captures'], hops: number): GatewayMessage {
    const ruled = this.#ruledHeaders(route, message, captures);
    const tracing = this.#tracing?.start === true ? this.#tracing : undefined;
    // nothing changes the headers but the hop count: a header-less message shares one map
    if (ruled === undefined && tracing === undefined) return withHeaders(message, withHopsShared(message.headers, hops + 1));
    // the header rules' map is new already: the hop count and the trace go into it, not a second copy
    const headers = ruled ?? new Map(message.headers);
    headers.set(HOPS_HEADER, hops + 1);
    if (tracing !== undefined) {
      let traced = this.#traced.get(message);
      if (traced === undefined) {
        traced = startTrace(message.headers, tracing.sampled, this.#random);
        this.#traced.set(message, traced);
      }
      // the trace of the message as received (or started), unless a header rule sets them
      for (const name of [TRACEPARENT, TRACESTATE]) {
        if (route.headerSet.some((h) => h.name === name)) continue;
        const v = traced.get(name);
        if (v === undefined) headers.delete(name);
        else headers.set(name, v);
      }
    }
    return withHeaders(message, headers);
  }

  /**
   * The route's message for one destination: its reply-to translated into the destination's
   * address syntax (addresses.ts translateReplyTo), so a reply sent to it comes back.
   */
  #forTarget(route: CompiledRoute, target: CompiledTarget, out: GatewayMessage): GatewayMessage {
    if (out.replyTo === undefined) return out;
    const replyTo = translateReplyTo(route.sourceSyntax, out.replyTo, target.syntax);
    return replyTo === out.replyTo ? out : { ...out, replyTo };
  }

  /**
   * The route's header rules applied to a copy of the message's headers: `remove` first, then
   * `set` (so a name in both ends up set); undefined when the route has none. `set` values are
   * templates filled from the incoming message, in the source's syntax.
   */
  #ruledHeaders(route: CompiledRoute, message: GatewayMessage, captures: RouteMatch['captures']): Headers | undefined {
    if (route.headerSet.length === 0 && route.headerRemove.length === 0) return undefined;
    const ctx: RenderContext = { message, captures, sourceSyntax: route.sourceSyntax, targetSyntax: route.sourceSyntax };
    const headers: Headers = new Map(message.headers);
    for (const name of route.headerRemove) headers.delete(name);
    for (const { name, template } of route.headerSet) headers.set(name, template.render(ctx));
    return headers;
  }

  /**
   * The destination's `to` with its templates filled from the incoming message (before the
   * route's header rules, so a header can route a message and still be removed from it). Frozen:
   * a literal destination's is made once, one that depends on the address alone once per
   * address (kept on the match, see {@link match}).
   */
  #renderTarget(route: CompiledRoute, target: CompiledTarget, message: GatewayMessage, match: RouteMatch): Readonly<Record<string, unknown>> {
    if (target.literalTo !== undefined) return target.literalTo;
    const memo = target.byAddress && match instanceof MemoMatch ? match : undefined;
    const address = message.source.address;
    const known = memo?.rendered(address, target.index);
    if (known !== undefined) return known;
    const to: Record<string, unknown> = { ...target.fields };
    for (const { field, template, levelSeparator } of target.templates) {
      const ctx: RenderContext = { message, captures: match.captures, sourceSyntax: route.sourceSyntax, targetSyntax: target.syntax, levelSeparator };
      const value = template.render(ctx);
      checkRenderedAddress(target.syntax, value, template.source);
      to[field] = value;
    }
    const frozen = Object.freeze(to);
    memo?.remember(address, target.index, frozen);
    return frozen;
  }
}

/** the shared empty list of a plan with nothing in it (most plans fail nothing) */
const NONE: readonly never[] = Object.freeze([]);

function asTemplateError(err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  return new FerryError('TEMPLATE_INVALID', err instanceof Error ? err.message : String(err), { cause: err, permanent: true });
}
