import type { LogFields, Logger } from '@ferry/core';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly message: string;
  readonly fields: LogFields;
}

/**
 * A logger that keeps every line, with the fields of its `child` parents merged in, so a test can
 * assert what an operator would read. FERRY_TEST_LOG=1 also prints the info, warn and error lines.
 */
export function captureLogger(lines: LogLine[] = [], base: LogFields = {}): Logger & { readonly lines: LogLine[] } {
  const at =
    (level: LogLine['level']) =>
    (message: string, fields: LogFields = {}): void => {
      const merged = { ...base, ...fields };
      lines.push({ level, message, fields: merged });
      if (process.env['FERRY_TEST_LOG'] === '1' && level !== 'debug') console.log(level, message, JSON.stringify(merged));
    };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => captureLogger(lines, { ...base, ...fields }),
  };
}

/** One line as an operator reads it: level, message, fields. */
export function renderLine(l: LogLine): string {
  return `${l.level} ${l.message} ${JSON.stringify(l.fields)}`;
}
