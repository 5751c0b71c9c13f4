import type { ConnectorSpec, RouteSpec } from '@ferry/core';
import type { TlsSettings } from '@ferry/net';
import type { ConfigError } from './errors.js';

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The `gateway:` section, defaults filled in. */
export interface GatewaySection {
  /** names this gateway in logs, metrics and provenance headers; defaults to the host name */
  readonly id: string;
  /** the admin HTTP server (/healthz /readyz /metrics /api); absent: no admin server */
  readonly http?: { readonly port: number; readonly host: string; readonly tls?: TlsSettings | undefined; readonly token?: string | undefined } | undefined;
  readonly log: { readonly level: LogLevel };
  /** the durable spool (docs/spool.md); absent: none. `dir` as written: relative to `baseDir` */
  readonly spool?: SpoolSection | undefined;
  /** `watch`: reload when the route file changes (as `ferry start --watch`) */
  readonly reload?: { readonly watch: boolean } | undefined;
  /** the most passages through Ferry a message may make (loop protection); default 8 */
  readonly maxHops?: number | undefined;
  /** whether Ferry starts a W3C trace for a message without one; default: it only carries them */
  readonly tracing?: { readonly start: boolean; readonly sampled: boolean } | undefined;
}

interface SpoolSection {
  readonly dir: string;
  readonly maxBytes: number;
  readonly overflow: 'refuse' | 'drop-oldest';
}

/** A route file after validation: everything the gateway needs to start. */
export interface GatewayConfig {
  /** the route file, absolute */
  readonly file: string;
  /** its folder: relative paths in connector options (TLS files, spools) resolve against it */
  readonly baseDir: string;
  readonly gateway: GatewaySection;
  /** in file order; options are the connector schema's output (defaults filled in) */
  readonly connectors: readonly ConnectorSpec[];
  /** in file order; `from.fields` / `to[].fields` are the type's schema output, without `connector` */
  readonly routes: readonly RouteSpec[];
}

export type LoadResult = { readonly ok: true; readonly config: GatewayConfig } | { readonly ok: false; readonly errors: readonly ConfigError[] };

export interface LoadOptions {
  /** the variables `${VAR}` reads; default `process.env` */
  readonly env?: NodeJS.ProcessEnv;
  /** the default of `gateway.id`; default the host name (`os.hostname()`) */
  readonly defaultId?: string;
}
