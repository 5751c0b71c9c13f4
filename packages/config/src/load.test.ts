import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, toConfigFerryError } from './index.js';
import { fakeRegistry } from '../test/fake-connectors.js';

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file and resolves baseDir against its folder', async () => {
    const file = path.join(dir, 'gateway.yaml');
    writeFileSync(file, 'connectors:\n  d: { type: mqtt-listener, port: 0 }\nroutes: []\n');
    const result = await loadConfig(file, fakeRegistry(), { env: {}, defaultId: 'h' });
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.config.file).toBe(file);
      expect(result.config.baseDir).toBe(dir);
      expect(result.config.connectors).toEqual([{ name: 'd', type: 'mqtt-listener', options: { port: 0, host: '0.0.0.0' } }]);
    }
  });

  it('reports a file that cannot be read as one CONFIG_IO error without a position', async () => {
    const file = path.join(dir, 'missing.yaml');
    const result = await loadConfig(file, fakeRegistry(), { env: {} });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(1);
    const [e] = result.errors;
    expect(e?.code).toBe('CONFIG_IO');
    expect(e?.line).toBe(0);
    expect(e?.format()).toBe(`${file}: cannot read the route file: no such file (ENOENT)`);
    expect(toConfigFerryError(result.errors).code).toBe('CONFIG_IO');
  });

  it('reads env from opts, not from process.env, when given', async () => {
    const file = path.join(dir, 'env.yaml');
    writeFileSync(file, 'connectors:\n  d: { type: mqtt-listener, port: "${P:-1}" }\n  e: { type: stomp-listener, port: "${P:-1}0" }\nroutes: []\n');
    const result = await loadConfig(file, fakeRegistry(), { env: { P: '2' } });
    // d: a quoted lone reference is read as YAML (2, a number); e: text around it keeps it a string
    expect(result.ok ? [] : result.errors.map((e) => e.format())).toEqual([
      `${file}:3:36 connectors.e.port: expected a number, found "20" (quoted values are strings: remove the quotes to write a number)`,
    ]);
    const err = toConfigFerryError(result.ok ? [] : result.errors);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.message).toBe(`route file has 1 error:\n${file}:3:36 connectors.e.port: expected a number, found "20" (quoted values are strings: remove the quotes to write a number)`);
  });
});
