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

export interface RouteSpec {
  readonly name: string;
  readonly from: EndpointSpec;
  readonly to: readonly EndpointSpec[];
  readonly headers: HeaderRules;
}

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
