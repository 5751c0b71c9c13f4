import type { LogFields, Logger } from '@ferry/core';
import { redactText, redactValue } from './redact.js';

/** One warn or error line as the dashboard shows it: redacted and bounded in size. */
export interface RecentLogEntry {
  /** increases by one per line recorded, so a reader can tell which lines are new */
  readonly seq: number;
  readonly time: string;
  readonly level: 'warn' | 'error';
  readonly message: string;
  /** the line's fields as JSON text, redacted, at most `maxDetailChars` */
  readonly detail: string;
}

export interface RecentLogOptions {
  /** lines kept (the oldest go first) */
  readonly capacity?: number;
  readonly maxMessageChars?: number;
  readonly maxDetailChars?: number;
}

/**
 * The last warn/error log lines, for the dashboard's "recent errors". Bounded in lines and in
 * characters per line, so its memory is bounded in bytes whatever a connector logs.
 */
export class RecentLog {
  readonly #capacity: number;
  readonly #maxMessage: number;
  readonly #maxDetail: number;
  readonly #ring: RecentLogEntry[] = [];
  #next = 0;
  #seq = 0;

  constructor(opts: RecentLogOptions = {}) {
    this.#capacity = Math.max(1, opts.capacity ?? 50);
    this.#maxMessage = Math.max(16, opts.maxMessageChars ?? 500);
    this.#maxDetail = Math.max(16, opts.maxDetailChars ?? 1500);
  }

  /** lines recorded since the start (not only those kept) */
  get recorded(): number {
    return this.#seq;
  }

  record(level: 'warn' | 'error', message: string, fields: LogFields | undefined): void {
    let detail = '';
    if (fields !== undefined && Object.keys(fields).length > 0) {
      try {
        detail = JSON.stringify(redactValue(fields));
      } catch {
        detail = '(fields could not be shown)';
      }
    }
    const entry: RecentLogEntry = {
      seq: ++this.#seq,
      time: new Date().toISOString(),
      level,
      message: clip(redactText(message), this.#maxMessage),
      detail: clip(detail, this.#maxDetail),
    };
    if (this.#ring.length < this.#capacity) this.#ring.push(entry);
    else this.#ring[this.#next] = entry;
    this.#next = (this.#next + 1) % this.#capacity;
  }

  /** newest first */
  entries(): readonly RecentLogEntry[] {
    return [...this.#ring].sort((a, b) => b.seq - a.seq);
  }
}

function clip(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}

/**
 * A logger that writes through to `inner` and also records its warn and error lines (with the
 * fields of every `child` it was made from) in `log`.
 */
export function recordingLogger(inner: Logger, log: RecentLog, bound: LogFields = {}): Logger {
  const withBound = (f: LogFields | undefined): LogFields => (f === undefined ? bound : { ...bound, ...f });
  return {
    debug: (m, f) => inner.debug(m, f),
    info: (m, f) => inner.info(m, f),
    warn: (m, f) => {
      inner.warn(m, f);
      log.record('warn', m, withBound(f));
    },
    error: (m, f) => {
      inner.error(m, f);
      log.record('error', m, withBound(f));
    },
    child: (f) => recordingLogger(inner.child(f), log, withBound(f)),
  };
}
