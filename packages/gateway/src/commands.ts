import path from 'node:path';
import { DEFAULT_SCRYPT, describeError, hashPassword, headerToString, redactText, type AnyConnectorDefinition, type HeaderValue } from '@ferry/core';
import { jsonSchema, loadConfig, loadRouteTests, type GatewayConfig } from '@ferry/config';
import { RouteTable, runRouteTest, type ExplainedRoute } from '@ferry/router';
import { createLogger, type LogFormat, type LogLevel } from './logger.js';
import { defaultRegistry } from './registry.js';
import { readPassword } from './password-prompt.js';
import { FileWatch } from './file-watch.js';
import { Runtime } from './runtime.js';

/** The `ferry` subcommands; each sets process.exitCode rather than exiting mid-flight. */
export const run = {
  async start(opts: { config: string; logLevel: LogLevel; logFormat: LogFormat; drainTimeout: number; watch?: boolean }): Promise<void> {
    const logger = createLogger(opts.logLevel, opts.logFormat);
    const runtime = new Runtime({ file: opts.config, registry: defaultRegistry(), logger, drainTimeoutMs: opts.drainTimeout });
    process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { error: describeError(err) }));
    // Signal handlers go in before anything listens: a SIGTERM that arrives while connectors are
    // still starting waits for the start, then drains and stops like any other.
    const onSignal = (signal: NodeJS.Signals): void => {
      if (runtime.stopping) return;
      logger.info(`${signal}: draining and stopping`);
      runtime.stop().then(
        () => process.exit(process.exitCode ?? 0),
        (err: unknown) => {
          logger.error(`stop failed: ${describeError(err)}`);
          process.exit(1);
        },
      );
    };
    // the route file is watched with --watch, or while the running file says gateway.reload.watch
    let watcher: FileWatch | undefined;
    const syncWatch = async (): Promise<void> => {
      const wanted = opts.watch === true || runtime.gateway?.config.gateway.reload?.watch === true;
      if (wanted && watcher === undefined && !runtime.stopping) {
        watcher = new FileWatch(opts.config, () => {
          if (runtime.stopping) return;
          logger.info('the route file changed: reloading', { file: opts.config });
          void runtime.reload().then(syncWatch);
        }, logger);
        await watcher.start();
        logger.info('watching the route file for changes', { file: opts.config, by: opts.watch === true ? '--watch' : 'gateway.reload.watch' });
      } else if (!wanted && watcher !== undefined) {
        watcher.stop();
        watcher = undefined;
        logger.info('no longer watching the route file (gateway.reload.watch is off)', { file: opts.config });
      }
    };
    const onHangup = (): void => {
      if (runtime.stopping) return;
      logger.info('SIGHUP: reloading', { file: opts.config });
      void runtime.reload().then(syncWatch);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    process.on('SIGHUP', onHangup);
    const exit = (code: number): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGHUP', onHangup);
      process.exitCode = code;
    };
    let ok: boolean;
    try {
      ok = await runtime.start();
    } catch (err) {
      // runtime.start stopped every part that did start: nothing is left listening
      logger.error(`cannot start: ${describeError(err)}`);
      exit(1);
      return;
    }
    if (!ok) {
      exit(2);
      return;
    }
    await syncWatch();
  },

  async validate(files: string[]): Promise<void> {
    const registry = defaultRegistry();
    let failed = 0;
    for (const file of files) {
      const result = await loadConfig(file, registry);
      if (result.ok) {
        const c = result.config;
        // beyond the schema: what each connector's own audit finds (weak or unusable settings, a
        // users file that would stop its start); warnings leave the exit code at 0
        const warnings: string[] = [];
        const errors: string[] = [];
        for (const spec of c.connectors) {
          const audit = await registry.get(spec.type)?.audit?.(spec.options, c.baseDir);
          for (const w of audit?.warnings ?? []) warnings.push(`${file}: warning: connectors.${spec.name}: ${w}`);
          for (const e of audit?.errors ?? []) errors.push(`${file}: connectors.${spec.name}: ${e}`);
        }
        for (const line of [...errors, ...warnings]) process.stdout.write(redactText(line) + '\n');
        if (errors.length > 0) {
          failed++;
          process.stdout.write(`${file}: ${plural(errors.length, 'error')}\n`);
          continue;
        }
        process.stdout.write(`${file}: ok (${plural(c.connectors.length, 'connector')}, ${plural(c.routes.length, 'route')}${warnings.length > 0 ? `; ${plural(warnings.length, 'warning')}` : ''})\n`);
        continue;
      }
      failed++;
      for (const e of result.errors) process.stdout.write(e.format() + '\n');
      process.stdout.write(`${file}: ${plural(result.errors.length, 'error')}\n`);
    }
    process.exitCode = failed > 0 ? 1 : 0;
  },

  async explain(opts: { config: string; from: string; address: string; header: [string, string][]; json?: boolean }): Promise<void> {
    const registry = defaultRegistry();
    const result = await loadConfig(opts.config, registry);
    if (!result.ok) {
      for (const e of result.errors) process.stderr.write(e.format() + '\n');
      process.exitCode = 2;
      return;
    }
    const { config } = result;
    if (!config.connectors.some((c) => c.name === opts.from)) {
      process.stderr.write(`no connector named "${opts.from}" in ${opts.config}; connectors: ${config.connectors.map((c) => c.name).join(', ')}\n`);
      process.exitCode = 2;
      return;
    }
    const table = compileTable(config, registry);
    const explained = table.explain(opts.from, opts.address, new Map(opts.header));
    if (opts.json) {
      process.stdout.write(JSON.stringify(explained, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries([...v].map(([k, x]: [string, HeaderValue]) => [k, headerToString(x)])) : v), 2) + '\n');
      return;
    }
    process.stdout.write(formatExplain(opts.from, opts.address, new Map(opts.header), explained));
  },

  /**
   * Route test files (docs/route-tests.md): every case against the compiled route table, no
   * broker. Exit 0 when all pass, 1 when a case fails, 2 when a file cannot be used.
   */
  async test(files: string[], opts: { config?: string }): Promise<void> {
    const registry = defaultRegistry();
    let failed = 0;
    let invalid = 0;
    for (const file of files) {
      const loaded = await loadRouteTests(file, registry, opts.config === undefined ? {} : { routes: opts.config });
      if (!loaded.ok) {
        invalid++;
        for (const e of loaded.errors) process.stdout.write(e.format() + '\n');
        process.stdout.write(`${file}: ${plural(loaded.errors.length, 'error')}; no case ran\n`);
        continue;
      }
      const { suite } = loaded;
      const table = compileTable(suite.config, registry);
      let passed = 0;
      for (const c of suite.cases) {
        const result = runRouteTest(table, c);
        if (result.passed) {
          passed++;
          process.stdout.write(`ok   ${file}:${c.line}:${c.column} ${c.name}\n`);
          continue;
        }
        failed++;
        process.stdout.write(`FAIL ${file}:${c.line}:${c.column} ${c.name}\n`);
        for (const p of result.problems) process.stdout.write(`       ${p}\n`);
        const explained = formatExplain(c.from, c.address, c.headers, result.explained).trimEnd();
        process.stdout.write(explained.replace(/^/gm, '       | ') + '\n');
      }
      const failedHere = suite.cases.length - passed;
      process.stdout.write(`${file}: ${plural(suite.cases.length, 'case')}, ${passed} passed${failedHere > 0 ? `, ${failedHere} failed` : ''} (route file ${path.relative(process.cwd(), suite.config.file) || suite.config.file})\n`);
    }
    process.exitCode = invalid > 0 ? 2 : failed > 0 ? 1 : 0;
  },

  /**
   * `ferry passwd`: the hash of one password, for `password:` in a route file or a users file
   * line. Only the hash is printed; the password is never echoed.
   */
  async passwd(opts: { cost?: number }): Promise<void> {
    let password: string;
    try {
      password = await readPassword(process.stdin, process.stderr);
    } catch (err) {
      process.stderr.write(`ferry passwd: ${describeError(err)}\n`);
      process.exitCode = 2;
      return;
    }
    const hash = await hashPassword(password, { ...DEFAULT_SCRYPT, ln: opts.cost ?? DEFAULT_SCRYPT.ln });
    process.stdout.write(hash + '\n');
  },

  schema(): Promise<void> {
    process.stdout.write(JSON.stringify(jsonSchema(defaultRegistry()), null, 2) + '\n');
    return Promise.resolve();
  },
};

