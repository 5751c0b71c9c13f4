export { loadConfig } from './load.js';
export { parseConfig } from './parse.js';
export { jsonSchema } from './json-schema.js';
export { toConfigFerryError } from './errors.js';
export { parseByteSize } from './gateway-section.js';
export type { GatewayConfig, LoadResult } from './types.js';
export { loadRouteTests } from './route-tests.js';
