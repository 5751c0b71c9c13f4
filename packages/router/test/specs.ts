/**
 * Route specs as the router's unit tests write them: `ep` names an endpoint of a fake
 * connector (test/fakes.ts), `route` a route with optional header rules.
 */
import type { EndpointSpec, HeaderRules, RouteSpec } from '@ferry/core';

export function ep(connector: string, fields: Record<string, unknown>): EndpointSpec {
  return { connector, fields };
}

export function route(name: string, from: EndpointSpec, to: EndpointSpec[], headers: Partial<HeaderRules> = {}): RouteSpec {
  return { name, from, to, headers: { set: headers.set ?? {}, remove: headers.remove ?? [] } };
}
