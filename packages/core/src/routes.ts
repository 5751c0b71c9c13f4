/**
 * A route as the route file states it, after validation (the config package builds these; the
 * router compiles them). Field positions stay in the config package; errors point back through
 * `path`s like `routes[2].to[0].routingKey`.
 */
export interface EndpointSpec {
  readonly connector: string;
  /** the remaining fields, validated by the connector type's `from` or `to` schema */
  readonly fields: Readonly<Record<string, unknown>>;
}

export interface HeaderRules {
  /** headers to set; values may hold templates */
  readonly set: Readonly<Record<string, string>>;
  /** header names to remove (exact, case-sensitive) */
  readonly remove: readonly string[];
}

/** Retries of a route's failed destinations: exponential backoff with full jitter (core Backoff). */
export interface RetrySpec {
  /** attempts in all, the first write included (1: no retry) */
  readonly maxAttempts: number;
  readonly initialMs: number;
  readonly maxMs: number;
}

/** What a route does when a destination fails (`onFailure` in the route file). */
export interface FailureSpec {
  /** absent: no retry, a failure settles the message at once */
  readonly retry?: RetrySpec | undefined;
  /** where a message goes when it can never succeed or its retries ran out; absent: reject / release */
  readonly deadLetter?: EndpointSpec | undefined;
}

export interface RouteSpec {
  readonly name: string;
  readonly from: EndpointSpec;
  readonly to: readonly EndpointSpec[];
  readonly headers: HeaderRules;
  /** messages of this route taken but not yet settled before its source is paused; absent: 1000 */
  readonly maxInFlight?: number | undefined;
  readonly onFailure?: FailureSpec | undefined;
}

/** The default of a route's `maxInFlight`. */
export const DEFAULT_MAX_IN_FLIGHT = 1000;

/** A connector as the route file states it, after its options were validated. */
export interface ConnectorSpec {
  readonly name: string;
  readonly type: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** A path into the route file, e.g. ['routes', 2, 'to', 0, 'routingKey']. */
export type FieldPath = readonly (string | number)[];

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

/** A problem found in a route file, before its position is known. */
export interface SpecIssue {
  readonly path: FieldPath;
  readonly message: string;
}
