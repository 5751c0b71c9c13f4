import type { Metrics } from '../metrics.js';
import type { Outcome } from '../settlement.js';

/**
 * Count a settlement at its source: `messages_accepted_total`, or `messages_rejected_total` /
 * `messages_released_total` labelled with the error code that decided it, so every connector
 * reports the same series the same way.
 */
export function countOutcome(metrics: Metrics, connector: string, outcome: Outcome): void {
  if (outcome.kind === 'accept') metrics.inc('messages_accepted_total', { connector });
  else metrics.inc(outcome.kind === 'reject' ? 'messages_rejected_total' : 'messages_released_total', { connector, reason: outcome.reason.code });
}
