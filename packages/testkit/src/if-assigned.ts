/**
 * A variable a `beforeAll` assigns, as `afterAll` must read it: jest runs `afterAll` even when
 * `beforeAll` failed before the assignment, so there it may be undefined whatever its declared
 * type says. `await ifAssigned(gateway)?.stop()` stops what was started and skips what was not.
 */
export function ifAssigned<T>(value: T): T | undefined {
  return value;
}
