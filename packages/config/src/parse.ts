import os from 'node:os';
import path from 'node:path';
import type { Node } from 'yaml';
import { describeError, type ConnectorSpec } from '@ferry/core';
import { CheckContext, isRecord, type Dict } from './check-context.js';
import { ConnectorsSection, type ConnectorEntry, type Registry } from './connectors-section.js';
import { ConfigError, sortErrors } from './errors.js';
import { interpolateDocument } from './env.js';
import { gatewaySchema } from './gateway-section.js';
import { Reporter } from './reporter.js';
import { RoutesSection, type BuiltRoute } from './routes-section.js';
import { isEmptyDocument, readYaml, toData } from './yaml-file.js';
import type { GatewayConfig, GatewaySection, LoadOptions, LoadResult } from './types.js';
import { describeValue } from './words.js';

const TOP_KEYS = ['gateway', 'connectors', 'routes'] as const;

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

  constructor(
    private readonly text: string,
    private readonly file: string,
    private readonly registry: Registry,
    private readonly opts: LoadOptions,
  ) {}

  run(): LoadResult {
    const yaml = readYaml(this.text, this.file, 'route file');
    const { doc } = yaml;
    const map = yaml.map;
    this.syntaxErrors.push(...yaml.errors);
    // the rest of a file that does not parse cannot be read reliably: stop at its syntax errors
    if (yaml.fatal) return { ok: false, errors: sortErrors(this.syntaxErrors) };

    const silenced = new Set<Node>();
    this.r = new Reporter(this.file, map, silenced);
    const env = this.opts.env ?? process.env;
    const interpolation = interpolateDocument(doc, env);
    const ctx = new CheckContext(this.r, map, interpolation.texts);
    for (const p of interpolation.problems) {
      const { line, column } = map.positionOf(p.node);
      const where = p.node.range ? map.pathAt(p.node.range[0]) : [];
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
    ctx.unknownKeys(root, [], TOP_KEYS);
    const gateway = this.gateway(ctx, root);
    const section = new ConnectorsSection(ctx, this.registry);
    const connectors = section.check(root);
    section.ports(gateway, root, connectors);
    const routes = new RoutesSection(ctx, section).check(root, connectors);
    return this.finish({ gateway, connectors, routes });
  }

  private finish(built: { gateway: GatewaySection | undefined; connectors: Map<string, ConnectorEntry>; routes: BuiltRoute[] } | undefined): LoadResult {
    const errors = sortErrors([...this.syntaxErrors, ...this.r.errors]);
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

  // ---- gateway ---------------------------------------------------------------------------

  private gateway(ctx: CheckContext, root: Dict): GatewaySection | undefined {
    const raw = root['gateway'] ?? {};
    const parsed = ctx.validate(gatewaySchema, raw, ['gateway'], []);
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
}
