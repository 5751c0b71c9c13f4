import { z } from 'zod';
import { DEFAULT_MAX_IN_FLIGHT } from '@ferry/core';

/**
 * The per-route policy fields of a route file: `maxInFlight` (backpressure) and `onFailure`
 * (retries, dead letter). `onFailure.deadLetter` is a destination like any `to` and is checked
 * against its connector type's `to` schema by the loader, so it is not described here.
 */
export const maxInFlightSchema = z
  .int()
  .min(1)
  .max(1_000_000)
  .describe(
    `messages of this route taken from its source but not yet settled; when reached, the source stops taking (default ${DEFAULT_MAX_IN_FLIGHT})`,
  );

export const retrySchema = z
  .strictObject({
    maxAttempts: z.int().min(1).max(1000).describe('attempts in all, the first write included (1: no retry)'),
    initialMs: z.int().min(0).max(3_600_000).default(200).describe('the cap of the first delay; each retry doubles it (full jitter); default 200'),
    maxMs: z.int().min(0).max(3_600_000).default(30_000).describe('the largest delay between two attempts; default 30000'),
  })
  .refine((r) => r.maxMs >= r.initialMs, { error: 'maxMs must be at least initialMs', path: ['maxMs'] })
  .describe(
    'retries of a destination that failed for now (a broker down, a timeout): exponential backoff with full jitter. Only the failed destinations are written again; permanent failures are not retried',
  );

export const ON_FAILURE_KEYS = ['retry', 'deadLetter'] as const;
