import { inspect, types } from 'node:util';

/**
 * Typed errors: every error Ferry raises carries a stable `code` (for logs, metrics and tests)
 * and, where it wraps another failure, the original as `cause`.
 *
 * `permanent` separates failures that can never succeed on retry (a template with a missing
 * value, a message the far side rejected) from transient ones (a broker that is down).
 * Settlement uses it to choose between reject and release.
 */
export type FerryErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_IO'
  | 'TEMPLATE_MISSING_VALUE'
  | 'TEMPLATE_INVALID'
  | 'PATTERN_INVALID'
  | 'ALREADY_SETTLED'
  | 'NOT_CONNECTED'
  | 'CONNECT_FAILED'
  | 'SINK_REJECTED'
  | 'SINK_UNROUTABLE'
  | 'SINK_TIMEOUT'
  | 'SINK_CLOSED'
  | 'PROTOCOL_ERROR'
  | 'LIMIT_EXCEEDED'
  | 'AUTH_FAILED'
  | 'UNSUPPORTED'
  | 'SHUTTING_DOWN'
  | 'SPOOL_IO'
  | 'STORE_CORRUPT'
  | 'LOOP_DETECTED'
  | 'INTERNAL';

export interface FerryErrorOptions {
  readonly cause?: unknown;
  /** true when retrying the same message can never succeed */
  readonly permanent?: boolean;
  /** extra structured context for logs */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class FerryError extends Error {
  readonly code: FerryErrorCode;
  readonly permanent: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.permanent = options.permanent ?? false;
    this.details = options.details ?? {};
  }

  static is(err: unknown, code?: FerryErrorCode): err is FerryError {
    return err instanceof FerryError && (code === undefined || err.code === code);
  }
}

/** Wrap anything thrown into a FerryError, keeping it as the cause. */
export function toFerryError(err: unknown, code: FerryErrorCode = 'INTERNAL'): FerryError {
  if (err instanceof FerryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FerryError(code, message, { cause: err });
}

/** The message of an error and of its causes, joined; for one clear log line. */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    // isNativeError as well: an Error made in another realm (Node's own modules seen from a vm
    // context, as under jest) is no instance of this realm's Error, and inspect would print its stack
    if (cur instanceof Error || types.isNativeError(cur)) {
      const code = (cur as { code?: unknown }).code;
      parts.push(typeof code === 'string' || typeof code === 'number' ? `${cur.message} [${code}]` : cur.message);
      cur = (cur as { cause?: unknown }).cause;
    } else {
      // String() would print a thrown plain object as [object Object]: show its fields
      parts.push(typeof cur === 'string' ? cur : inspect(cur, { breakLength: Infinity, depth: 2 }));
      break;
    }
  }
  return parts.join(': caused by: ');
}
