import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A part of the admin HTTP server with paths of its own (the dashboard). The admin server
 * applies its own settings (bind address, and whatever guards it has) first, then offers each
 * request to its handlers before its built-in endpoints.
 */
export interface AdminHandler {
  /** the paths this handler serves, for the admin server's 404 answer */
  readonly paths: readonly string[];
  /**
   * paths that show nothing of what flows through Ferry (a page's own script, style and icon,
   * the bytes shipped in the package): served without the admin port's token, because a
   * browser loads them by URLs that cannot carry it
   */
  readonly publicPaths?: readonly string[];
  /** answer the request and resolve true, or resolve false without touching `res` */
  handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean>;
  /** ends what outlives a request (event streams); called when the admin server stops */
  close(): void;
}
