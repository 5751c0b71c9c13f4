import { z } from 'zod';

/**
 * The `reconnect` option of every client connector: the bounds of its {@link Backoff} between
 * attempts after the connection is lost or refused.
 */
export const reconnectOption = z
  .strictObject({
    initialMs: z.number().int().min(1).default(500).describe('first reconnect delay bound, ms: the first jittered delay is at most this, and the bound doubles on each failed attempt'),
    maxMs: z.number().int().min(1).default(30_000).describe('largest reconnect delay, ms'),
  })
  .default({ initialMs: 500, maxMs: 30_000 })
  .describe('reconnect backoff after the connection is lost or refused: exponential with full jitter between 0 and the bound');
