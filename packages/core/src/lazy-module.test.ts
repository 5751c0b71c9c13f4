import { FerryError } from './errors.js';
import { LazyModule } from './lazy-module.js';

test('get() before load() is a FerryError naming the module; after load() it is the module, imported once', async () => {
  let imports = 0;
  const m = new LazyModule('the test connector', () => {
    imports++;
    return Promise.resolve({ value: 42 });
  });
  expect(() => m.get()).toThrow(FerryError);
  expect(() => m.get()).toThrow(/the test connector is not loaded/);
  await Promise.all([m.load(), m.load()]);
  await m.load();
  expect(m.get().value).toBe(42);
  expect(imports).toBe(1);
});

test('a failed import is an INTERNAL FerryError with its cause, and the next load() tries again', async () => {
  let fail = true;
  const m = new LazyModule('the flaky connector', () => (fail ? Promise.reject(new Error('no such module')) : Promise.resolve({ ok: true })));
  const err = await m.load().catch((e: unknown) => e);
  expect(FerryError.is(err, 'INTERNAL')).toBe(true);
  expect((err as FerryError).cause).toEqual(new Error('no such module'));
  fail = false;
  await m.load();
  expect(m.get().ok).toBe(true);
});

test('provide() hands over a module imported by the caller: get() works without load()', async () => {
  let imports = 0;
  const m = new LazyModule('the provided connector', () => {
    imports++;
    return Promise.resolve({ value: 1 });
  });
  m.provide({ value: 2 });
  expect(m.get().value).toBe(2);
  await m.load();
  expect(imports).toBe(0);
});

test('imports run one at a time, in the order asked, a failed one not stopping the next', async () => {
  const started: string[] = [];
  const finish: Record<string, () => void> = {};
  const module = (name: string, fails = false): LazyModule<{ name: string }> =>
    new LazyModule(`the ${name} connector`, () => {
      started.push(name);
      return new Promise((resolve, reject) => {
        finish[name] = () => (fails ? reject(new Error(`${name} failed`)) : resolve({ name }));
      });
    });
  const [a, b, c] = [module('a', true), module('b'), module('c')];
  const loads = [a.load().catch((e: unknown) => e), b.load(), c.load()];
  await Promise.resolve();
  expect(started).toEqual(['a']);
  finish.a?.();
  expect(await loads[0]).toBeInstanceOf(FerryError);
  expect(started).toEqual(['a', 'b']);
  finish.b?.();
  await loads[1];
  expect(started).toEqual(['a', 'b', 'c']);
  finish.c?.();
  await loads[2];
  expect(c.get().name).toBe('c');
});
