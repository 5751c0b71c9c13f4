/**
 * Secrets never leave Ferry in a log line, an error or command output. One place knows what a
 * secret looks like: an option or field whose name says so (`password`, `passcode`, `token`,
 * `secret` …), and the password part of a URL (`amqp://user:PASSWORD@host`, `?password=`).
 * The logger and the route-file error paths run everything they print through here, so no call
 * site has to remember. These rules stay narrow because every log line pays for them; the
 * dashboard, read by more people, adds its own on top (gateway/src/dashboard/redact.ts).
 */
export const REDACTED = '***';

/** Field and option names whose values are secrets, whatever connector they belong to. */
const SECRET_NAME = /^(password|passcode|passphrase|passwd|pass|secret|clientsecret|token|accesstoken|authtoken|apikey|authorization|credentials?|sastoken)$/i;

/** true when a field or option called `name` holds a secret (`password`, `PLANT_PASSWORD`, `http.token`) */
export function isSecretName(name: string): boolean {
  const plain = name.replace(/[-_.\s]/g, '');
  if (SECRET_NAME.test(plain)) return true;
  return /(password|passcode|passphrase|secret|token)$/i.test(plain);
}

/** `scheme://user:password@` and `password=` / `token=` query parameters */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*):([^@/\s]*)@/gi;
const QUERY_SECRET = /([?&;](?:password|passcode|passwd|pass|token|secret|access_token|api_key|apikey)=)([^&;#\s"']*)/gi;

/** Free text (a message, a URL, an error) with every URL password and secret query parameter replaced. */
export function redactText(text: string): string {
  if (!text.includes('://') && !text.includes('=')) return text;
  return text.replace(URL_USERINFO, (_m, head: string) => `${head}:${REDACTED}@`).replace(QUERY_SECRET, (_m, head: string) => `${head}${REDACTED}`);
}

/**
 * A value with its secrets replaced: fields with secret names become `***`, strings have URL
 * passwords taken out, errors become their redacted message. Bounded in depth, so a cyclic or
 * huge structure cannot hang a log line.
 */
export function redactValue(value: unknown, name?: string, depth = 0): unknown {
  if (name !== undefined && isSecretName(name) && value !== undefined && value !== null && value !== '') return REDACTED;
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return '[…]';
  if (value instanceof Error) return redactText(value.message);
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, undefined, depth + 1));
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [k, redactValue(v, typeof k === 'string' ? k : undefined, depth + 1)]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, k, depth + 1);
  return out;
}
