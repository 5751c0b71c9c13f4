import { FerryError, formatPath, isSecretName, REDACTED, redactText, type FieldPath } from '@ferry/core';

export type ConfigErrorCode = 'CONFIG_INVALID' | 'CONFIG_IO';

/** What a ConfigError is made from: its fields, the code CONFIG_INVALID unless given, the path as a FieldPath or already formatted. */
export type ConfigErrorInit = Omit<ConfigError, 'code' | 'path' | 'format' | 'toString'> & {
  readonly code?: ConfigErrorCode;
  readonly path: FieldPath | string;
};

/**
 * One problem in a route file, with where it is. `format()` gives the one line a human reads:
 * `config/gateway.yaml:31:17 routes[2].to[0].routingKey: placeholder {3} but ...`
 * (file:line:column, the field's path, then what is wrong), the shape compilers use so editors
 * and terminals can jump to it.
 */
export class ConfigError {
  readonly code: ConfigErrorCode;
  readonly file: string;
  /** 1-based; 0 when the problem has no position (the file could not be read) */
  readonly line: number;
  /** 1-based; 0 when the problem has no position */
  readonly column: number;
  /** the field's path as `formatPath` writes it, e.g. `routes[2].to[0].routingKey`; '' for the whole file */
  readonly path: string;
  /** the whole human sentence, expected and found included */
  readonly message: string;
  /** what the field should hold, e.g. `a number` (also part of `message`) */
  readonly expected?: string | undefined;
  /** what the file holds, e.g. `"abc"` (also part of `message`) */
  readonly found?: string | undefined;

  constructor(init: ConfigErrorInit) {
    this.code = init.code ?? 'CONFIG_INVALID';
    this.file = init.file;
    this.line = init.line;
    this.column = init.column;
    this.path = typeof init.path === 'string' ? init.path : formatPath(init.path);
    // a wrong value of a secret field (a password, a token) is not repeated back: `validate`,
    // `start` and a refused reload print these messages
    const last = typeof init.path === 'string' ? init.path.split(/[.[\]]/).filter((p) => p !== '').pop() : init.path[init.path.length - 1];
    const secret = typeof last === 'string' && isSecretName(last) && init.found !== undefined && init.found !== 'nothing';
    const found = secret ? REDACTED : init.found === undefined ? undefined : redactText(init.found);
    this.message = redactText(secret ? init.message.split(init.found).join(REDACTED) : init.message);
    if (init.expected !== undefined) this.expected = init.expected;
    if (found !== undefined) this.found = found;
  }

  format(): string {
    const where = this.line > 0 ? `${this.file}:${this.line}:${this.column}` : `${this.file}:`;
    return this.path === '' ? `${where} ${this.message}` : `${where} ${this.path}: ${this.message}`;
  }

  toString(): string {
    return this.format();
  }
}

/** Errors in reading order: by line, then column, then path. */
export function sortErrors(errors: readonly ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => a.line - b.line || a.column - b.column || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** One line per error, ready to print. */
function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map((e) => e.format()).join('\n');
}

/**
 * The errors of a failed load as one FerryError (code CONFIG_IO when the file could not be
 * read, else CONFIG_INVALID), for callers that throw; `details.errors` keeps each one.
 */
export function toConfigFerryError(errors: readonly ConfigError[]): FerryError {
  const io = errors.some((e) => e.code === 'CONFIG_IO');
  const head = errors.length === 1 ? '1 error' : `${errors.length} errors`;
  return new FerryError(io ? 'CONFIG_IO' : 'CONFIG_INVALID', `route file has ${head}:\n${formatErrors(errors)}`, {
    permanent: true,
    details: { errors: errors.map((e) => e.format()) },
  });
}
