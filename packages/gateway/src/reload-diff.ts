import { isDeepStrictEqual } from 'node:util';
import type { AnyConnectorDefinition } from '@ferry/core';
import type { GatewayConfig } from '@ferry/config';

type ConnectorSpec = GatewayConfig['connectors'][number];
type RouteSpec = GatewayConfig['routes'][number];

/** What a reload changes, by name; `unchanged` connectors keep running untouched. */
export interface ReloadDiff {
  readonly connectors: { readonly added: string[]; readonly removed: string[]; readonly changed: string[]; readonly unchanged: string[] };
  readonly routes: { readonly added: string[]; readonly removed: string[]; readonly changed: string[] };
}

/**
 * The difference between the running configuration and the next one. A connector is changed
 * when its type or any option differs. A client connector (not a listener) whose source routes
 * differ counts as changed too: its subscriptions, consumers and links are made when its sources
 * open, so it is replaced; a listener's sources are only the engine's matching, which the new
 * route table brings along, so its clients stay connected.
 */
export function diffConfigs(
  running: GatewayConfig,
  next: GatewayConfig,
  definitionOf: (type: string) => AnyConnectorDefinition | undefined,
): ReloadDiff {
  const oldConnectors = new Map(running.connectors.map((c) => [c.name, c]));
  const newConnectors = new Map(next.connectors.map((c) => [c.name, c]));
  const oldRoutes = new Map(running.routes.map((r) => [r.name, r]));
  const newRoutes = new Map(next.routes.map((r) => [r.name, r]));

  const connectors = { added: [] as string[], removed: [] as string[], changed: [] as string[], unchanged: [] as string[] };
  for (const [name, spec] of newConnectors) {
    const old = oldConnectors.get(name);
    if (old === undefined) connectors.added.push(name);
    else if (!sameConnector(old, spec)) connectors.changed.push(name);
    else if (definitionOf(spec.type)?.capabilities.listener !== true && !isDeepStrictEqual(sourcesOf(running, name), sourcesOf(next, name))) {
      connectors.changed.push(name);
    } else connectors.unchanged.push(name);
  }
  for (const name of oldConnectors.keys()) if (!newConnectors.has(name)) connectors.removed.push(name);

  const routes = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  for (const [name, spec] of newRoutes) {
    const old = oldRoutes.get(name);
    if (old === undefined) routes.added.push(name);
    else if (!isDeepStrictEqual(old, spec)) routes.changed.push(name);
  }
  for (const name of oldRoutes.keys()) if (!newRoutes.has(name)) routes.removed.push(name);
  return { connectors, routes };
}

function sameConnector(a: ConnectorSpec, b: ConnectorSpec): boolean {
  return a.type === b.type && isDeepStrictEqual(a.options, b.options);
}

/** the `from` of every route reading from `connector`, with the route's name */
function sourcesOf(config: GatewayConfig, connector: string): { route: string; from: RouteSpec['from'] }[] {
  return config.routes.filter((r) => r.from.connector === connector).map((r) => ({ route: r.name, from: r.from }));
}

/** true when the reload changes nothing at all */
export function isEmptyDiff(d: ReloadDiff): boolean {
  return [d.connectors.added, d.connectors.removed, d.connectors.changed, d.routes.added, d.routes.removed, d.routes.changed].every((l) => l.length === 0);
}

/** The diff as log fields: only what changed, names joined. */
export function diffFields(d: ReloadDiff): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (key: string, names: readonly string[]): void => {
    if (names.length > 0) out[key] = names.join(',');
  };
  put('connectorsAdded', d.connectors.added);
  put('connectorsRemoved', d.connectors.removed);
  put('connectorsChanged', d.connectors.changed);
  put('routesAdded', d.routes.added);
  put('routesRemoved', d.routes.removed);
  put('routesChanged', d.routes.changed);
  return out;
}
