import winston from 'winston';
import { redactText, redactValue, type LogFields, type Logger } from '@ferry/core';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';

/**
 * The core Logger backed by winston. `text` is one readable line per event for a terminal;
 * `json` one object per line for log shippers. Logs go to stderr so stdout stays for command
 * output (`ferry explain`, `ferry schema`).
 */
export function createLogger(level: LogLevel = 'info', format: LogFormat = 'text', stream?: NodeJS.WritableStream): Logger {
  const text = winston.format.printf((info) => {
    const { level: lvl, message, timestamp, ...rest } = info as winston.Logform.TransformableInfo & { timestamp?: string };
    const fields = Object.entries(rest)
      .filter(([k]) => typeof k === 'string')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
      .join(' ');
    return `${timestamp ?? ''} ${lvl} ${String(message)}${fields ? ' ' + fields : ''}`;
  });
  const w = winston.createLogger({
    level,
    format: winston.format.combine(redactSecrets(), winston.format.timestamp(), format === 'json' ? winston.format.json() : text),
    // `stream`: somewhere else than stderr (tests read what an operator would)
    // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- winston's types declare each transport as an interface extending TransportStream; the objects are instances of its subclasses
    transports: [stream === undefined ? new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }) : new winston.transports.Stream({ stream })],
  });
  return wrap(w);
}

/**
 * Every line, whoever wrote it: URL passwords out of the message, fields with secret names (and
 * URL passwords in any field) replaced by `***` (core's redact). A connector that logs its URL,
 * an error that quotes one, a child logger's fields: none can print a password.
 */
const redactSecrets = winston.format((info) => {
  const rec = info as unknown as Record<string | symbol, unknown>;
  if (typeof rec['message'] === 'string') rec['message'] = redactText(rec['message']);
  for (const key of Object.keys(rec)) {
    if (key === 'message' || key === 'level') continue;
    rec[key] = redactValue(rec[key], key);
  }
  return info;
});

/**
 * winston runs a line through every format (redaction, timestamp, printf) before its transport
 * drops a level it does not print: a debug line at level `warn` would cost as much as one
 * printed. Lines below the level stop here instead; `warn` and `error` are always on.
 */
function wrap(w: winston.Logger): Logger {
  return {
    debug: (m: string, f?: LogFields) => {
      if (w.isLevelEnabled('debug')) w.debug(m, f);
    },
    info: (m: string, f?: LogFields) => {
      if (w.isLevelEnabled('info')) w.info(m, f);
    },
    warn: (m: string, f?: LogFields) => void w.warn(m, f),
    error: (m: string, f?: LogFields) => void w.error(m, f),
    child: (f: LogFields) => wrap(w.child(f)),
  };
}
