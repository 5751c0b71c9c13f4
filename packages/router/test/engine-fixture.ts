import type { RouteSpec } from '@ferry/core';
import type { TransientRetry } from '../src/delivery.js';
import { RouteTable } from '../src/table.js';
import { engineHarness, type Harness, type HarnessOptions } from './engine-harness.js';
import { fakeConnectors } from './fakes.js';
import { ep, route } from './specs.js';

/** The engine tests' route table and their engine over it (engine.test.ts, engine-failures.test.ts). */

/** plant (mqtt) → rabbit and web; a queue route from rabbit to devices with a header template */
export const routes: RouteSpec[] = [
  route('fan', ep('plant', { topic: 'f/+' }), [ep('rabbit', { exchange: 'x', routingKey: 'f.{1}' }), ep('web', { destination: '/topic/f.{1}' })]),
  route('cmd', ep('rabbit', { queue: 'q' }), [ep('devices', { topic: '{header.device}/cmd' })]),
  route('one', ep('artemis', { address: 'one.*' }), [ep('rabbit', { exchange: 'x', routingKey: 'one.{1}' })]),
];
export const table = RouteTable.compile(routes, fakeConnectors());

/**
 * The engine's default transient retry (200 ms .. 5 s for up to 30 s) with test-sized numbers:
 * same shape, so a transient failure is retried and then given back, in milliseconds.
 */
export const FAST_TRANSIENT: TransientRetry = { initialMs: 1, maxMs: 2, minMs: 1, maxElapsedMs: 40 };

/** an engine over `table` (or the given one) with the test-sized transient retry */
export function harness(opts: { table?: RouteTable } & HarnessOptions = {}): Harness {
  const { table: own, ...rest } = opts;
  return engineHarness(own ?? table, { transientRetry: FAST_TRANSIENT, ...rest });
}

/** let every pending promise callback run */
export async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((r) => setImmediate(r));
}
