import winston from 'winston';
import type { LogFields, Logger } from '@ferry/core';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'text' | 'json';

/**
 * The core Logger backed by winston. `text` is one readable line per event for a terminal;
 * `json` one object per line for log shippers. Logs go to stderr so stdout stays for command
 * output (`ferry explain`, `ferry schema`).
 */
export function createLogger(level: LogLevel = 'info', format: LogFormat = 'text'): Logger {
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
    format: winston.format.combine(winston.format.timestamp(), format === 'json' ? winston.format.json() : text),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] })],
  });
  return wrap(w);
}

function wrap(w: winston.Logger): Logger {
  return {
    debug: (m: string, f?: LogFields) => void w.debug(m, f),
    info: (m: string, f?: LogFields) => void w.info(m, f),
    warn: (m: string, f?: LogFields) => void w.warn(m, f),
    error: (m: string, f?: LogFields) => void w.error(m, f),
    child: (f: LogFields) => wrap(w.child(f)),
  };
}
