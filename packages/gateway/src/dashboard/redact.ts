/**
 * Secrets out of text and log fields before they leave the process through the dashboard. It
 * hides all that core's redaction hides (core/src/redact.ts: URL passwords, secret query
 * parameters, secret-named fields), and more, because a dashboard is read by more people than
 * the route file and shows log lines whole: `password=…`-style pairs anywhere in free text, HTTP
 * credentials, and fields whose name merely contains a secret word (`sessionCookie`,
 * `privateKeyPem`). Core keeps to the narrower rules since every log line goes through them.
 */
import { isSecretName, REDACTED, redactText as redactCoreText } from '@ferry/core';

/** field names whose values are never shown, beyond core's secret names */
const SECRET_KEY = /pass(word|wd|code|phrase)?$|secret|token|authori[sz]ation|cookie|credential|api[-_]?key|private[-_]?key/i;

/** `password=x`, `passcode: x`, `token="x"` in free text */
const SECRET_PAIR = /\b((?:pass(?:word|wd|code|phrase)?|secret|token|api[-_]?key|authori[sz]ation)["']?\s*[=:]\s*)(?!(?:Bearer|Basic)\s)("[^"]*"|'[^']*'|[^\s,;&)}\]]+)/gi;
/** `Bearer x`, `Basic x` (RFC 6750 §2.1, RFC 7617 §2) */
const HTTP_CREDENTIALS = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g;

function isSecretKey(key: string): boolean {
  return isSecretName(key) || SECRET_KEY.test(key);
}

export function redactText(text: string): string {
  return redactCoreText(text).replace(HTTP_CREDENTIALS, `$1 ${REDACTED}`).replace(SECRET_PAIR, `$1${REDACTED}`);
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
