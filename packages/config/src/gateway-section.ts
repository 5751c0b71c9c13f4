import { z } from 'zod';

/**
 * Names that end up in metric labels, log fields and headers: route names, connector names
 * and the gateway id. Letters, digits, `_`, `-` and `.`, starting with a letter or digit;
 * nothing that needs quoting anywhere.
 */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const NAME_RULE = 'letters, digits, "_", "-" and ".", starting with a letter or digit, at most 64 characters';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

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
    })
    .optional()
    .describe('the admin HTTP server: /healthz /readyz /metrics /api; absent: no admin server'),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info').describe('the lowest level written; default info'),
    })
    .default({ level: 'info' })
    .describe('logging'),
});

export type GatewayInput = z.input<typeof gatewaySchema>;
