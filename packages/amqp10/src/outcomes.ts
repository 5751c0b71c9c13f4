/**
 * AMQP 1.0 delivery outcomes (§3.4) ⇄ Ferry's settlement and errors.
 */
import { FerryError, describeError, type FerryErrorCode } from '@ferry/core';

export interface AmqpErrorFields {
  readonly condition: string;
  readonly description?: string;
}

function errorFields(e: unknown): AmqpErrorFields | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const c = (e as { condition?: unknown }).condition;
  const d = (e as { description?: unknown }).description;
  if (typeof c !== 'string') return undefined;
  return typeof d === 'string' ? { condition: c, description: d } : { condition: c };
}

/**
 * The error a sink write fails with for a delivery state the peer sent (§3.4.2–3.4.5):
 * - rejected: the peer will never take it → permanent SINK_REJECTED, with its error
 * - released: not processed, may be sent again → transient
 * - modified: transient, unless undeliverable-here (§3.4.5: "the delivery MUST NOT be
 *   redelivered to the same link endpoint") → permanent, since Ferry would retry the same node
 */
export function outcomeError(kind: string, state: unknown, address: string): FerryError {
  if (kind === 'rejected') {
    const err = errorFields((state as { error?: unknown } | undefined)?.error);
    const text = err === undefined ? 'no error given' : `${err.condition}${err.description === undefined ? '' : `: ${err.description}`}`;
    return new FerryError('SINK_REJECTED', `AMQP 1.0 peer rejected the message for ${address} (${text})`, {
      permanent: true,
      details: { outcome: 'rejected', ...(err ?? {}) },
    });
  }
  if (kind === 'modified') {
    const s = (state ?? {}) as { undeliverable_here?: unknown; delivery_failed?: unknown };
    const undeliverable = s.undeliverable_here === true;
    return new FerryError('SINK_REJECTED', `AMQP 1.0 peer returned the message for ${address} as modified${undeliverable ? ' (undeliverable here)' : ''}`, {
      permanent: undeliverable,
      details: { outcome: 'modified', undeliverableHere: undeliverable, deliveryFailed: s.delivery_failed === true },
    });
  }
  return new FerryError('SINK_REJECTED', `AMQP 1.0 peer released the message for ${address}`, { permanent: false, details: { outcome: kind } });
}

/** A link or connection error the peer sent, as fields. */
export function peerError(e: unknown): AmqpErrorFields | undefined {
  return errorFields(e);
}

const CONDITIONS: Partial<Record<FerryErrorCode, string>> = {
  TEMPLATE_MISSING_VALUE: 'amqp:precondition-failed',
  TEMPLATE_INVALID: 'amqp:precondition-failed',
  SINK_UNROUTABLE: 'amqp:not-found',
  SINK_REJECTED: 'amqp:not-allowed',
  LIMIT_EXCEEDED: 'amqp:resource-limit-exceeded',
  PROTOCOL_ERROR: 'amqp:decode-error',
  AUTH_FAILED: 'amqp:unauthorized-access',
  UNSUPPORTED: 'amqp:not-implemented',
};

/** The error a `rejected` outcome Ferry sends carries (§3.4.3, §2.8.15 error conditions). */
export function rejectError(reason: FerryError): AmqpErrorFields {
  const fromDetails = reason.details.condition;
  const condition = typeof fromDetails === 'string' ? fromDetails : (CONDITIONS[reason.code] ?? 'amqp:internal-error');
  return { condition, description: describeError(reason).slice(0, 1000) };
}
