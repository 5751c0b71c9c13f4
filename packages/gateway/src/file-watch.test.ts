/**
 * FileWatch on a route file mounted the way Kubernetes mounts a ConfigMap: the file is a
 * symlink through `..data`, itself a symlink to a timestamped folder that an update replaces by
 * renaming a new `..data` over the old one.
 */
import { mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { captureLogger, delay, waitFor } from '@ferry/testkit';
import { FileWatch } from './file-watch.js';

let dir: string;
let watch: FileWatch | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-watch-'));
});

afterEach(async () => {
  watch?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function configMapVersion(name: string, text: string): Promise<void> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, 'gateway.yaml'), text);
  // the atomic swap: a new link renamed over ..data
  await symlink(name, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

it('sees a ConfigMap symlink swap, once per content change, and ignores a swap to the same content', async () => {
  await configMapVersion('..v1', 'a: 1\n');
  await symlink('..data/gateway.yaml', join(dir, 'gateway.yaml'));
  let changes = 0;
  watch = new FileWatch(join(dir, 'gateway.yaml'), () => changes++, captureLogger(), 50);
  await watch.start();

  await configMapVersion('..v2', 'a: 2\n');
  await waitFor(() => changes === 1, 'the swap to new content to be seen', 5_000);

  // the same content again under a new folder, and a touch: no change to report
  await configMapVersion('..v3', 'a: 2\n');
  await utimes(join(dir, '..v3', 'gateway.yaml'), new Date(), new Date());
  // a bounded wait, as nothing happens to wait for: past the 50 ms debounce, the watcher has
  // looked at the same content (before, the next swap would fold into the same look and the
  // test could not fail)
  await delay(200);
  expect(changes).toBe(1);
  await configMapVersion('..v4', 'a: 3\n');
  await waitFor(() => changes === 2, 'the next real change to be seen', 5_000);
});

it('sees a file written in place and one renamed over it', async () => {
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, 'a: 1\n');
  let changes = 0;
  watch = new FileWatch(file, () => changes++, captureLogger(), 50);
  await watch.start();
  await writeFile(file, 'a: 2\n');
  await waitFor(() => changes === 1, 'the write in place', 5_000);
  await writeFile(join(dir, 'gateway.yaml.tmp'), 'a: 3\n');
  await rename(join(dir, 'gateway.yaml.tmp'), file);
  await waitFor(() => changes === 2, 'the rename over the file', 5_000);
});