type Explained = readonly ExplainedRoute[];

/** The route table of a loaded (so checked) configuration, as the gateway compiles it. */
function compileTable(config: GatewayConfig, registry: ReadonlyMap<string, AnyConnectorDefinition>): RouteTable {
  const entries = new Map(config.connectors.map((spec) => [spec.name, { spec, definition: registry.get(spec.type)! }]));
  return RouteTable.compile(config.routes, entries, { maxHops: config.gateway.maxHops, tracing: config.gateway.tracing });
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function formatHeaders(headers: ReadonlyMap<string, HeaderValue>): string {
  if (headers.size === 0) return '(none)';
  return [...headers].map(([k, v]) => `${k}=${headerToString(v)}`).join(' ');
}

/** The human form of `ferry explain`: one block per matching route, one line per destination. */
function formatExplain(from: string, address: string, headers: ReadonlyMap<string, HeaderValue>, explained: Explained): string {
  const lines = [`message on ${from}: ${address}`, `  headers: ${formatHeaders(headers)}`];
  if (explained.length === 0) lines.push('', 'no route matches: the message would be accepted and dropped (counted as unrouted)');
  for (const r of explained) {
    const captures = r.captures.map((c, i) => `{${i + 1}}=${c.join('/')}`).join(' ');
    lines.push('', `route ${r.route}` + (r.pattern === undefined ? '' : `  pattern "${r.pattern}"`) + (captures ? `  ${captures}` : ''));
    for (const d of r.destinations) {
      if (d.ok) {
        const to = Object.entries(d.to).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        lines.push(`  -> ${d.connector}  ${to}`, `       headers: ${formatHeaders(d.headers)}`);
      } else {
        lines.push(`  -> ${d.connector}  FAILS (${d.code}): ${d.error}  (the whole message would be rejected)`);
      }
    }
  }
  return lines.join('\n') + '\n';
}
