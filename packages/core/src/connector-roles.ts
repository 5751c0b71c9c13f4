import type { Capabilities } from './connector.js';

/**
 * The part of a connector definition every client of a remote broker shares: it binds no port
 * of its own (nothing for the "port used twice" check) and is started after the listeners.
 * A definition spreads it: `defineConnector({ ...clientRole, type, options, ... })`.
 */
export const clientRole = {
  listenPorts: (): readonly number[] => [],
  capabilities: { listener: false } satisfies Capabilities,
} as const;
