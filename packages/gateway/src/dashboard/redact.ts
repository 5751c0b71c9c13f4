/**
 * Secrets out of text and log fields before they leave the process through the dashboard:
 * passwords in URLs (`amqp://user:secret@host`), `password=…`-style pairs, HTTP credentials, and
 * the values of fields whose name says they hold a secret. Redaction errs on the side of hiding:
 * a dashboard is read by more people than the route file.
 */

export const REDACTED = '***';

/** field names whose values are never shown */
const SECRET_KEY = /pass(word|wd|code|phrase)?$|secret|token|authori[sz]ation|cookie|credential|api[-_]?key|private[-_]?key/i;

/** `scheme://user:password@` — the password part of a URL's userinfo (RFC 3986 §3.2.1) */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
/** `password=x`, `passcode: x`, `token="x"` in free text */
const SECRET_PAIR = /\b((?:pass(?:word|wd|code|phrase)?|secret|token|api[-_]?key|authori[sz]ation)["']?\s*[=:]\s*)(?!(?:Bearer|Basic)\s)("[^"]*"|'[^']*'|[^\s,;&)}\]]+)/gi;
/** `Bearer x`, `Basic x` (RFC 6750 §2.1, RFC 7617 §2) */
const HTTP_CREDENTIALS = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

export function redactText(text: string): string {
  return text.replace(URL_PASSWORD, `$1${REDACTED}@`).replace(HTTP_CREDENTIALS, `$1 ${REDACTED}`).replace(SECRET_PAIR, `$1${REDACTED}`);
}

/**
 * A copy of `value` fit to show: strings redacted, secret-named fields replaced, nesting and
 * array lengths bounded (a log field may be anything, including a cycle).
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function' ? String(value) : value;
  }
  if (depth >= 4) return '…';
  if (value instanceof Error) return redactText(value.message);
  if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
  if (Array.isArray(value)) {
    const items: unknown[] = value.slice(0, 20).map((v: unknown) => redactValue(v, depth + 1));
    if (value.length > 20) items.push(`… ${value.length - 20} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(value)) {
    if (n++ >= 30) {
      out['…'] = 'more fields';
      break;
    }
    out[k] = isSecretKey(k) ? REDACTED : redactValue(v, depth + 1);
  }
  return out;
}
