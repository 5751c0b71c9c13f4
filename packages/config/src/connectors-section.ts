import type { z } from 'zod';
import { describeError, type AnyConnectorDefinition, type FieldPath } from '@ferry/core';
import { isRecord, type CheckContext, type Dict } from './check-context.js';
import { NAME_PATTERN, NAME_RULE } from './gateway-section.js';
import type { GatewaySection } from './types.js';
import { didYouMean } from './words.js';

export type Registry = ReadonlyMap<string, AnyConnectorDefinition>;

/** A connector entry as far as it could be checked. */
export interface ConnectorEntry {
  readonly name: string;
  readonly type: string;
  readonly definition: AnyConnectorDefinition;
  readonly raw: Dict;
  /** the options schema's output; undefined when the options are invalid */
  readonly options: Dict | undefined;
}

/**
 * The `connectors:` section of a route file: each entry's name, its type among the registered
 * connector definitions and its options against that type's schema; then the TCP ports the
 * admin server and the listeners would take, none twice.
 */
export class ConnectorsSection {
  /** false when the section is missing or not a map: routes naming a connector are not checked against it */
  usable = true;
  /** every name under `connectors:`, including those whose entry is broken */
  readonly declared: string[] = [];

  constructor(
    private readonly ctx: CheckContext,
    private readonly registry: Registry,
  ) {}

  check(root: Dict): Map<string, ConnectorEntry> {
    const out = new Map<string, ConnectorEntry>();
    if (!Object.hasOwn(root, 'connectors')) {
      this.ctx.missing(['connectors'], 'a map of connector names to their options');
      this.usable = false;
      return out;
    }
    const section = root['connectors'];
    if (!isRecord(section)) {
      this.ctx.wrong(['connectors'], 'a map of connector names to their options', section);
      this.usable = false;
      return out;
    }
    const types = [...this.registry.keys()];
    for (const [name, value] of Object.entries(section)) {
      this.declared.push(name);
      const at: FieldPath = ['connectors', name];
      if (!NAME_PATTERN.test(name)) {
        this.ctx.r.key(at, `connector name ${JSON.stringify(name)} is not valid: use ${NAME_RULE}`, { found: JSON.stringify(name) });
      }
      if (!isRecord(value)) {
        this.ctx.wrong(at, 'a map with the connector\'s type and options', value);
        continue;
      }
      const type = value['type'];
      if (!Object.hasOwn(value, 'type')) {
        this.ctx.missing([...at, 'type'], `one of: ${types.join(', ')}`);
        continue;
      }
      if (typeof type !== 'string') {
        this.ctx.wrong([...at, 'type'], `a connector type (one of: ${types.join(', ')})`, type);
        continue;
      }
      const definition = this.registry.get(type);
      if (definition === undefined) {
        const hint = didYouMean(type, types);
        this.ctx.r.value([...at, 'type'], `unknown connector type ${JSON.stringify(type)}${hint}; known types: ${types.join(', ')}`, {
          expected: `one of: ${types.join(', ')}`,
          found: JSON.stringify(type),
        });
        continue;
      }
      const raw: Dict = { ...value };
      delete raw['type'];
      const options = this.ctx.validate(definition.options as z.ZodType<Dict>, raw, at, ['type']);
      out.set(name, { name, type, definition, raw, options });
    }
    return out;
  }

  /** A TCP port can be listened on once: the admin server's and every listener's must differ. */
  ports(gateway: GatewaySection | undefined, root: Dict, connectors: ReadonlyMap<string, ConnectorEntry>): void {
    const owners = new Map<number, { label: string; line: number }>();
    const claim = (port: number, at: FieldPath, label: string, defaulted: boolean): void => {
      if (port === 0) return; // 0: the system picks a free port, never a clash
      const first = owners.get(port);
      if (first === undefined) {
        owners.set(port, { label, line: this.ctx.line(at) });
        return;
      }
      const what = defaulted ? `port ${port} (the default of its type)` : `port ${port}`;
      this.ctx.r.value(at, `${what} is already used by ${first.label} on line ${first.line}`, { found: String(port) });
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
        this.ctx.r.value(['connectors', c.name], `internal error while reading the ports of connector ${JSON.stringify(c.name)}: ${describeError(err)}`);
        continue;
      }
      for (const port of ports) {
        const at = findNumber(c.raw, port);
        claim(port, ['connectors', c.name, ...(at ?? [])], `connector ${JSON.stringify(c.name)}`, at === undefined);
      }
    }
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

