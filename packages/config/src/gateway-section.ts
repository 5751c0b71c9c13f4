import { tlsSettings } from '@ferry/net';
import { z } from 'zod';

/**
 * Names that end up in metric labels, log fields and headers: route names, connector names
 * and the gateway id. Letters, digits, `_`, `-` and `.`, starting with a letter or digit;
 * nothing that needs quoting anywhere.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE = 'letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

const SPOOL_OVERFLOW = ['refuse', 'drop-oldest'] as const;
const DEFAULT_SPOOL_MAX_BYTES = 1024 ** 3;

const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};
const SIZE_PATTERN = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i;
const SIZE_RULE = 'a positive number of bytes, or a size like 512MiB, 1GiB, 200MB (units B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)';

/** `1073741824`, `"1GiB"`, `"512 MiB"`, `"200MB"` → bytes; undefined when not a size */
export function parseByteSize(v: number | string): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  const m = SIZE_PATTERN.exec(v);
  if (m === null) return undefined;
  const unit = SIZE_UNITS[(m[2] === '' ? 'b' : (m[2] as string)).toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

const byteSize = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const bytes = parseByteSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected ${SIZE_RULE}, found ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return bytes;
});

/** `gateway.spool`: the durable spool for messages accepted from listeners (docs/spool.md). */
const spoolSchema = z
  .strictObject({
    dir: z.string().min(1).describe('the data directory (one LevelDB store): spooled messages, and what the listeners hold for their clients (MQTT persistent sessions and retained messages, STOMP and AMQP 1.0 queues), kept across restarts; relative paths resolve against the route file\'s folder'),
    maxBytes: byteSize
      .default(DEFAULT_SPOOL_MAX_BYTES)
      .describe('bound of everything spooled, in bytes or with a unit (512MiB, 1GiB); default 1GiB'),
    overflow: z
      .enum(SPOOL_OVERFLOW)
      .default('refuse')
      .describe('when the spool is full: refuse (new messages are not acknowledged; senders retry) or drop-oldest (the oldest spooled messages of that destination are dropped and counted); default refuse'),
  })
  .describe('keep messages accepted from listeners on disk while their destination is unreachable, and deliver them in order when it returns; absent: no spool');

/** The `gateway:` section. Every field is optional. */
export const gatewaySchema = z.strictObject({
  id: z
    .string()
    .regex(NAME_PATTERN, { error: `expected a name of ${NAME_RULE}` })
    .optional()
    .describe('names this gateway in logs, metrics and provenance headers; default: the host name'),
  http: z
    .strictObject({
      port: z.int().min(0).max(65535).describe('TCP port of the admin server; 0 lets the system choose'),
      host: z.string().min(1).default('127.0.0.1').describe('address to listen on; default 127.0.0.1 (this machine only)'),
      tls: tlsSettings.optional().describe('serve the admin server over HTTPS (the same settings as a listener\'s tls; requestCert asks operators for a client certificate)'),
      token: z
        .string()
        .min(16, { error: 'expected a token of at least 16 characters (e.g. openssl rand -hex 32)' })
        .optional()
        .describe('require "Authorization: Bearer <token>" (or ?access_token=, for browsers) on everything but /healthz and /readyz, which probes keep reaching; use ${VAR} to keep it out of the file'),
    })
    .optional()
    .describe('the admin HTTP server: /healthz /readyz /metrics /api; absent: no admin server'),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info').describe('the lowest level written; default info'),
    })
    .default({ level: 'info' })
    .describe('logging'),
  spool: spoolSchema.optional(),
  reload: z
    .strictObject({
      watch: z
        .boolean()
        .default(false)
        .describe("reload when the route file's content changes, as SIGHUP does (its folder is watched, so a Kubernetes ConfigMap's symlink swap counts); the same as `ferry start --watch`; default false"),
    })
    .optional()
    .describe('how the running gateway picks up an edited route file; SIGHUP always reloads'),
  maxHops: z
    .int()
    .min(1)
    .max(255)
    .default(8)
    .describe('the most times a message may pass through Ferry (header x-ferry-hops); a route does not write a message past it: dead-lettered with onFailure.deadLetter, else dropped and counted (ferry_messages_dropped_total{reason="max_hops"}); default 8'),
  tracing: z
    .strictObject({
      start: z.boolean().default(false).describe('start a W3C trace (a new traceparent) for a message that carries no valid one; default false: traceparent and tracestate are only carried'),
      sampled: z.boolean().default(true).describe('the sampled flag of a trace Ferry starts; default true'),
    })
    .default({ start: false, sampled: true })
    .describe('W3C Trace Context: traceparent and tracestate always travel with a message in each protocol\'s headers; this says whether Ferry starts a trace when there is none'),
});
