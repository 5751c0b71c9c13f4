/**
 * A gateway loads the protocol libraries of the connector types its configuration uses, and
 * nothing else: the built CLI in a child process, with a loader hook that records every module
 * it loads. (npm test builds first; run `npx tsc -b` before running this file alone.)
 */
import { spawn } from 'node:child_process';
import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// each case starts the built CLI in a child process: seconds apiece on a loaded machine
jest.setTimeout(60_000);

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, '../dist/cli.js');
const register = pathToFileURL(join(here, '../test/fixtures/module-trace/register.mjs')).href;

/** the driver libraries of each connector type (mqtt-packet is the listener's own parser) */
const DRIVERS = ['amqplib', 'rhea', 'mqtt', '@stomp/stompjs', 'ws', 'classic-level', 'mqtt-packet'] as const;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-lazy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** the packages under node_modules the process loaded, by name */
function loadedPackages(trace: string): Set<string> {
  const out = new Set<string>();
  for (const url of readFileSync(trace, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m?.[1] !== undefined) out.add(m[1]);
  }
  return out;
}

/**
 * Run the CLI with `args` under the trace; `until` (a line on its output) ends it with SIGTERM,
 * else it runs to its end. Resolves with the libraries of DRIVERS it loaded.
 */
function drivers(args: string[], until?: string): Promise<string[]> {
  const trace = join(dir, 'modules.txt');
  writeFileSync(trace, '');
  const child = spawn(process.execPath, ['--import', register, cli, ...args], { env: { ...process.env, FERRY_MODULE_TRACE: trace }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const onData = (b: Buffer): void => {
    out += b.toString();
    if (until !== undefined && out.includes(until)) child.kill('SIGTERM');
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (until !== undefined && !out.includes(until)) reject(new Error(`the CLI ended (${code ?? signal}) before "${until}":\n${out}`));
      else {
        const loaded = loadedPackages(trace);
        resolve(DRIVERS.filter((d) => loaded.has(d)));
      }
    });
  });
}

function routeFile(connectors: string): string {
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `gateway: { id: lazy }\nconnectors:\n${connectors}routes: []\n`);
  return file;
}

test('a gateway with only an mqtt-listener loads mqtt-packet, and no other protocol library', async () => {
  const file = routeFile('  devices: { type: mqtt-listener, anonymous: true, port: 0, host: 127.0.0.1 }\n');
  expect(await drivers(['start', '-c', file, '--log-level', 'info'], 'mqtt-listener listening on')).toEqual(['mqtt-packet']);
});

test('a WebSocket port loads ws; an amqp091 connector amqplib', async () => {
  const file = routeFile(
    '  devices: { type: mqtt-listener, anonymous: true, port: 0, host: 127.0.0.1, websocket: { port: 0 } }\n' +
      '  rabbit: { type: amqp091, url: "amqp://127.0.0.1:1", reconnect: { initialMs: 60000, maxMs: 60000 } }\n',
  );
  expect(await drivers(['start', '-c', file, '--log-level', 'info'], 'mqtt-listener listening on')).toEqual(['amqplib', 'ws', 'mqtt-packet']);
});

test('ferry validate checks every connector type without loading one driver', async () => {
  const file = routeFile(
    [
      '  devices: { type: mqtt-listener, anonymous: true, port: 1883 }',
      '  plant: { type: mqtt, url: "mqtt://127.0.0.1:1" }',
      '  rabbit: { type: amqp091, url: "amqp://127.0.0.1:1" }',
      '  apps: { type: amqp10-listener, anonymous: true, port: 5672 }',
      '  peer: { type: amqp10, url: "amqp://127.0.0.1:1" }',
      '  web: { type: stomp-listener, anonymous: true, port: 61613 }',
      '  mq: { type: stomp, url: "stomp://127.0.0.1:1" }',
      '',
    ].join('\n'),
  );
  expect(await drivers(['validate', file])).toEqual([]);
});
