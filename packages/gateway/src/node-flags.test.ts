import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from './node-flags.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const read = (file: string): string => readFileSync(join(root, file), 'utf8');

describe('the V8 flags are set wherever Ferry is launched', () => {
  it('the ferry bin passes them on its shebang line', () => {
    const shebang = read('packages/gateway/bin/ferry.js').split('\n')[0] ?? '';
    // `env -S` splits the line, so the flags reach node itself (not the script's argv); without
    // flags the plain form
    expect(shebang).toBe(NODE_FLAGS.length === 0 ? '#!/usr/bin/env node' : `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  });

  it('npm start passes them', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start ?? '';
    expect(start).toContain(`node ${[...NODE_FLAGS, 'packages/gateway/dist/cli.js'].join(' ')} `);
  });

  it("the image's ENTRYPOINT (and so deploy/kubernetes, which only sets args) passes them", () => {
    const entry = read('Dockerfile')
      .split('\n')
      .find((l) => l.startsWith('ENTRYPOINT'));
    expect(entry).toBe(`ENTRYPOINT ${JSON.stringify(['node', ...NODE_FLAGS, 'packages/gateway/dist/cli.js'])}`.replace(/","/g, '", "'));
    expect(read('deploy/kubernetes/statefulset.yaml')).not.toMatch(/^\s+command:/m);
  });
});
