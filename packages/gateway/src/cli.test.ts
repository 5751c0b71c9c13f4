/**
 * The `ferry` command as users run it: the built CLI in a child process, its output and exit
 * codes. (npm test builds first; run `npx tsc -b` before running this file alone.)
 */
import { execFile } from 'node:child_process';
import { jest } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// each case runs the built CLI in a child process: seconds apiece on a loaded machine
jest.setTimeout(60_000);

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const cli = join(here, '../dist/cli.js');
const broken = join(here, '../test/fixtures/broken');

async function ferry(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * `ferry validate` of a routes.yaml holding `routes`, in a folder of its own beside `files`
 * (name to text); the folder is removed before this returns.
 */
async function validated(routes: string, files: Record<string, string> = {}): Promise<{ out: Awaited<ReturnType<typeof ferry>>; file: string; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-validate-'));
  const file = join(dir, 'routes.yaml');
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    writeFileSync(file, routes);
    return { out: await ferry('validate', file), file, dir };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build first with "npx tsc -b" (npm test does)`);
});

describe('ferry validate', () => {
  const files = readdirSync(broken).filter((f) => f.endsWith('.yaml'));

  it('has broken fixtures to check', () => {
    expect(files.length).toBeGreaterThanOrEqual(6);
  });

  it.each(files)('%s: every error with file:line:column and field path, exit code 1', async (file) => {
    const path = relative(root, join(broken, file));
    const expected = readFileSync(join(broken, file.replace(/\.yaml$/, '.expected')), 'utf8');
    const out = await ferry('validate', path);
    expect(out.stdout).toBe(expected);
    expect(out.code).toBe(1);
  });

  it('reports all errors of several files at once and fails if any file fails', async () => {
    const out = await ferry('validate', 'config/gateway.yaml', relative(root, join(broken, 'placeholders.yaml')));
    expect(out.stdout).toContain('config/gateway.yaml: ok (3 connectors, 1 route)');
    expect(out.stdout).toContain('placeholders.yaml:7:63 routes[0].to.routingKey: placeholder {3} but the source pattern "a/+/b" has 1 wildcard');
    expect(out.code).toBe(1);
  });

  it('accepts the shipped route files', async () => {
    const out = await ferry('validate', 'config/gateway.yaml', 'config/examples/compose.yaml');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('config/gateway.yaml: ok (3 connectors, 1 route)\nconfig/examples/compose.yaml: ok (5 connectors, 4 routes)\n');
  });

  it("the README's route file is config/gateway.yaml as shipped (an excerpt of it, word for word)", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    expect(block!.split('\n').length).toBeGreaterThan(10);
    expect(readFileSync(join(root, 'config/gateway.yaml'), 'utf8')).toContain(block);
  });

  it("accepts the README's route file (the newcomer's first example must stay valid)", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /```yaml\n([\s\S]*?)```/.exec(readme);
    expect(block).not.toBeNull();
    const file = join(tmpdir(), `ferry-readme-${process.pid}.yaml`);
    writeFileSync(file, block![1]!);
    try {
      const out = await ferry('validate', file);
      expect(out.stdout).toBe(`${file}: ok (3 connectors, 1 route)\n`);
      expect(out.code).toBe(0);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('warns about a listener that accepts nobody and about plain-text passwords, naming users but never the secret; exit 0', async () => {
    const { out, file } = await validated(
      [
        'connectors:',
        '  closed: { type: mqtt-listener, port: 11883 }',
        '  open: { type: amqp10-listener, port: 15672, anonymous: true }',
        '  web: { type: stomp-listener, port: 11613, users: [{ login: dash, passcode: "hunter2-plain" }] }',
        'routes: []',
        '',
      ].join('\n'),
    );
    expect(out.stdout).toBe(
      [
        `${file}: warning: connectors.closed: accepts nobody: it has no users, and clients without credentials are refused unless it says "anonymous: true" (add users, a usersFile or useIdentityAsUsername, or say anonymous: true)`,
        `${file}: warning: connectors.web: users dash have plain-text passwords in the route file; store scrypt hashes made by "ferry passwd" instead`,
        `${file}: ok (3 connectors, 0 routes; 2 warnings)`,
        '',
      ].join('\n'),
    );
    expect(out.stdout + out.stderr).not.toContain('hunter2-plain');
    expect(out.code).toBe(0);
  });

  it('a users file with a plain-text password is an error (the listener would not start), the password not shown; exit 1', async () => {
    const { out, file, dir } = await validated('connectors:\n  devices: { type: mqtt-listener, port: 11883, usersFile: users.passwd }\nroutes: []\n', {
      'users.passwd': '# devices\ndev1:hunter3-plain\n',
    });
    expect(out.stdout).toBe(
      [`${file}: connectors.devices: usersFile ${join(dir, 'users.passwd')} line 2: a plain-text password: users files hold hashes only (make one with "ferry passwd")`, `${file}: 1 error`, ''].join('\n'),
    );
    expect(out.stdout + out.stderr).not.toContain('hunter3-plain');
    expect(out.code).toBe(1);
  });

  it('says so when a file cannot be read', async () => {
    const out = await ferry('validate', 'no/such/file.yaml');
    expect(out.code).toBe(1);
    expect(out.stdout).toBe('no/such/file.yaml: cannot read the route file: no such file (ENOENT)\nno/such/file.yaml: 1 error\n');
  });
});

describe('ferry explain', () => {
  it('shows each matching route and every destination without a broker', async () => {
    const out = await ferry('explain', '-c', 'config/gateway.yaml', '--from', 'devices', '--address', 'sensors/kitchen/temperature', '--header', 'unit=celsius');
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(
      [
        'message on devices: sensors/kitchen/temperature',
        '  headers: unit=celsius',
        '',
        'route temperatures  pattern "sensors/+/temperature"  {1}=kitchen',
        '  -> devices  topic=ferry/kitchen/temperature qos=1',
        '       headers: unit=celsius x-room=kitchen x-ferry-hops=1',
        '  -> web  destination=/topic/temperature.kitchen',
        '       headers: unit=celsius x-room=kitchen x-ferry-hops=1',
        '  -> apps  address=temperature.kitchen',
        '       headers: unit=celsius x-room=kitchen x-ferry-hops=1',
        '',
      ].join('\n'),
    );
  });

  it('shows the escaped form of an address: a topic level holding "." is one word of a STOMP or AMQP 1.0 address', async () => {
    const out = await ferry('explain', '-c', 'config/gateway.yaml', '--from', 'devices', '--address', 'sensors/v1.2/temperature');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('  -> devices  topic=ferry/v1.2/temperature qos=1\n');
    expect(out.stdout).toContain('  -> web  destination=/topic/temperature.v1/2\n');
    expect(out.stdout).toContain('  -> apps  address=temperature.v1/2\n');
  });

  it('says when no route matches', async () => {
    const out = await ferry('explain', '-c', 'config/gateway.yaml', '--from', 'devices', '--address', 'other/topic');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('no route matches');
  });

  it('shows a destination whose template cannot be filled', async () => {
    const out = await ferry('explain', '-c', 'config/examples/compose.yaml', '--from', 'rabbit', '--address', 'whatever');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('route commands');
    expect(out.stdout).toMatch(/-> devices {2}FAILS \(TEMPLATE_MISSING_VALUE\): .*device/);
  });

  it('refuses an unknown connector', async () => {
    const out = await ferry('explain', '-c', 'config/gateway.yaml', '--from', 'nope', '--address', 'a');
    expect(out.code).toBe(2);
    expect(out.stderr).toContain('no connector named "nope"');
  });
});

describe('ferry schema', () => {
  it('prints the JSON Schema that config/schema.json holds (regenerate with npm run schema)', async () => {
    const out = await ferry('schema');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(JSON.parse(readFileSync(join(root, 'config/schema.json'), 'utf8')));
  });
});

describe('ferry test', () => {
  const fixtures = join(here, '../test/fixtures/route-tests');

  it('the shipped route tests pass against the shipped route files, exit code 0', async () => {
    const out = await ferry('test', 'config/gateway.test.yaml', 'config/examples/compose.test.yaml');
    expect(out.stdout).toContain('config/gateway.test.yaml: 3 cases, 3 passed (route file config/gateway.yaml)');
    expect(out.stdout).toContain('config/examples/compose.test.yaml: 6 cases, 6 passed (route file config/examples/compose.yaml)');
    expect(out.stdout).not.toContain('FAIL');
    expect(out.code).toBe(0);
  });

  it.each(['failing', 'invalid'])('%s.test.yaml: what each case or error says, exactly', async (name) => {
    const out = await ferry('test', relative(root, join(fixtures, `${name}.test.yaml`)));
    expect(out.stdout).toBe(readFileSync(join(fixtures, `${name}.expected`), 'utf8'));
    // a failing case is exit 1; a file that cannot be used is exit 2
    expect(out.code).toBe(name === 'failing' ? 1 : 2);
  });

  it('-c tests another route file; its errors come with their positions and no case runs', async () => {
    const routes = relative(root, join(broken, 'placeholders.yaml'));
    const out = await ferry('test', '-c', routes, 'config/gateway.test.yaml');
    expect(out.stdout).toBe(
      `${routes}:7:63 routes[0].to.routingKey: placeholder {3} but the source pattern "a/+/b" has 1 wildcard\n` + 'config/gateway.test.yaml: 1 error; no case ran\n',
    );
    expect(out.code).toBe(2);
  });
});

describe('every route-file error in one run, in each command that reads a route file', () => {
  // errors in three routes: references (unknown connectors), a pattern, templates, a wrong field
  const file = relative(root, join(broken, 'every-error-at-once.yaml'));
  const expected = readFileSync(join(broken, 'every-error-at-once.expected'), 'utf8').trimEnd().split('\n').slice(0, -1);

  it('has references, a pattern and templates wrong in three routes', () => {
    expect(expected).toHaveLength(9);
    const routes = new Set(expected.map((l) => /routes\[(\d)\]/.exec(l)?.[1]));
    expect(routes).toEqual(new Set(['0', '1', '2']));
    expect(expected.filter((l) => l.includes('unknown connector'))).toHaveLength(3);
    expect(expected.filter((l) => l.includes('invalid MQTT topic filter'))).toHaveLength(1);
    expect(expected.filter((l) => l.includes('template'))).toHaveLength(3);
  });

  it('ferry start logs all of them and starts nothing (exit 2)', async () => {
    const out = await ferry('start', '-c', file, '--log-format', 'json');
    expect(out.code).toBe(2);
    const messages = out.stderr
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { message: string }).message);
    expect(messages).toEqual([...expected, `${file}: 9 errors; not started`]);
  });

  it('ferry test -c reports all of them and runs no case (exit 2)', async () => {
    const out = await ferry('test', '-c', file, 'config/gateway.test.yaml');
    expect(out.stdout).toBe([...expected, 'config/gateway.test.yaml: 9 errors; no case ran', ''].join('\n'));
    expect(out.code).toBe(2);
  });
});

describe('ferry start', () => {
  it('with a broken route file: every error on standard error with its position, exit code 2, nothing started', async () => {
    const path = relative(root, join(broken, 'placeholders.yaml'));
    const out = await ferry('start', '-c', path, '--log-format', 'json');
    expect(out.code).toBe(2);
    const lines = out.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { level: string; message: string });
    expect(lines.map((l) => `${l.level} ${l.message}`)).toEqual([
      `error ${path}:7:63 routes[0].to.routingKey: placeholder {3} but the source pattern "a/+/b" has 1 wildcard`,
      `error ${path}: 1 error; not started`,
    ]);
  });
});

describe('the hardened example (docs/security.md)', () => {
  it('config/examples/hardened.yaml validates, and refuses to without the admin token it takes from the environment', async () => {
    const withToken = await run(process.execPath, [cli, 'validate', 'config/examples/hardened.yaml'], { cwd: root, env: { ...process.env, FERRY_ADMIN_TOKEN: 'a-token-of-enough-length-1234' } });
    expect(withToken.stdout).toBe('config/examples/hardened.yaml: ok (3 connectors, 1 route)\n');
    const without = await ferry('validate', 'config/examples/hardened.yaml');
    expect(without.code).toBe(1);
    expect(without.stdout).toContain('gateway.http.token: environment variable FERRY_ADMIN_TOKEN is not set');
  }, 30_000);
});

describe('ferry passwd', () => {
  async function withStdin(input: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = execFile(process.execPath, [cli, 'passwd', ...args], { cwd: root }, (err, stdout, stderr) => {
        resolve({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
      });
      child.stdin?.end(input);
    });
  }

  it('prints an scrypt hash of the password read from stdin, never the password itself, and the hash verifies', async () => {
    const out = await withStdin('correct horse\n', '--cost', '10');
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+\n$/);
    expect(out.stdout + out.stderr).not.toContain('correct horse');
    const { verifyPassword } = await import('@ferry/core');
    expect(await verifyPassword(out.stdout.trim(), Buffer.from('correct horse'))).toBe(true);
    expect(await verifyPassword(out.stdout.trim(), Buffer.from('correct horse\n'))).toBe(false);
  }, 30_000);

  it('refuses an empty password and a cost out of range', async () => {
    expect((await withStdin('')).code).toBe(2);
    const bad = await withStdin('x\n', '--cost', '30');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('10 to 20');
  }, 30_000);
});

describe('the ferry executable', () => {
  it('npm links packages/gateway/bin/ferry.js as node_modules/.bin/ferry, and it runs the built CLI', async () => {
    const { stdout } = await run(join(root, 'node_modules/.bin/ferry'), ['validate', 'config/gateway.yaml'], { cwd: root });
    expect(stdout).toBe('config/gateway.yaml: ok (3 connectors, 1 route)\n');
  });
});

describe('ferry --version', () => {
  it.each(['--version', '-V'])('%s prints the version of the package it ships in, exit 0', async (flag) => {
    const pkg = JSON.parse(readFileSync(join(here, '../package.json'), 'utf8')) as { version: string };
    const out = await ferry(flag);
    expect(out).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });
});

describe('ferry --help', () => {
  it.each(['start', 'validate', 'explain', 'test', 'schema', 'passwd'])('%s has help', async (cmd) => {
    const out = await ferry(cmd, '--help');
    expect(out.code).toBe(0);
    expect(out.stdout).toContain(`Usage: ferry ${cmd}`);
  });
});
