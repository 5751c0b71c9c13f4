/**
 * What `f` threw, or undefined when it returned: for matching a thrown error's fields with
 * `toMatchObject`, which types what it compares (jest's `toThrow(expect.objectContaining(…))`
 * hands an untyped matcher on).
 */
export function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}
