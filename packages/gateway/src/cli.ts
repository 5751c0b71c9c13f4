#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { run } from './commands.js';

const program = new Command();
program
  .name('ferry')
  .description('Ferry: a multi-protocol message gateway for MQTT, AMQP 0-9-1, AMQP 1.0 and STOMP')
  .version(version(), '-V, --version', "print Ferry's version")
  .showHelpAfterError();

const logLevel = new Option('--log-level <level>', 'log level').choices(['error', 'warn', 'info', 'debug']).default('info');
const logFormat = new Option('--log-format <format>', 'log format').choices(['text', 'json']).default('text');

program
  .command('start')
  .description('run the gateway with a route file (SIGHUP reloads it, SIGTERM drains and stops)')
  .requiredOption('-c, --config <file>', 'route file', 'config/gateway.yaml')
  .addOption(logLevel)
  .addOption(logFormat)
  .option('--drain-timeout <ms>', 'on SIGTERM, how long in-flight messages may take to be confirmed', parseMs, 10_000)
  .option('--watch', "reload when the route file's content changes (its folder is watched, so ConfigMap symlink swaps count), as well as on SIGHUP")
  .action((opts: { config: string; logLevel: 'error' | 'warn' | 'info' | 'debug'; logFormat: 'text' | 'json'; drainTimeout: number; watch?: boolean }) =>
    run.start(opts),
  );

program
  .command('validate')
  .description('check route files without starting anything; prints every error with file:line:column')
  .argument('<files...>', 'route files')
  .action((files: string[]) => run.validate(files));

program
  .command('explain')
  .description('show, without any broker, which routes a message matches and where each copy goes')
  .requiredOption('-c, --config <file>', 'route file', 'config/gateway.yaml')
  .requiredOption('--from <connector>', 'the connector the message arrives on')
  .requiredOption('--address <address>', "the message's address in that connector's protocol (topic, routing key, destination)")
  .option('--header <name=value>', 'a message header (repeatable)', collectHeader, [] as [string, string][])
  .option('--json', 'print JSON')
  .action((opts: { config: string; from: string; address: string; header: [string, string][]; json?: boolean }) => run.explain(opts));

program
  .command('test')
  .description('run route test files: messages and the destinations the route file must give them, without any broker')
  .argument('<files...>', 'route test files (docs/route-tests.md)')
  .option('-c, --config <file>', "the route file to test, instead of each test file's own `routes`")
  .action((files: string[], opts: { config?: string }) => run.test(files, opts));

program
  .command('passwd')
  .description('print an scrypt hash of a password for a route file or users file; reads the password from stdin, or asks for it twice on a terminal')
  .option('--cost <ln>', 'log2 of the scrypt cost N (10-20); default 14', parseCost)
  .action((opts: { cost?: number }) => run.passwd(opts));

program
  .command('schema')
  .description('print the JSON Schema of route files (for editors: config/schema.json)')
  .action(() => run.schema());

/** the version of @ferry/gateway, the package this command ships in (dist/cli.js → ../package.json) */
function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

function parseMs(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected milliseconds, a whole number');
  return n;
}

function parseCost(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 10 || n > 20) throw new InvalidArgumentError('expected a whole number from 10 to 20');
  return n;
}

function collectHeader(v: string, prev: [string, string][]): [string, string][] {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError('expected name=value');
  return [...prev, [v.slice(0, i), v.slice(i + 1)]];
}

await program.parseAsync(process.argv);
