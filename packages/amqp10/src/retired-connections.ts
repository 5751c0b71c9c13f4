/**
 * rhea's console output for connections Ferry has let go of.
 *
 * rhea raises a connection's events on the connection and, when it has no handler for one, on
 * its container; with neither, it prints: `[connection-N] disconnected` (console.warn, from
 * lib/connection.js `_disconnected`) and the error of a frame it could not read or write
 * (console.error). Ferry handles these on every connection while it uses it, and drops its
 * handlers when it is done with one; a late event of a retired connection (its socket aborted
 * after a close, an idle timer) then falls to the container, where these handlers take it, so
 * rhea never writes to the console. Ferry's own lines for a connection come from its handlers
 * on the connection, through Ferry's logger.
 */
import type rhea from 'rhea';

export function absorbRetiredConnectionEvents(container: rhea.Container): void {
  container.on('disconnected', () => undefined);
  container.on('protocol_error', () => undefined);
}
